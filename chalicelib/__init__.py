"""Agency accounts and payouts backend: the code behind ``app.py``."""

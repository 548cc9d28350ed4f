"""Hourly (``payout-sweep``): pay agencies whose billing cycle date is due."""

from chalicelib.services.payouts import payout_sweep

__all__ = ["payout_sweep"]

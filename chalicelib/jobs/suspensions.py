"""Every 5 minutes (``subaccount-suspensions``): finish suspensions and restores whose
request stopped before all resource batches were done."""

from chalicelib.services.suspensions import subaccount_suspension_sweep

__all__ = ["subaccount_suspension_sweep"]

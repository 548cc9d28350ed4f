"""Every 5 minutes (``subaccount-suspensions``): finish suspensions and restores whose
request stopped before all resource batches were done."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.services.suspensions import subaccount_suspension_sweep as sweep
from chalicelib.services.sweeps import Deadline


def subaccount_suspension_sweep(as_of: datetime, deadline: Deadline | None = None
                                ) -> dict[str, Any]:
    """The use case's sweep (``chalicelib.services.suspensions``)."""
    return sweep(as_of, deadline)

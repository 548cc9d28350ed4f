"""The hourly payout sweep (``payout-sweep``): pay agencies whose billing cycle date is due."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.services.sweeps import Deadline, job_summary


def payout_sweep(as_of: datetime, deadline: Deadline | None = None) -> dict[str, Any]:
    """Pay every due agency whose available profit is at least USD 100 and whose Connect
    account has payouts enabled; others carry their profit over to the next cycle date.

    Reads only the due schedules (GSI2), so its cost is O(due agencies); a rerun finds the
    schedules already moved on and pays nobody twice. Past the ``deadline`` the rest stays
    due for the next run (``deferred``).
    """
    from chalicelib.services.payouts import run_sweep

    result = run_sweep(as_of, deadline)
    return job_summary("payout-sweep", as_of, processed=result["processed"],
                       succeeded=result["succeeded"], failed=result["failed"],
                       skipped=result["skipped"], results=result["results"],
                       unsent_transfers=result["unsent_transfers"],
                       deferred=result["deferred"])

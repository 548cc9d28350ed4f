"""Every 15 minutes: top-ups that a crossing usage debit marked due but could not start."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.services.auto_recharge import recharge_due_rules
from chalicelib.services.sweeps import Deadline, job_summary


def auto_recharge_sweep(as_of: datetime, deadline: Deadline | None = None) -> dict[str, Any]:
    """Recharge every rule due at ``as_of`` (GSI2 ``DUE#auto-recharge``, no scan) that is
    still below its threshold with nothing in flight; clear the others' marks."""
    return job_summary("auto-recharge", as_of, **recharge_due_rules(as_of, deadline))

"""Finish suspensions and restores whose request stopped before all resource batches were
done (``subaccount-suspensions``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.services.sweeps import Deadline, job_summary


def subaccount_suspension_sweep(as_of: datetime, deadline: Deadline | None = None
                                ) -> dict[str, Any]:
    """Carry on every unfinished suspension or restore due by ``as_of`` (the sparse due
    index: O(due)). Each batch is conditional, so a rerun or an overlapping run changes
    nothing twice; past the ``deadline`` the rest stays due (``deferred``)."""
    from chalicelib.services.subaccounts import finish_due_resource_work

    result = finish_due_resource_work(as_of, deadline.passed if deadline else lambda: False)
    return job_summary("subaccount-suspensions", as_of, processed=result["processed"],
                       succeeded=result["succeeded"], failed=result["failed"],
                       deferred=result["deferred"])

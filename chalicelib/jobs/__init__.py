"""Scheduled jobs. ``run_job`` is the one entry used by ``@app.schedule`` and the platform
route ``POST /v1/platform/jobs/{name}/runs`` alike, so a manual run is the real job.

Every job runs the one sweep loop (``chalicelib.services.sweeps``) over what is due, and
each run writes one JSON log line (job, as_of, counts, duration) and flushes its metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import NotFound
from chalicelib.jobs.auto_allocation import auto_allocation_sweep
from chalicelib.jobs.auto_recharge import auto_recharge_sweep
from chalicelib.jobs.call_holds import call_hold_release
from chalicelib.jobs.payouts import payout_sweep
from chalicelib.jobs.plan_renewal import plan_renewal_sweep
from chalicelib.jobs.reconciliation import reconciliation_run
from chalicelib.jobs.suspensions import subaccount_suspension_sweep
from chalicelib.observability import count, flush_metrics, logger
from chalicelib.services.ports import now
from chalicelib.services.sweeps import Deadline

Job = Callable[[datetime, Deadline | None], dict[str, Any]]

#: Job name → the sweep it runs (each takes ``as_of`` and an optional deadline).
JOBS: dict[str, Job] = {
    "auto-allocation": auto_allocation_sweep,
    "plan-renewal": plan_renewal_sweep,
    "payout-sweep": payout_sweep,
    "reconciliation": reconciliation_run,
    "call-holds": call_hold_release,
    "auto-recharge": auto_recharge_sweep,
    "subaccount-suspensions": subaccount_suspension_sweep,
}


def run_job(name: str, as_of: datetime | None = None, deadline: Deadline | None = None
            ) -> dict[str, Any]:
    """Run the named job as of ``as_of`` (now by the clock when None; 404 for an unknown
    name); a run stops taking new items once ``deadline`` passes."""
    job = JOBS.get(name)
    if job is None:
        raise NotFound(f"unknown job {name!r}", details={"jobs": sorted(JOBS)})
    moment = as_of or now()
    started = time.monotonic_ns()
    outcome = "error"
    summary: dict[str, Any] = {}
    try:
        summary = job(moment, deadline)
        outcome = "done"
        return summary
    finally:
        if outcome == "error":
            count("JobRunsFailed")
        logger.info("job run", extra={
            "job": name, "as_of": moment.isoformat(), "outcome": outcome,
            "duration_ms": (time.monotonic_ns() - started) // 1_000_000,
            **{key: summary[key] for key in ("processed", "succeeded", "failed", "skipped",
                                             "deferred") if key in summary}})
        flush_metrics()

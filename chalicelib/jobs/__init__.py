"""Scheduled sweeps. ``run_job`` is the one entry used by ``@app.schedule`` and the platform
route ``POST /v1/platform/jobs/{name}/runs`` alike, so a manual run is the real job."""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import NotFound

#: job name → "module:function"; each function takes ``as_of`` and returns a JobSummary dict.
JOBS: dict[str, str] = {
    "auto-allocation": "chalicelib.jobs.auto_allocation:auto_allocation_sweep",
    "plan-renewal": "chalicelib.jobs.plan_renewal:plan_renewal_sweep",
    "payout-sweep": "chalicelib.jobs.payouts:payout_sweep",
    "reconciliation": "chalicelib.jobs.reconciliation:reconciliation_run",
    "call-holds": "chalicelib.jobs.call_holds:call_hold_release",
}


def job_summary(job: str, as_of: datetime, *, processed: int = 0, succeeded: int = 0,
                failed: int = 0, skipped: int = 0, **extra: Any) -> dict[str, Any]:
    """The summary every job returns (SPEC)."""
    return {
        "job": job,
        "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "processed": processed,
        "succeeded": succeeded,
        "failed": failed,
        "skipped": skipped,
        **extra,
    }


def run_job(name: str, as_of: datetime) -> dict[str, Any]:
    """Run the named job as of ``as_of`` (404 for an unknown name)."""
    target = JOBS.get(name)
    if target is None:
        raise NotFound(f"unknown job {name!r}", details={"jobs": sorted(JOBS)})
    module_name, function_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise NotFound(f"job {name!r} is not available yet") from None
    return getattr(module, function_name)(as_of)

"""Scheduled sweeps. ``run_job`` is the one entry used by ``@app.schedule`` and the platform
route ``POST /v1/platform/jobs/{name}/runs`` alike, so a manual run is the real job."""

from __future__ import annotations

import importlib
import inspect
import time
from dataclasses import dataclass
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
    "auto-recharge": "chalicelib.jobs.auto_recharge:auto_recharge_sweep",
    "subaccount-suspensions": "chalicelib.jobs.suspensions:subaccount_suspension_sweep",
}


@dataclass(frozen=True)
class Deadline:
    """When a run must stop taking new work: the Lambda's time limit minus a margin.

    A sweep checks it before each due item; what it leaves stays due (every sweep is
    idempotent per item), and the next hourly run picks it up. ``at_ns`` is a
    ``time.monotonic_ns()`` value; None means no limit (tests, the platform route).
    """

    at_ns: int | None = None

    #: Kept free at the end of a run: the item in progress finishes (a Stripe call included).
    MAX_MARGIN_MS = 60_000

    @classmethod
    def from_lambda_context(cls, context: Any) -> Deadline:
        """From the Lambda context's remaining time (no context, no limit)."""
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if remaining_ms is None:
            return cls()
        remaining = max(int(remaining_ms()), 0)
        margin = min(cls.MAX_MARGIN_MS, remaining // 4)
        return cls(time.monotonic_ns() + (remaining - margin) * 1_000_000)

    def passed(self) -> bool:
        """Whether the run should stop taking new items."""
        return self.at_ns is not None and time.monotonic_ns() >= self.at_ns


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


def run_job(name: str, as_of: datetime, deadline: Deadline | None = None) -> dict[str, Any]:
    """Run the named job as of ``as_of`` (404 for an unknown name); the sweeps that take a
    ``deadline`` stop taking new items when it passes."""
    target = JOBS.get(name)
    if target is None:
        raise NotFound(f"unknown job {name!r}", details={"jobs": sorted(JOBS)})
    module_name, function_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise NotFound(f"job {name!r} is not available yet") from None
    job = getattr(module, function_name)
    if deadline is not None and "deadline" in inspect.signature(job).parameters:
        return job(as_of, deadline=deadline)
    return job(as_of)

"""The one sweep loop every scheduled job runs: page through what is due, run the use case
on each item, record its outcome, summarise.

A sweep reads only what is due (the sparse due index), never every agency, so its cost
follows the work. Each use case claims its own item with a conditional write, so a rerun,
or two runs that overlap, never charge, credit or pay twice. Past the ``Deadline`` (the
Lambda's time limit minus a margin) the loop stops taking items: what is left stays due and
the next run carries on (``deferred``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from chalicelib.domain.errors import DomainError
from chalicelib.observability import logger

Item = TypeVar("Item")

#: What a use case answers for one item; anything else is counted as its own ``results`` key.
SUCCEEDED, FAILED, SKIPPED = "succeeded", "failed", "skipped"


@dataclass(frozen=True)
class Deadline:
    """When a run must stop taking new items: the Lambda's time limit minus a margin.

    ``at_ns`` is a ``time.monotonic_ns()`` value; None means no limit (tests, the platform
    route).
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
    """The summary every job returns (SPEC: ``{job, as_of, processed, succeeded, failed,
    skipped}``, plus what a job adds)."""
    return {
        "job": job,
        "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "processed": processed,
        "succeeded": succeeded,
        "failed": failed,
        "skipped": skipped,
        **extra,
    }


def run_sweep(job: str, as_of: datetime, due: Iterable[Item],
              process: Callable[[Item, datetime], str], *,
              deadline: Deadline | None = None,
              classify: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Run ``process(item, as_of)`` on every due item until the ``deadline``.

    ``process`` answers an outcome (``succeeded``, ``failed``, ``skipped`` or a finer word
    that ``classify`` maps to one of them; every word is also counted under ``results``). A
    domain error on one item is logged and counted as failed: one agency's trouble never
    stops everyone else's sweep. Any other exception is a bug and stops the run loudly.
    """
    counts: Counter[str] = Counter()
    results: Counter[str] = Counter()
    deferred = 0
    items = list(due)
    for index, item in enumerate(items):
        if deadline is not None and deadline.passed():
            deferred = len(items) - index
            break
        try:
            outcome = process(item, as_of)
        except DomainError as exc:
            logger.warning("sweep item failed", extra={"job": job, "error": exc.code})
            outcome = FAILED
        results[outcome] += 1
        counts[(classify or _same)(outcome)] += 1
    return job_summary(job, as_of, processed=sum(counts.values()),
                       succeeded=counts[SUCCEEDED], failed=counts[FAILED],
                       skipped=counts[SKIPPED], results=dict(results), deferred=deferred)


def _same(outcome: str) -> str:
    return outcome if outcome in (SUCCEEDED, FAILED, SKIPPED) else SKIPPED

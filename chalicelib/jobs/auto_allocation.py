"""Hourly sweep: monthly auto-allocations due (and retries of declined ones)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import DomainError
from chalicelib.services.auto_allocation import due_rules, process_rule
from chalicelib.services.sweeps import Deadline, job_summary

log = logging.getLogger(__name__)


def auto_allocation_sweep(as_of: datetime, deadline: Deadline | None = None) -> dict[str, Any]:
    """Charge every rule due at ``as_of`` (GSI2 ``DUE#auto-allocation``, no scan).

    Idempotent per rule and period: a rerun finds the rule moved on (or the period's purchase
    already made) and charges nothing. Past the ``deadline`` the rest stays due for the next
    run (``deferred``).
    """
    counts = {"processed": 0, "succeeded": 0, "failed": 0, "skipped": 0}
    due = due_rules(as_of)
    deferred = 0
    for index, rule in enumerate(due):
        if deadline is not None and deadline.passed():
            deferred = len(due) - index
            break
        counts["processed"] += 1
        try:
            outcome = process_rule(rule, as_of)  # the rule as the index holds it: no re-read
        except DomainError:
            log.exception("auto-allocation of %s failed", rule.subaccount_id)
            outcome = "failed"
        counts[outcome] += 1
    return job_summary("auto-allocation", as_of, **counts, deferred=deferred)

"""Suspend and restore a sub-account, and the resource batches that follow the flip.

Suspend and restore flip the status alone (with audit and notification) in one transaction:
from that moment the refusals (423 for the sub-account's users, calls refused) hold,
whatever happens next. Then the running resources are paused, or what the suspension paused
re-activated, in batches of 99 guarded by the sub-account's current suspension, each paused
resource carrying the suspension's mark. The request does the batches within its budget; a
due mark on the sub-account lets the ``subaccount-suspensions`` job finish what an
interrupted request left. Every batch is conditional, so doing one twice changes nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.errors import Conflict, DomainError
from chalicelib.domain.resources import BY_TYPE
from chalicelib.domain.roles import Action, Principal
from chalicelib.observability import logger
from chalicelib.services.access import get_subaccount, load_subaccount
from chalicelib.services.agencies import new_id
from chalicelib.services.audit import audit_op
from chalicelib.services.notifications import notification_op
from chalicelib.services.ports import now
from chalicelib.services.subaccounts import primary_protected
from chalicelib.services.sweeps import SKIPPED, SUCCEEDED, Deadline, run_sweep
from chalicelib.store import resources, subaccounts
from chalicelib.store.resources import ResourceMoved
from chalicelib.store.subaccounts import PAUSE, Subaccount, SubaccountChanged, WorkReplaced
from chalicelib.store.transact import Op, commit

MAX_ATTEMPTS = 3
#: How long a suspend or restore request keeps pausing / re-activating before it answers and
#: leaves the rest to the job (API Gateway gives a request 29 s).
REQUEST_WORK_BUDGET_NS = 20 * 10**9
#: When the job takes over unfinished batches: late enough not to race the request itself.
RESOURCE_WORK_GRACE = timedelta(minutes=2)
#: Resources per transaction: 99 updates and the guard on the sub-account (≤ 100 items).
RESOURCE_BATCH = 100 - 1


def _banner(sub: Subaccount) -> dict[str, Any]:
    return {"status": sub.status, "note": sub.suspension_note,
            "since": sub.suspended_at.strftime("%Y-%m-%dT%H:%M:%SZ") if sub.suspended_at
            else None}


def suspend_subaccount(principal: Principal, subaccount_id: str,
                       note: str | None) -> Subaccount:
    """Suspend a secondary sub-account, pausing exactly its running resources.

    One transaction flips the status (note, time, actor, a new suspension id), audits and
    notifies: from then on its users' writes answer 423 and calls are refused, whatever
    happens next. Then the running resources are paused and marked (active campaigns →
    paused, active agents → inactive, enabled automations → disabled) in batches; what the
    request cannot finish, the ``subaccount-suspensions`` job does. Already suspended → 409
    ``already_suspended``; the primary → 409 ``primary_subaccount``.
    """
    note = (note or "").strip() or None
    for _ in range(MAX_ATTEMPTS):
        sub = load_subaccount(principal, subaccount_id, Action.MANAGE_SUBACCOUNT)
        if sub.is_primary:
            raise primary_protected()
        if sub.status == "suspended":
            raise Conflict("this sub-account is already suspended", code="already_suspended")
        at = now()
        flip, suspended = subaccounts.suspend_op(
            sub, suspension_id=new_id("susp"), at=at, by=principal.user_id, note=note,
            due_at=at + RESOURCE_WORK_GRACE)
        try:
            commit([
                flip,
                audit_op(sub.agency_id, principal.user_id, "subaccount.suspended",
                         subaccount_id=sub.subaccount_id, target=sub.subaccount_id,
                         before={"status": "active"},
                         after={"status": "suspended", "note": note}, at=at),
                notification_op(sub.agency_id, "subaccount_suspended",
                                f"Sub-account {sub.name} was suspended",
                                subaccount_id=sub.subaccount_id, data={"note": note}, at=at),
            ])
        except SubaccountChanged:
            continue
        # What the flip wrote, so the batches need not read the sub-account again.
        _work_within_request(suspended)
        return get_subaccount(sub.agency_id, sub.subaccount_id)
    raise Conflict("the sub-account kept changing; try again", code="concurrent_update")


def restore_subaccount(principal: Principal, subaccount_id: str) -> Subaccount:
    """Lift a suspension and re-activate exactly what it paused.

    One transaction flips the status back (and audits, notifies); then the resources marked
    by a suspension and still in their paused status are re-activated in batches, finished
    by the ``subaccount-suspensions`` job if the request cannot. Resources deleted meanwhile
    are gone, those people switched back on or paused by hand carry no mark and stay as they
    are. A suspension's unfinished batches stop at the flip. Not suspended → 409
    ``not_suspended``.
    """
    for _ in range(MAX_ATTEMPTS):
        sub = load_subaccount(principal, subaccount_id, Action.MANAGE_SUBACCOUNT)
        if sub.status != "suspended":
            raise Conflict("this sub-account is not suspended", code="not_suspended")
        at = now()
        flip, restored = subaccounts.restore_op(sub, due_at=at + RESOURCE_WORK_GRACE)
        try:
            commit([
                flip,
                audit_op(sub.agency_id, principal.user_id, "subaccount.restored",
                         subaccount_id=sub.subaccount_id, target=sub.subaccount_id,
                         before=_banner(sub), after={"status": "active"}, at=at),
                notification_op(sub.agency_id, "subaccount_restored",
                                f"Sub-account {sub.name} was restored",
                                subaccount_id=sub.subaccount_id, at=at),
            ])
        except SubaccountChanged:
            continue
        _work_within_request(restored)
        return get_subaccount(sub.agency_id, sub.subaccount_id)
    raise Conflict("the sub-account kept changing; try again", code="concurrent_update")


# ------------------------------------------------- suspension batches (request, then the job)


def _work_within_request(sub: Subaccount) -> None:
    """Do the batches the flip just recorded, within the request's budget. The flip already
    answered for the refusals, so trouble here is the job's to finish, not the caller's."""
    stop_at = time.monotonic_ns() + REQUEST_WORK_BUDGET_NS
    try:
        advance_resource_work(sub, lambda: time.monotonic_ns() >= stop_at)
    except DomainError:
        logger.warning("suspension batches left to the job",
                       extra={"subaccount_id": sub.subaccount_id}, exc_info=True)


def _pause_ops(sub: Subaccount) -> list[Op]:
    """Pause and mark what ran at the flip (and nothing people switched on since)."""
    flipped_at = sub.suspended_at
    assert flipped_at is not None and sub.suspension_id is not None
    ops: list[Op] = []
    running = {kind.running for kind in BY_TYPE.values() if kind.running}
    for item in resources.resources_in_status(sub.agency_id, sub.subaccount_id, running):
        kind = BY_TYPE.get(item.type)
        if (kind is None or kind.stopped is None or item.status != kind.running
                or item.created_at > flipped_at
                or (item.updated_at is not None and item.updated_at > flipped_at)):
            continue
        ops.append(resources.pause_op(item, kind.stopped, sub.suspension_id, flipped_at))
    return ops


def _reactivate_ops(sub: Subaccount) -> list[Op]:
    """Re-activate what a suspension marked and is still paused (and, for a suspension
    recorded before marks existed, what its list names and is still paused)."""
    legacy = {(kind, rid) for kind, rid in (sub.paused_resources or [])}
    items = (resources.all_resources(sub.agency_id, sub.subaccount_id) if legacy
             else resources.marked_resources(sub.agency_id, sub.subaccount_id))
    ops: list[Op] = []
    for item in items:
        kind = BY_TYPE.get(item.type)
        if kind is None or kind.running is None or item.status != kind.stopped:
            continue
        if item.suspension_mark or (item.type, item.resource_id) in legacy:
            ops.append(resources.reactivate_op(item, kind.running))
    return ops


def _commit_batch(guard: Op, batch: list[Op]) -> bool:
    """One batch in one transaction with the guard; a resource that changed meanwhile is
    left out and the rest retried. False when the work itself was replaced."""
    pending = list(batch)
    while pending:
        try:
            commit([guard, *pending])
            return True
        except WorkReplaced:
            return False
        except ResourceMoved as moved:
            left = [op for op in pending if op.on_condition_failed is not moved]
            if len(left) == len(pending):  # not one of ours: never loop on it
                raise
            pending = left
    return True


def advance_resource_work(sub: Subaccount, should_stop: Callable[[], bool]) -> bool:
    """Carry the sub-account's pending suspension or restore batches on from where they are
    (every batch is conditional, so doing one twice changes nothing). True when nothing is
    left; False when ``should_stop`` said so first (the due mark stays for the job)."""
    if sub.resource_work is None:
        return True
    expected = "suspended" if sub.resource_work == PAUSE else "active"
    if sub.status != expected:  # removed meanwhile, or a record from before this model
        with contextlib.suppress(DomainError):
            commit([subaccounts.drop_work_op(sub)])
        return True
    ops = _pause_ops(sub) if sub.resource_work == PAUSE else _reactivate_ops(sub)
    guard = subaccounts.work_guard(sub)
    for start in range(0, len(ops), RESOURCE_BATCH):
        if should_stop():
            return False
        if not _commit_batch(guard, ops[start:start + RESOURCE_BATCH]):
            return True  # a later suspension or restore owns the resources now
    with contextlib.suppress(WorkReplaced):
        commit([subaccounts.work_done_op(sub)])
    return True


def subaccount_suspension_sweep(as_of: datetime, deadline: Deadline | None = None
                                ) -> dict[str, Any]:
    """The ``subaccount-suspensions`` job: carry on every unfinished suspension or restore
    due by ``as_of`` (the sparse due index: O(due)). Each batch is conditional, so a rerun or
    an overlapping run changes nothing twice; past the ``deadline`` the rest stays due
    (``deferred``; a sub-account left half-way counts under ``results.deferred``)."""
    should_stop: Callable[[], bool] = deadline.passed if deadline else (lambda: False)

    def finish(due: Subaccount, _as_of: datetime) -> str:
        sub = subaccounts.find(due.agency_id, due.subaccount_id)  # the index lags
        if sub is None:
            return SKIPPED
        return SUCCEEDED if advance_resource_work(sub, should_stop) else "deferred"

    return run_sweep(subaccounts.SUSPENSIONS_JOB, as_of, subaccounts.with_work_due(as_of),
                     finish, deadline=deadline)

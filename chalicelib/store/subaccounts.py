"""Sub-accounts: the repository of the ``Subaccount`` aggregate.

A sub-account is an item of its agency's partition (``AGENCY#<aid>`` / ``SUB#<sid>``, the
model is in ``chalicelib.store.accounts``), with a pointer from its id alone
(``SUBID#<sid>``) and the agency's slot counter (``SLOTS``), which holds the plan cap. This
module owns their access patterns: the reads, and every write as an ``Op`` whose key,
condition, update expression and refusal (a domain error) are decided here.

- Every resource write bumps ``resource_generation``; suspend, restore and removal require
  it unchanged, so they act on exactly the resources they read.
- A suspension or restore records the resource batches still to do (``resource_work``) and
  a due mark in the sharded due index (``DUE#subaccount-suspensions``), so that the job
  finishes what an interrupted request left.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib.domain.errors import Conflict, NotFound, SubaccountSuspended
from chalicelib.store import keys
from chalicelib.store.accounts import (
    Agency,
    SlotCounter,
    Subaccount,
    SubaccountPointer,
    subaccounts_of,
)
from chalicelib.store.base import due_items_of, sortable_time
from chalicelib.store.pagination import decode_cursor, encode_cursor
from chalicelib.store.transact import Op, check, save, update

__all__ = [
    "LIVE_STATUSES", "PAUSE", "REACTIVATE", "SUSPENSIONS_JOB", "Subaccount",
    "SubaccountChanged", "WorkReplaced", "create_ops", "destination_check", "drop_work_op",
    "find", "free_slot_op", "live_of", "new", "page_of", "remove_op", "resource_write_op",
    "restore_op", "suspend_op", "update_op", "with_work_due", "work_done_op", "work_guard",
]

#: Statuses of a sub-account that still exists for its agency.
LIVE_STATUSES = ("active", "suspended")
#: The due-index job of sub-accounts whose suspension or restore has resource batches to do.
SUSPENSIONS_JOB = "subaccount-suspensions"
#: ``Subaccount.resource_work`` values.
PAUSE, REACTIVATE = "pause", "restore"


class SubaccountChanged(Conflict):
    """What an operation read of a sub-account (or of what it steers) changed before the
    operation committed: read again and retry (409 ``concurrent_update`` when it gives up)."""

    code = "concurrent_update"

    def __init__(self, message: str = "the sub-account changed meanwhile; try again") -> None:
        super().__init__(message)


class WorkReplaced(Conflict):
    """A later restore or suspension (or a removal) replaced the resource work of a batch."""

    code = "concurrent_update"

    def __init__(self) -> None:
        super().__init__("a later suspension or restore took over")


def _key(agency_id: str, subaccount_id: str) -> Subaccount:
    """An unsaved sub-account carrying only its key (for updates and checks)."""
    return Subaccount(keys.agency_pk(agency_id), keys.subaccount_sk(subaccount_id))


def _as_written(sub: Subaccount, **changes: Any) -> Subaccount:
    """A copy of ``sub`` with ``changes``: what a write made of it, without reading it again."""
    copy = Subaccount.from_raw_data(sub.serialize(null_check=False))
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy


# --------------------------------------------------------------------------- reads


def find(agency_id: str, subaccount_id: str) -> Subaccount | None:
    """A sub-account in any status (removed included), or None: one consistent GetItem."""
    try:
        return Subaccount.get(keys.agency_pk(agency_id), keys.subaccount_sk(subaccount_id),
                              consistent_read=True)
    except Subaccount.DoesNotExist:
        return None


def page_of(agency_id: str, *, limit: int, cursor: str | None
            ) -> tuple[list[Subaccount], str | None]:
    """One page of the agency's sub-accounts that are not removed, and the cursor of the
    next page (None when this page came back shorter than ``limit``): one strongly
    consistent Query of the agency partition. The cursor is signed for that partition."""
    pk = keys.agency_pk(agency_id)
    query = Subaccount.query(
        pk,
        Subaccount.SK.startswith(keys.SUBACCOUNT_PREFIX),
        filter_condition=Subaccount.status != "removed",
        limit=limit,
        last_evaluated_key=decode_cursor(cursor, pk),
        consistent_read=True,
    )
    page = list(query)
    return page, encode_cursor(query.last_evaluated_key) if len(page) >= limit else None


def live_of(agency_id: str) -> list[Subaccount]:
    """Every live (active or suspended) sub-account of the agency: one strongly consistent
    Query (paged) of the agency partition."""
    return [sub for sub in subaccounts_of(agency_id) if sub.status in LIVE_STATUSES]


def with_work_due(as_of: datetime) -> Iterator[Subaccount]:
    """Sub-accounts whose suspension or restore batches are unfinished and due by ``as_of``:
    the sparse due index, every shard (O(due), never a scan). Eventually consistent: read
    each again before acting on it."""
    upper = f"{sortable_time(as_of)}#\uffff"
    yield from due_items_of(SUSPENSIONS_JOB, Subaccount, upper_sk=upper)


# --------------------------------------------------------------------------- create, edit


def new(*, agency_id: str, subaccount_id: str, name: str, login_email: str, price_basic: int,
        price_premium: int, subscription_start: date, at: datetime) -> Subaccount:
    """A new secondary sub-account, active, at its first price version (not saved)."""
    return Subaccount(
        keys.agency_pk(agency_id), keys.subaccount_sk(subaccount_id),
        agency_id=agency_id, subaccount_id=subaccount_id, name=name, login_email=login_email,
        is_primary=False, price_basic=price_basic, price_premium=price_premium,
        price_version=1, subscription_start=subscription_start.isoformat(),
        status="active", resource_generation=0, created_at=at,
    )


def create_ops(sub: Subaccount, *, plan: str, cap: int | None) -> list[Op]:
    """Save ``sub`` and its pointer, and take a slot of the agency's plan.

    The slot counter goes up under ``used < cap`` (409 ``plan_limit_reached``), so two
    creates at cap − 1 cannot both win. The cap was read from ``plan``: the agency must
    still be active on that plan (a downgrade committed meanwhile checks the counter against
    its own, smaller cap), else 409 ``concurrent_update``, which a retry reads afresh.
    """
    agency_id, sid = sub.agency_id, sub.subaccount_id
    slot_condition = None
    if cap is not None:
        slot_condition = SlotCounter.used.does_not_exist() | (SlotCounter.used < cap)
    return [
        check(Agency(keys.agency_pk(agency_id), keys.AGENCY_SK),
              (Agency.plan == plan) & (Agency.status == "active"),
              Conflict("the agency's plan changed meanwhile; try again",
                       code="concurrent_update")),
        save(sub, condition=Subaccount.PK.does_not_exist()),
        save(SubaccountPointer(keys.subaccount_pointer_pk(sid), "SUBID", agency_id=agency_id),
             condition=SubaccountPointer.PK.does_not_exist()),
        update(SlotCounter(keys.agency_pk(agency_id), keys.SLOTS_SK),
               actions=[SlotCounter.used.add(1), SlotCounter.kind.set(SlotCounter)],
               condition=slot_condition,
               error=Conflict(f"the {plan} plan allows {cap} sub-accounts",
                              code="plan_limit_reached", details={"plan": plan, "cap": cap})),
    ]


def update_op(sub: Subaccount, *, name: str | None = None,
              subscription_start: date | None = None, login_email: str | None = None,
              prices: tuple[int, int] | None = None) -> Op:
    """Set what is given (prices as ``(basic, premium)`` bump the price version), on
    condition that the sub-account is live with the price version and login email read:
    that keeps an audit's "before" true (a concurrent edit makes it ``SubaccountChanged``)."""
    actions: list[Any] = []
    if name is not None:
        actions.append(Subaccount.name.set(name))
    if subscription_start is not None:
        actions.append(Subaccount.subscription_start.set(subscription_start.isoformat()))
    if login_email is not None:
        actions.append(Subaccount.login_email.set(login_email))
    if prices is not None:
        actions += [Subaccount.price_basic.set(prices[0]),
                    Subaccount.price_premium.set(prices[1]),
                    Subaccount.price_version.add(1)]
    same_email = (Subaccount.login_email == sub.login_email if sub.login_email
                  else Subaccount.login_email.does_not_exist())
    return update(_key(sub.agency_id, sub.subaccount_id), actions=actions,
                  condition=Subaccount.status.is_in(*LIVE_STATUSES)
                  & (Subaccount.price_version == sub.price_version) & same_email,
                  error=SubaccountChanged())


def resource_write_op(sub: Subaccount, *, refused_while_suspended: bool) -> Op:
    """The sub-account's side of every resource write: bump ``resource_generation``.

    When the writer is refused while the sub-account is suspended (its own users), the
    sub-account must be active (423 otherwise, even if the suspension lands a moment after
    the writer read it); agency staff need it live (404 once removed).
    """
    condition: Condition
    if refused_while_suspended:
        condition = Subaccount.status == "active"
        error: Conflict | NotFound | SubaccountSuspended = SubaccountSuspended(
            "this sub-account is suspended")
    else:
        condition = Subaccount.status.is_in(*LIVE_STATUSES)
        error = NotFound("subaccount not found")
    return update(_key(sub.agency_id, sub.subaccount_id),
                  actions=[Subaccount.resource_generation.add(1)],
                  condition=condition, error=error)


def _generation_unchanged(sub: Subaccount) -> Condition:
    """No resource of ``sub`` was written since ``sub`` was read."""
    generation = sub.resource_generation or 0
    same: Condition = Subaccount.resource_generation == generation
    if generation == 0:  # a sub-account from before the counter has none yet
        same = Subaccount.resource_generation.does_not_exist() | same
    return same


# --------------------------------------------------------------------------- suspend, restore


def _due_actions(sub: Subaccount, due_at: datetime) -> list[Any]:
    return [Subaccount.DUEPK.set(keys.due_pk(SUSPENSIONS_JOB, sub.agency_id)),
            Subaccount.DUESK.set(keys.due_sk(sortable_time(due_at),
                                             f"{sub.agency_id}#{sub.subaccount_id}"))]


def _same_suspension(sub: Subaccount) -> Condition:
    if sub.suspension_id:
        return Subaccount.suspension_id == sub.suspension_id
    return Subaccount.suspension_id.does_not_exist()


def suspend_op(sub: Subaccount, *, suspension_id: str, at: datetime, by: str,
               note: str | None, due_at: datetime) -> tuple[Op, Subaccount]:
    """Flip an active sub-account to suspended: ONE write, so refusals start at once. It also
    records the pausing still to do, due for the job at ``due_at`` (if the request dies).

    Returns the op and the sub-account as the op writes it. Not active any more →
    ``SubaccountChanged``.
    """
    op = update(_key(sub.agency_id, sub.subaccount_id), actions=[
        Subaccount.status.set("suspended"),
        Subaccount.suspended_at.set(at),
        Subaccount.suspended_by.set(by),
        Subaccount.suspension_note.set(note) if note else Subaccount.suspension_note.remove(),
        Subaccount.suspension_id.set(suspension_id),
        Subaccount.resource_work.set(PAUSE),
        *_due_actions(sub, due_at),
    ], condition=Subaccount.status == "active", error=SubaccountChanged())
    return op, _as_written(sub, status="suspended", suspended_at=at, suspended_by=by,
                           suspension_note=note, suspension_id=suspension_id,
                           resource_work=PAUSE)


def restore_op(sub: Subaccount, *, due_at: datetime) -> tuple[Op, Subaccount]:
    """Flip a suspended sub-account back to active (the suspension read, not a later one),
    recording the re-activation still to do, due for the job at ``due_at``.

    Returns the op and the sub-account as far as the batches need it (status and work).
    Another suspension meanwhile, or not suspended any more → ``SubaccountChanged``.
    """
    op = update(_key(sub.agency_id, sub.subaccount_id), actions=[
        Subaccount.status.set("active"),
        Subaccount.suspension_note.remove(),
        Subaccount.suspended_at.remove(),
        Subaccount.suspended_by.remove(),
        Subaccount.resource_work.set(REACTIVATE),
        *_due_actions(sub, due_at),
    ], condition=(Subaccount.status == "suspended") & _same_suspension(sub),
        error=SubaccountChanged())
    return op, _as_written(sub, status="active", resource_work=REACTIVATE)


def _work_unchanged(sub: Subaccount) -> Condition:
    same: Condition = ((Subaccount.status == sub.status) & _same_suspension(sub)
                       & (Subaccount.resource_work == sub.resource_work))
    return same


def work_guard(sub: Subaccount) -> Op:
    """Condition of every resource batch: the suspension or restore it belongs to is still
    the sub-account's current one (a later restore or suspension: ``WorkReplaced``)."""
    return check(_key(sub.agency_id, sub.subaccount_id), _work_unchanged(sub), WorkReplaced())


def work_done_op(sub: Subaccount) -> Op:
    """Every batch is done: clear the pending work and its due mark (and a legacy list)."""
    return update(_key(sub.agency_id, sub.subaccount_id), actions=[
        Subaccount.resource_work.remove(), Subaccount.paused_resources.remove(),
        Subaccount.DUEPK.remove(), Subaccount.DUESK.remove(),
    ], condition=_work_unchanged(sub), error=WorkReplaced())


def drop_work_op(sub: Subaccount) -> Op:
    """Clear a due mark that no longer means anything (the sub-account was removed, or its
    status and work disagree); ``WorkReplaced`` when the sub-account moved on meanwhile."""
    return update(_key(sub.agency_id, sub.subaccount_id), actions=[
        Subaccount.resource_work.remove(), Subaccount.DUEPK.remove(), Subaccount.DUESK.remove(),
    ], condition=(Subaccount.status == sub.status) & _same_suspension(sub),
        error=WorkReplaced())


# --------------------------------------------------------------------------- removal


def remove_op(sub: Subaccount, *, at: datetime) -> Op:
    """Mark ``sub`` removed, on condition that it is live with the prices and the resources
    read, and no charge is in flight for it (``SubaccountChanged`` otherwise)."""
    return update(_key(sub.agency_id, sub.subaccount_id),
                  actions=[Subaccount.status.set("removed"), Subaccount.removed_at.set(at)],
                  condition=Subaccount.status.is_in(*LIVE_STATUSES)
                  & (Subaccount.price_version == sub.price_version)
                  & Subaccount.pending_purchase_ids.does_not_exist()
                  & _generation_unchanged(sub),
                  error=SubaccountChanged())


def destination_check(sub: Subaccount) -> Op:
    """Guard the sub-account that receives a removal's minutes: still live, at the prices
    read (the move rule used them), else ``SubaccountChanged``."""
    return check(_key(sub.agency_id, sub.subaccount_id),
                 Subaccount.status.is_in(*LIVE_STATUSES)
                 & (Subaccount.price_version == sub.price_version),
                 SubaccountChanged())


def free_slot_op(agency_id: str) -> Op:
    """Give a plan slot back (never below zero: 409 ``slot_counter_inconsistent``)."""
    return update(SlotCounter(keys.agency_pk(agency_id), keys.SLOTS_SK),
                  actions=[SlotCounter.used.add(-1)], condition=SlotCounter.used >= 1,
                  error=Conflict("the plan slot counter is inconsistent",
                                 code="slot_counter_inconsistent"))

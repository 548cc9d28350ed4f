"""Agencies, sub-accounts and users: the tenancy skeleton every route loads first."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.expressions.condition import Condition

from chalicelib.domain.errors import DomainError
from chalicelib.store import keys
from chalicelib.store.base import (
    IntegerAttribute,
    TableItem,
    UTCDateTimeText,
    due_items_of,
    read_items,
    sortable_time,
    string_list,
)
from chalicelib.store.transact import Op, check, update

#: GSI2 partition of sub-accounts whose suspension or restore still has resource batches to do.
SUSPENSIONS_JOB = "subaccount-suspensions"
#: ``Subaccount.resource_work`` values.
PAUSE, REACTIVATE = "pause", "restore"


class Agency(TableItem, discriminator="Agency"):
    """PK: ``AGENCY#<aid>`` / SK: ``AGENCY``. The tenant."""

    agency_id = UnicodeAttribute()
    name = UnicodeAttribute()
    plan = UnicodeAttribute()
    subscription_start = UnicodeAttribute()  # ISO date: the billing anchor
    owner_user_id = UnicodeAttribute()
    primary_subaccount_id = UnicodeAttribute()
    status = UnicodeAttribute(default="active")  # active | closed
    timezone = UnicodeAttribute(default="UTC")
    low_balance_threshold_seconds = IntegerAttribute(null=True)
    created_at = UTCDateTimeText()
    closed_at = UTCDateTimeText(null=True)

    @classmethod
    def key(cls, agency_id: str) -> tuple[str, str]:
        """Primary key of an agency."""
        return keys.agency_pk(agency_id), keys.AGENCY_SK


class SlotCounter(TableItem, discriminator="SlotCounter"):
    """PK: ``AGENCY#<aid>`` / SK: ``SLOTS``. Secondary sub-accounts that exist (plan cap).

    Creating a sub-account increments it under ``used < cap`` in the same transaction, so
    two concurrent creates at cap-1 cannot both win.
    """

    used = IntegerAttribute(default=0)


class Subaccount(TableItem, discriminator="Subaccount"):
    """PK: ``AGENCY#<aid>`` / SK: ``SUB#<sid>``. A client (or the agency's primary).

    GSI2 ``DUE#subaccount-suspensions`` / ``<due iso>#<aid>#<sid>`` while the resource
    batches of a suspension or restore are unfinished (``resource_work``).
    """

    agency_id = UnicodeAttribute()
    subaccount_id = UnicodeAttribute()
    name = UnicodeAttribute()
    login_email = UnicodeAttribute(null=True)
    is_primary = BooleanAttribute(default=False)
    price_basic = IntegerAttribute()  # micro-USD per minute
    price_premium = IntegerAttribute()
    price_version = IntegerAttribute(default=1)
    subscription_start = UnicodeAttribute()  # ISO date
    status = UnicodeAttribute(default="active")  # active | suspended | removed
    suspension_note = UnicodeAttribute(null=True)
    suspended_at = UTCDateTimeText(null=True)
    suspended_by = UnicodeAttribute(null=True)
    # Legacy: [[type, rid], ...] paused by a suspension recorded before resources carried
    # their own mark; only read by restore, never written any more.
    paused_resources = JSONAttribute(null=True)
    suspension_id = UnicodeAttribute(null=True)  # the current (or last) suspension
    # "pause" / "restore" while that suspension's or restore's resource batches are unfinished
    resource_work = UnicodeAttribute(null=True)
    # Bumped by every resource write (create, status change, delete) in the same transaction,
    # so suspend / restore / removal can require that the resources they read did not change.
    resource_generation = IntegerAttribute(null=True)
    # Purchases recorded but not yet settled (set ADD on record, DELETE on settle: both
    # idempotent). Removal requires it absent, so a charge never lands on a removed wallet.
    pending_purchase_ids = UnicodeSetAttribute(null=True)
    created_at = UTCDateTimeText()
    removed_at = UTCDateTimeText(null=True)

    def price(self, tier: str) -> int:
        """Per-minute price of a tier, micro-USD."""
        return self.price_basic if tier == "basic" else self.price_premium


class SubaccountPointer(TableItem, discriminator="SubaccountPointer"):
    """PK: ``SUBID#<sid>`` / SK: ``SUBID``. Which agency owns a sub-account id."""

    agency_id = UnicodeAttribute()


class User(TableItem, discriminator="User"):
    """PK: ``AGENCY#<aid>`` / SK: ``USER#<uid>``. A person who signs in."""

    agency_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    role = UnicodeAttribute()
    access_all = BooleanAttribute(default=True)
    subaccount_ids = string_list(default=list)
    password_hash = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="active")  # active | removed
    token_generation = IntegerAttribute(default=0)  # bump to revoke issued tokens
    created_at = UTCDateTimeText()


class EmailClaim(TableItem, discriminator="EmailClaim"):
    """PK: ``EMAIL#<lower email>`` / SK: ``EMAIL``. One email, one owner, system-wide.

    ``owner_type`` is ``user``, ``invitation`` or ``subaccount_login``.
    """

    agency_id = UnicodeAttribute()
    owner_type = UnicodeAttribute()
    owner_id = UnicodeAttribute()


def subaccounts_of(agency_id: str) -> list[Subaccount]:
    """Every sub-account the agency ever had, removed ones included: one Query (paged) of
    the agency partition, strongly consistent."""
    return list(Subaccount.query(keys.agency_pk(agency_id),
                                 Subaccount.SK.startswith(keys.SUBACCOUNT_PREFIX),
                                 consistent_read=True))


def find_subaccount(agency_id: str, subaccount_id: str) -> Subaccount | None:
    """A sub-account in any status (removed included), or None: one consistent GetItem."""
    try:
        return Subaccount.get(keys.agency_pk(agency_id), keys.subaccount_sk(subaccount_id),
                              consistent_read=True)
    except Subaccount.DoesNotExist:
        return None


def _key(sub: Subaccount) -> Subaccount:
    return Subaccount(keys.agency_pk(sub.agency_id), keys.subaccount_sk(sub.subaccount_id))


def _due_actions(sub: Subaccount, due_at: datetime) -> list[Any]:
    return [Subaccount.DUEPK.set(keys.due_pk(SUSPENSIONS_JOB, sub.agency_id)),
            Subaccount.DUESK.set(keys.due_sk(sortable_time(due_at),
                                             f"{sub.agency_id}#{sub.subaccount_id}"))]


def _same_suspension(sub: Subaccount) -> Condition:
    if sub.suspension_id:
        return Subaccount.suspension_id == sub.suspension_id
    return Subaccount.suspension_id.does_not_exist()


def suspend_op(sub: Subaccount, *, suspension_id: str, at: datetime, by: str,
               note: str | None, due_at: datetime, error: DomainError) -> Op:
    """Flip an active sub-account to suspended: ONE write, so refusals start at once. It also
    records the pausing still to do, due for the job at ``due_at`` (if the request dies)."""
    return update(_key(sub), actions=[
        Subaccount.status.set("suspended"),
        Subaccount.suspended_at.set(at),
        Subaccount.suspended_by.set(by),
        Subaccount.suspension_note.set(note) if note else Subaccount.suspension_note.remove(),
        Subaccount.suspension_id.set(suspension_id),
        Subaccount.resource_work.set(PAUSE),
        *_due_actions(sub, due_at),
    ], condition=Subaccount.status == "active", error=error)


def restore_op(sub: Subaccount, *, due_at: datetime, error: DomainError) -> Op:
    """Flip a suspended sub-account back to active (the suspension read, not a later one),
    recording the re-activation still to do, due for the job at ``due_at``."""
    return update(_key(sub), actions=[
        Subaccount.status.set("active"),
        Subaccount.suspension_note.remove(),
        Subaccount.suspended_at.remove(),
        Subaccount.suspended_by.remove(),
        Subaccount.resource_work.set(REACTIVATE),
        *_due_actions(sub, due_at),
    ], condition=(Subaccount.status == "suspended") & _same_suspension(sub), error=error)


def _work_unchanged(sub: Subaccount) -> Condition:
    return ((Subaccount.status == sub.status) & _same_suspension(sub)
            & (Subaccount.resource_work == sub.resource_work))


def resource_work_guard(sub: Subaccount, error: DomainError) -> Op:
    """Condition of every resource batch: the suspension or restore it belongs to is still
    the sub-account's current one (a later restore or suspension stops it)."""
    return check(_key(sub), _work_unchanged(sub), error)


def resource_work_done_op(sub: Subaccount, error: DomainError) -> Op:
    """Every batch is done: clear the pending work and its due mark (and a legacy list)."""
    return update(_key(sub), actions=[
        Subaccount.resource_work.remove(), Subaccount.paused_resources.remove(),
        Subaccount.DUEPK.remove(), Subaccount.DUESK.remove(),
    ], condition=_work_unchanged(sub), error=error)


def drop_resource_work_op(sub: Subaccount) -> Op:
    """Clear a due mark that no longer means anything (the sub-account was removed, or its
    status and work disagree)."""
    return update(_key(sub), actions=[
        Subaccount.resource_work.remove(), Subaccount.DUEPK.remove(), Subaccount.DUESK.remove(),
    ], condition=(Subaccount.status == sub.status) & _same_suspension(sub))


def subaccounts_with_resource_work_due(as_of: datetime) -> Iterator[Subaccount]:
    """Sub-accounts whose suspension or restore batches are unfinished and due by ``as_of``:
    the sparse GSI2 partition (O(due), never a scan). Eventually consistent: re-read each."""
    upper = f"{sortable_time(as_of)}#\uffff"
    yield from due_items_of(SUSPENSIONS_JOB, Subaccount, upper_sk=upper)


def subaccounts_by_id(agency_id: str, subaccount_ids: Sequence[str]
                      ) -> dict[str, Subaccount]:
    """Sub-accounts of the agency among ``subaccount_ids``, in any status, by id (one
    consistent BatchGetItem; absent ones are left out)."""
    found = read_items([(keys.agency_pk(agency_id), keys.subaccount_sk(sid))
                        for sid in subaccount_ids])
    return {item.subaccount_id: item for item in found.values() if isinstance(item, Subaccount)}


def subaccount_with_payment_profile(agency_id: str, subaccount_id: str
                                    ) -> tuple[Subaccount | None, dict[str, TableItem]]:
    """A sub-account in any status (None when absent) and, from the same consistent
    BatchGetItem, its payment profile, returned by sort key (left out when absent)."""
    pk, sub_sk = keys.agency_pk(agency_id), keys.subaccount_sk(subaccount_id)
    found = {sk: item for (_, sk), item in read_items(
        [(pk, sub_sk), (pk, keys.payment_profile_sk(subaccount_id))]).items()}
    sub = found.pop(sub_sk, None)
    return (sub if isinstance(sub, Subaccount) else None), found

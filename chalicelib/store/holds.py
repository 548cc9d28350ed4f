"""The call holds repository: seconds reserved for a call in progress, until its usage record
settles them or the ``call-holds`` sweep releases them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from pynamodb.attributes import UnicodeAttribute

from chalicelib.domain.errors import Conflict, DomainError
from chalicelib.store import keys
from chalicelib.store.base import (
    IntegerAttribute,
    TableItem,
    UTCDateTimeText,
    due_items_of,
    read_items,
)
from chalicelib.store.transact import Op, check, save, update

#: The job whose due index lists open holds at their expiry.
DUE_JOB = "call-holds"
#: How long a closed hold is kept before DynamoDB's TTL removes it.
KEPT_AFTER_EXPIRY = timedelta(days=30)


class CallHold(TableItem, discriminator="CallHold"):
    """PK: ``HOLD#<call id>`` / SK: ``HOLD``. Seconds reserved for a call in progress.

    While ``held`` it sits in GSI2 ``DUE#call-holds`` at its expiry, so the release sweep
    reads only holds that outlived their call, and in GSI1 ``HOLDS#<aid>#<sid>``, so a
    removal finds every open hold of the sub-account. Closing a hold removes both keys.
    """

    agency_id = UnicodeAttribute()
    call_id = UnicodeAttribute()
    subaccount_id = UnicodeAttribute()
    tier = UnicodeAttribute()
    seconds = IntegerAttribute()
    status = UnicodeAttribute(default="held")  # held | settled | released
    created_at = UTCDateTimeText()
    hold_until = UTCDateTimeText()


class HoldChanged(Conflict):
    """The hold was settled or released by someone else meanwhile."""

    code = "hold_changed"


def _minute_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new(*, agency_id: str, subaccount_id: str, call_id: str, tier: str, seconds: int,
        created_at: datetime, hold_until: datetime) -> CallHold:
    """An unsaved open hold, listed in the due index at ``hold_until`` and among the
    sub-account's open holds (written by ``place``)."""
    return CallHold(
        keys.call_hold_pk(call_id), "HOLD", agency_id=agency_id, call_id=call_id,
        subaccount_id=subaccount_id, tier=tier, seconds=seconds, created_at=created_at,
        hold_until=hold_until, DUEPK=keys.due_pk(DUE_JOB, agency_id),
        GSI1PK=keys.open_holds_pk(agency_id, subaccount_id), GSI1SK=call_id,
        DUESK=keys.due_sk(_minute_text(hold_until), f"{agency_id}:{call_id}"),
        expires_at=int((hold_until + KEPT_AFTER_EXPIRY).timestamp()),
    )


def place(hold: CallHold, error: DomainError) -> Op:
    """Write a new hold; ``error`` when a hold exists under its call id already."""
    return save(hold, condition=CallHold.PK.does_not_exist(), error=error)


def free_or_of(call_id: str, subaccount_id: str, error: DomainError) -> Op:
    """Require no hold under ``call_id``, or one of ``subaccount_id``; else ``error``."""
    return check(CallHold(keys.call_hold_pk(call_id), "HOLD"),
                 CallHold.PK.does_not_exist() | (CallHold.subaccount_id == subaccount_id),
                 error)


def close(hold: CallHold, status: str) -> Op:
    """Settle or release a hold, only if still held (``HoldChanged`` otherwise); it leaves
    both indexes."""
    return update(
        hold,
        actions=[CallHold.status.set(status), CallHold.DUEPK.remove(), CallHold.DUESK.remove(),
                 CallHold.GSI1PK.remove(), CallHold.GSI1SK.remove()],
        condition=(CallHold.status == "held"),
        error=HoldChanged("the hold changed"),
    )


def get(call_id: str) -> CallHold | None:
    """The hold placed under a call id (strongly consistent), or None."""
    try:
        return CallHold.get(keys.call_hold_pk(call_id), "HOLD", consistent_read=True)
    except CallHold.DoesNotExist:
        return None


def open_of(agency_id: str, subaccount_id: str) -> list[CallHold]:
    """The sub-account's holds still ``held``: GSI1, each re-read consistently.

    GSI1 is eventually consistent: a hold closed a moment ago may still be listed (the
    re-read drops it), one placed a moment ago may be missing. Callers that must see every
    hold compare the total with the ``held:`` balance, which is strongly consistent.
    """
    listed = [(hold.PK, hold.SK) for hold in CallHold.lookup_index.query(
        keys.open_holds_pk(agency_id, subaccount_id))]
    fresh = read_items(listed) if listed else {}
    return sorted((item for item in fresh.values()
                   if isinstance(item, CallHold) and item.status == "held"
                   and item.agency_id == agency_id and item.subaccount_id == subaccount_id),
                  key=lambda hold: hold.call_id)


def due(as_of: datetime) -> Iterator[CallHold]:
    """Holds still open at their expiry on or before ``as_of`` (GSI2, due ones only)."""
    for hold in due_items_of(DUE_JOB, CallHold,
                             upper_sk=keys.due_sk(_minute_text(as_of), "~")):
        if hold.status == "held":
            yield hold

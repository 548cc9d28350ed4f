"""Move-minutes quotes and records, and call records and holds (usage ingestion)."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute

from chalicelib.store import keys
from chalicelib.store.accounts import Subaccount, SubaccountPointer
from chalicelib.store.base import IntegerAttribute, TableItem, UTCDateTimeText, read_items


class TransferQuote(TableItem, discriminator="TransferQuote"):
    """PK: ``AGENCY#<aid>`` / SK: ``QUOTE#<qid>``. What a move will do, valid ≤ 10 minutes.

    Confirming checks, in the move's own transaction, that the quote is still pending, both
    prices are unchanged (``price_version``) and the sender's balance row has not moved.
    """

    agency_id = UnicodeAttribute()
    quote_id = UnicodeAttribute()
    from_subaccount_id = UnicodeAttribute()
    to_subaccount_id = UnicodeAttribute()
    from_is_primary = BooleanAttribute(default=False)
    to_is_primary = BooleanAttribute(default=False)
    asset = UnicodeAttribute()
    amount_sent = IntegerAttribute()  # seconds, or KP units
    amount_received = IntegerAttribute()
    from_price = IntegerAttribute(null=True)  # micro-USD per minute (minutes only)
    to_price = IntegerAttribute(null=True)
    from_price_version = IntegerAttribute()
    to_price_version = IntegerAttribute()
    from_balance_version = IntegerAttribute()
    value_micros = IntegerAttribute(default=0)
    status = UnicodeAttribute(default="pending")  # pending | used
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeText()
    valid_until = UTCDateTimeText()


class MoveRecord(TableItem, discriminator="MoveRecord"):
    """PK: ``AGENCY#<aid>#TRANSFERS`` / SK: ``<iso time>#<txid>``. A confirmed move."""

    agency_id = UnicodeAttribute()
    transfer_id = UnicodeAttribute()
    quote_id = UnicodeAttribute()
    from_subaccount_id = UnicodeAttribute()
    to_subaccount_id = UnicodeAttribute()
    asset = UnicodeAttribute()
    amount_sent = IntegerAttribute()
    amount_received = IntegerAttribute()
    from_price = IntegerAttribute(null=True)
    to_price = IntegerAttribute(null=True)
    value_micros = IntegerAttribute(default=0)
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeText()


class CallRecord(TableItem, discriminator="CallRecord"):
    """PK: ``CALL#<call id>`` / SK: ``CALL``. One ingested call; its existence dedupes.

    Keyed by the call id alone: a call id is unique platform-wide (SPEC), so a second
    record under it, from any sub-account of any agency, fails the same condition.
    """

    agency_id = UnicodeAttribute()
    call_id = UnicodeAttribute()
    subaccount_id = UnicodeAttribute()
    tier = UnicodeAttribute()
    direction = UnicodeAttribute()
    status = UnicodeAttribute()
    duration_seconds = IntegerAttribute()
    debited_seconds = IntegerAttribute()
    shortfall_seconds = IntegerAttribute()
    spent_micros = IntegerAttribute()
    started_at = UTCDateTimeText()
    recorded_at = UTCDateTimeText()


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


def get_call_record(call_id: str) -> CallRecord | None:
    """The recorded call of a call id (strongly consistent), or None."""
    try:
        return CallRecord.get(keys.call_pk(call_id), "CALL", consistent_read=True)
    except CallRecord.DoesNotExist:
        return None


def get_call_hold(call_id: str) -> CallHold | None:
    """The hold placed under a call id (strongly consistent), or None."""
    try:
        return CallHold.get(keys.call_hold_pk(call_id), "HOLD", consistent_read=True)
    except CallHold.DoesNotExist:
        return None


def open_holds_of(agency_id: str, subaccount_id: str) -> list[CallHold]:
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


def subaccount_named_by_usage(subaccount_id: str) -> Subaccount | None:
    """The sub-account a usage record names, removed ones included (they answer
    ``subaccount_removed``, not ``not found``), or None."""
    try:
        pointer = SubaccountPointer.get(keys.subaccount_pointer_pk(subaccount_id), "SUBID")
        return Subaccount.get(keys.agency_pk(pointer.agency_id),
                              keys.subaccount_sk(subaccount_id), consistent_read=True)
    except (SubaccountPointer.DoesNotExist, Subaccount.DoesNotExist):
        return None

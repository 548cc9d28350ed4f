"""The quotes repository: what a move of minutes or credits will do, valid for a while."""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute

from chalicelib.domain.errors import Conflict
from chalicelib.store import keys
from chalicelib.store.base import IntegerAttribute, TableItem, UTCDateTimeText
from chalicelib.store.transact import Op, update

#: How long an expired quote is kept before DynamoDB's TTL removes it.
KEPT_AFTER_EXPIRY = timedelta(days=1)


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


class QuoteUsed(Conflict):
    """The quote was confirmed already."""

    code = "quote_used"


def create(*, agency_id: str, quote_id: str, from_subaccount_id: str, to_subaccount_id: str,
           from_is_primary: bool, to_is_primary: bool, asset: str, amount_sent: int,
           amount_received: int, from_price: int | None, to_price: int | None,
           from_price_version: int, to_price_version: int, from_balance_version: int,
           value_micros: int, created_by: str, created_at: datetime,
           valid_until: datetime) -> TransferQuote:
    """Store a new quote (one PutItem) and return it."""
    quote = TransferQuote(
        keys.agency_pk(agency_id), keys.quote_sk(quote_id),
        agency_id=agency_id, quote_id=quote_id,
        from_subaccount_id=from_subaccount_id, to_subaccount_id=to_subaccount_id,
        from_is_primary=from_is_primary, to_is_primary=to_is_primary,
        asset=asset, amount_sent=amount_sent, amount_received=amount_received,
        from_price=from_price, to_price=to_price,
        from_price_version=from_price_version, to_price_version=to_price_version,
        from_balance_version=from_balance_version, value_micros=value_micros,
        created_by=created_by, created_at=created_at, valid_until=valid_until,
        expires_at=int((valid_until + KEPT_AFTER_EXPIRY).timestamp()),
    )
    quote.save()
    return quote


def get(agency_id: str, quote_id: str) -> TransferQuote | None:
    """A quote of the agency (strongly consistent), or None."""
    try:
        return TransferQuote.get(keys.agency_pk(agency_id), keys.quote_sk(quote_id),
                                 consistent_read=True)
    except TransferQuote.DoesNotExist:
        return None


def use(quote: TransferQuote) -> Op:
    """Mark the quote used, only while it is pending (``QuoteUsed`` otherwise)."""
    return update(quote, actions=[TransferQuote.status.set("used")],
                  condition=(TransferQuote.status == "pending"),
                  error=QuoteUsed("this quote was already used"))

"""Processed Stripe events: the marker is written in the same transaction as the effect."""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import UnicodeAttribute

from chalicelib.domain.errors import DomainError
from chalicelib.store import keys
from chalicelib.store.base import TableItem, UTCDateTimeText
from chalicelib.store.transact import Op, save

#: Sort key of every marker (one item per event partition).
MARKER_SK = "EVENT"


class StripeEventMarker(TableItem, discriminator="StripeEventMarker"):
    """PK: ``STRIPEEVT#<evt id>`` / SK: ``EVENT``. Exists once the event's effect is written."""

    event_type = UnicodeAttribute()
    processed_at = UTCDateTimeText()


def processed(event_id: str) -> bool:
    """Whether the event's effect was written already (one consistent GetItem)."""
    try:
        StripeEventMarker.get(keys.webhook_event_pk(event_id), MARKER_SK, consistent_read=True)
    except StripeEventMarker.DoesNotExist:
        return False
    return True


def marker_op(event_id: str, event_type: str, at: datetime, error: DomainError) -> Op:
    """Record the event as processed, in the transaction of its effect; ``error`` when it
    was recorded before (another delivery of the same event won)."""
    return save(
        StripeEventMarker(keys.webhook_event_pk(event_id), MARKER_SK, event_type=event_type,
                          processed_at=at),
        condition=StripeEventMarker.PK.does_not_exist(),
        error=error,
    )

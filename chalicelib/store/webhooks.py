"""Processed Stripe events: the marker is written in the same transaction as the effect."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute

from chalicelib.store.base import TableItem, UTCDateTimeText


class StripeEventMarker(TableItem, discriminator="StripeEventMarker"):
    """PK: ``STRIPEEVT#<evt id>`` / SK: ``EVENT``. Exists once the event's effect is written."""

    event_type = UnicodeAttribute()
    processed_at = UTCDateTimeText()

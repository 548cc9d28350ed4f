"""Audit events, notifications and the local email outbox."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, UnicodeAttribute

from chalicelib.store.base import TableItem, UTCDateTimeText


class AuditEvent(TableItem, discriminator="AuditEvent"):
    """PK: ``AGENCY#<aid>#AUDIT`` / SK: ``<iso time>#<eid>``. Who did what, before/after."""

    agency_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    action = UnicodeAttribute()
    actor_user_id = UnicodeAttribute()
    subaccount_id = UnicodeAttribute(null=True)
    target = UnicodeAttribute(null=True)
    before = JSONAttribute(null=True)
    after = JSONAttribute(null=True)
    at = UTCDateTimeText()


class Notification(TableItem, discriminator="Notification"):
    """PK: ``AGENCY#<aid>#NOTIFY`` / SK: ``<iso time>#<nid>``. Shown in the dashboard."""

    agency_id = UnicodeAttribute()
    notification_id = UnicodeAttribute()
    type = UnicodeAttribute()
    message = UnicodeAttribute()
    subaccount_id = UnicodeAttribute(null=True)
    data = JSONAttribute(default=dict)
    at = UTCDateTimeText()

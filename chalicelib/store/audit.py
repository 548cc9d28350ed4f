"""The audit log: who did what, before and after (``AuditEvent``, in ``store.activity``).

Key: ``AGENCY#<aid>#AUDIT`` / ``<iso time>#<eid>``: one partition per agency, sorted by time,
so a date range is a key condition and the newest-first page is one Query. Events are
written by the change they record, in its own transaction (``event``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib.domain.errors import ValidationFailed
from chalicelib.store import keys
from chalicelib.store.activity import AuditEvent
from chalicelib.store.base import sortable_time
from chalicelib.store.pagination import filtered_page
from chalicelib.store.transact import Op, save

#: Sort-key bounds of an open range: below and above every ``<iso time>#<eid>``.
_FIRST, _LAST = "0", "~"


def event(agency_id: str, actor_user_id: str, action: str, *, subaccount_id: str | None,
          target: str | None, before: Any, after: Any, at: datetime) -> Op:
    """An op that records ``action`` (put it in the change's own ``commit``)."""
    event_id = uuid.uuid4().hex
    return save(AuditEvent(
        keys.audit_pk(agency_id),
        keys.timeline_sk(sortable_time(at), event_id),
        agency_id=agency_id, event_id=event_id, action=action, actor_user_id=actor_user_id,
        subaccount_id=subaccount_id, target=target, before=before, after=after, at=at,
    ))


def _lower_bound(start: date | datetime | None) -> str:
    """Sort key from which events count: a date means its first instant (UTC)."""
    if start is None:
        return _FIRST
    if isinstance(start, datetime):
        return sortable_time(start)
    return sortable_time(datetime(start.year, start.month, start.day, tzinfo=UTC))


def _upper_bound(end: date | datetime | None) -> str:
    """Sort key up to which events count, inclusive: a date means all of that day."""
    if end is None:
        return _LAST
    if isinstance(end, datetime):
        return f"{sortable_time(end)}#~"
    return f"{end.isoformat()}T23:59:59.999999Z#~"


def newest_first(agency_id: str, *, start: date | datetime | None,
                 end: date | datetime | None, action: str | None, actor: str | None,
                 subaccount_id: str | None, limit: int, cursor: str | None
                 ) -> tuple[list[AuditEvent], str | None]:
    """One page of an agency's events from ``start`` to ``end`` (inclusive; aware datetimes,
    or dates meaning whole UTC days), newest first, with the given action, actor and
    sub-account only.

    The filters are FilterExpressions on the one Query: PynamoDB keeps reading until it has
    ``limit`` matches, so pages are full unless the log ends. An empty range (``end`` before
    ``start``) is a 422 ``to is before from``, before anything is read.
    """
    low, high = _lower_bound(start), _upper_bound(end)
    if low > high:
        raise ValidationFailed("to is before from", details={"field": "to"})
    condition: Condition | None = None
    for attribute, value in ((AuditEvent.action, action), (AuditEvent.actor_user_id, actor),
                             (AuditEvent.subaccount_id, subaccount_id)):
        if value:
            term = attribute == value
            condition = term if condition is None else condition & term
    return filtered_page(AuditEvent, keys.audit_pk(agency_id), AuditEvent.SK.between(low, high),
                         filter_condition=condition, limit=limit, cursor=cursor,
                         newest_first=True)

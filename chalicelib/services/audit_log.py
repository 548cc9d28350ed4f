"""Reading the audit log (writing is ``chalicelib.services.audit.audit_op``, in each change).

Events live in one partition per agency, sorted by time (SK ``<iso time>#<eid>``), so a date
range is a key condition and the newest-first page is one Query. Action, actor and
sub-account filters are FilterExpressions on that Query: PynamoDB keeps reading until it has
``limit`` matches, so pages are full unless the log ends.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.roles import Action, Principal, authorize_agency
from chalicelib.store import keys
from chalicelib.store.activity import AuditEvent
from chalicelib.store.base import sortable_time
from chalicelib.store.pagination import decode_cursor, encode_cursor


def parse_moment(value: str | None, field: str, *, end: bool) -> str | None:
    """An ISO date or datetime as an audit sort-key bound (dates are whole days, inclusive)."""
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            bound = sortable_time(moment)
            return f"{day.isoformat()}T23:59:59.999999Z#~" if end else bound
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{field} must be an ISO date or datetime",
                               details={"field": field}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    bound = sortable_time(moment)
    return f"{bound}#~" if end else bound


def render_event(event: AuditEvent) -> dict[str, Any]:
    """API shape of an audit event."""
    return {
        "id": event.event_id,
        "action": event.action,
        "actor_user_id": event.actor_user_id,
        "subaccount_id": event.subaccount_id,
        "target": event.target,
        "before": event.before,
        "after": event.after,
        "at": sortable_time(event.at),
    }


def list_audit_events(principal: Principal, *, limit: int, cursor: str | None = None,
                      action: str | None = None, actor: str | None = None,
                      subaccount_id: str | None = None, start: str | None = None,
                      end: str | None = None) -> dict[str, Any]:
    """Owner/Admin: the agency's audit events, newest first, filtered, one page."""
    authorize_agency(principal, Action.READ_AUDIT_LOG)
    for name, value in (("action", action), ("actor", actor), ("subaccount_id", subaccount_id)):
        if value is not None and not 1 <= len(value) <= 128:
            raise ValidationFailed(f"{name} is invalid", details={"field": name})
    low = parse_moment(start, "from", end=False) or "0"
    high = parse_moment(end, "to", end=True) or "~"
    if low > high:
        raise ValidationFailed("to is before from", details={"field": "to"})
    condition = None
    for attribute, value in ((AuditEvent.action, action), (AuditEvent.actor_user_id, actor),
                             (AuditEvent.subaccount_id, subaccount_id)):
        if value:
            term = attribute == value
            condition = term if condition is None else condition & term
    pk = keys.audit_pk(principal.agency_id)
    query = AuditEvent.query(
        pk,
        AuditEvent.SK.between(low, high),
        filter_condition=condition,
        scan_index_forward=False,
        limit=limit,
        page_size=max(limit, 100),
        last_evaluated_key=decode_cursor(cursor, pk),
        consistent_read=True,
    )
    events = [render_event(event) for event in query]
    next_cursor = encode_cursor(query.last_evaluated_key) if len(events) >= limit else None
    return {"events": events, "next_cursor": next_cursor}

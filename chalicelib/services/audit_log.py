"""Reading the audit log (writing is ``chalicelib.services.audit.audit_op``, in each change).

Events are read newest first, one page at a time, filtered by action, actor, sub-account and
a date or time range (``chalicelib.store.audit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.roles import Action, Principal, authorize_agency
from chalicelib.store import audit
from chalicelib.store.activity import AuditEvent


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit log, newest first."""

    events: list[AuditEvent]
    next_cursor: str | None


def parse_moment(value: str | None, field: str) -> date | datetime | None:
    """An ISO date (a whole UTC day) or datetime (naive means UTC); 422 otherwise."""
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{field} must be an ISO date or datetime",
                               details={"field": field}) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def list_audit_events(principal: Principal, *, limit: int, cursor: str | None = None,
                      action: str | None = None, actor: str | None = None,
                      subaccount_id: str | None = None, start: str | None = None,
                      end: str | None = None) -> AuditPage:
    """Owner/Admin: the agency's audit events, newest first, filtered, one page."""
    authorize_agency(principal, Action.READ_AUDIT_LOG)
    for name, value in (("action", action), ("actor", actor), ("subaccount_id", subaccount_id)):
        if value is not None and not 1 <= len(value) <= 128:
            raise ValidationFailed(f"{name} is invalid", details={"field": name})
    events, next_cursor = audit.newest_first(
        principal.agency_id, start=parse_moment(start, "from"), end=parse_moment(end, "to"),
        action=action, actor=actor, subaccount_id=subaccount_id, limit=limit, cursor=cursor)
    return AuditPage(events, next_cursor)

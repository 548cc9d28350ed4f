"""Routes: the audit log (Owner/Admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from chalice.app import Blueprint

from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.api.render import AnswerModel, iso_micro
from chalicelib.services.audit_log import list_audit_events

bp = Blueprint(__name__)


class AuditEventRecord(Protocol):
    """What ``render_event`` reads of an audit event."""

    @property
    def event_id(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def actor_user_id(self) -> str: ...
    @property
    def subaccount_id(self) -> str | None: ...
    @property
    def target(self) -> str | None: ...
    @property
    def before(self) -> Any: ...
    @property
    def after(self) -> Any: ...
    @property
    def at(self) -> datetime: ...


class AuditEventOut(AnswerModel):
    """Who did what and when, with the state before and after."""

    id: str
    action: str
    actor_user_id: str
    subaccount_id: str | None
    target: str | None
    before: Any
    after: Any
    at: str


class AuditPageOut(AnswerModel):
    """One page of the audit log, newest first."""

    events: list[AuditEventOut]
    next_cursor: str | None


def render_event(event: AuditEventRecord) -> dict[str, Any]:
    """API shape of an audit event (``AuditEventOut``)."""
    return {
        "id": event.event_id,
        "action": event.action,
        "actor_user_id": event.actor_user_id,
        "subaccount_id": event.subaccount_id,
        "target": event.target,
        "before": event.before,
        "after": event.after,
        "at": iso_micro(event.at),
    }


@route(bp, "/v1/audit-log", "GET",
       query=("action", "actor", "subaccount_id", "from", "to", "limit", "cursor"),
       response=AuditPageOut, errors={400: ("invalid_cursor",), 403: ("forbidden",)},
       summary="Who did what and when (before/after), newest first")
def audit_log(ctx: RequestContext) -> dict[str, Any]:
    """Owner/Admin: audit events, filterable by action, actor, sub-account and dates."""
    q = ctx.query
    page = list_audit_events(
        ctx.user, limit=page_limit(ctx), cursor=q.get("cursor"), action=q.get("action"),
        actor=q.get("actor"), subaccount_id=q.get("subaccount_id"), start=q.get("from"),
        end=q.get("to"))
    return {"events": [render_event(event) for event in page.events],
            "next_cursor": page.next_cursor}

"""Routes: the audit log (Owner/Admin)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import RequestContext, page_limit, route

bp = Blueprint(__name__)


@route(bp, "/v1/audit-log", "GET",
       query=("action", "actor", "subaccount_id", "from", "to", "limit", "cursor"),
       summary="Who did what and when (before/after), newest first")
def audit_log(ctx: RequestContext) -> dict[str, Any]:
    """Owner/Admin: audit events, filterable by action, actor, sub-account and dates."""
    from chalicelib.services.audit_log import list_audit_events

    q = ctx.query
    return list_audit_events(ctx.user, limit=page_limit(ctx), cursor=q.get("cursor"),
                             action=q.get("action"), actor=q.get("actor"),
                             subaccount_id=q.get("subaccount_id"), start=q.get("from"),
                             end=q.get("to"))

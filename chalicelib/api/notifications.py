"""Routes: the dashboard's notifications."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import RequestContext, page_limit, route

bp = Blueprint(__name__)


@route(bp, "/v1/notifications", "GET", query=("limit", "cursor"),
       summary="Notifications, newest first")
def list_notifications(ctx: RequestContext) -> dict[str, Any]:
    """Payment failures, low balances, payouts…; sub-account users see their sub-accounts'."""
    from chalicelib.services.notification_feed import list_notifications as feed

    return feed(ctx.user, page_limit(ctx), ctx.query.get("cursor"))

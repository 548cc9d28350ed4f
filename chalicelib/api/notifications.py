"""Routes: the dashboard's notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from chalice.app import Blueprint

from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.api.render import MARGIN_FIELDS, AnswerModel, sees_margin
from chalicelib.services import notification_feed

bp = Blueprint(__name__)


class NotificationRecord(Protocol):
    """What ``render_notification`` reads of a notification."""

    @property
    def notification_id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def subaccount_id(self) -> str | None: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def at(self) -> datetime: ...


class NotificationOut(AnswerModel):
    """A notification: what happened, about which sub-account, with its figures."""

    id: str
    type: str
    message: str
    subaccount_id: str | None
    data: dict[str, Any]
    created_at: str


class NotificationPageOut(AnswerModel):
    """One page of notifications, newest first."""

    notifications: list[NotificationOut]
    next_cursor: str | None


def render_notification(item: NotificationRecord, *, show_margin: bool = True
                        ) -> dict[str, Any]:
    """API shape of a notification; without margin figures in ``data`` for clients (a
    second line of defence: the kinds that carry them are agency-level anyway)."""
    data = dict(item.data or {})
    if not show_margin:
        data = {key: value for key, value in data.items() if key not in MARGIN_FIELDS}
    return {
        "id": item.notification_id,
        "type": item.type,
        "message": item.message,
        "subaccount_id": item.subaccount_id,
        "data": data,
        "created_at": item.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@route(bp, "/v1/notifications", "GET", query=("limit", "cursor"),
       response=NotificationPageOut, errors={400: ("invalid_cursor",)},
       summary="Notifications, newest first")
def list_notifications(ctx: RequestContext) -> dict[str, Any]:
    """Payment failures, low balances, payouts…; sub-account users see their sub-accounts'."""
    page = notification_feed.list_notifications(ctx.user, page_limit(ctx),
                                                ctx.query.get("cursor"))
    show_margin = sees_margin(ctx.user)
    return {"notifications": [render_notification(n, show_margin=show_margin)
                              for n in page.notifications],
            "next_cursor": page.next_cursor}

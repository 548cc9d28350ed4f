"""Notifications (dashboard) and emails (through the email port)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from chalicelib.store import keys
from chalicelib.store.activity import Notification
from chalicelib.store.base import sortable_time, utcnow
from chalicelib.store.transact import Op, save


def notification_op(agency_id: str, kind: str, message: str, *,
                    subaccount_id: str | None = None, data: dict[str, Any] | None = None,
                    at: datetime | None = None) -> Op:
    """An op that adds a notification (put it in the transaction of the event it reports)."""
    when = at or utcnow()
    notification_id = uuid.uuid4().hex
    return save(
        Notification(
            keys.notifications_pk(agency_id),
            keys.timeline_sk(sortable_time(when), notification_id),
            agency_id=agency_id,
            notification_id=notification_id,
            type=kind,
            message=message,
            subaccount_id=subaccount_id,
            data=data or {},
            at=when,
        )
    )


def notify(agency_id: str, kind: str, message: str, *, subaccount_id: str | None = None,
           data: dict[str, Any] | None = None) -> None:
    """Add a notification on its own."""
    op = notification_op(agency_id, kind, message, subaccount_id=subaccount_id, data=data)
    op.item.save()


#: ``data`` keys that carry the agency's margin: never shown to sub-account roles.
MARGIN_DATA_KEYS = frozenset({"held_micros", "released_micros", "profit_micros",
                              "profit_usd", "base_cost", "base_cost_usd"})


def render_notification(item: Notification, *, show_margin: bool = True) -> dict[str, Any]:
    """API shape of a notification; without margin figures in ``data`` for clients (a
    second line of defence: the kinds that carry them are agency-level anyway)."""
    data = dict(item.data or {})
    if not show_margin:
        data = {key: value for key, value in data.items() if key not in MARGIN_DATA_KEYS}
    return {
        "id": item.notification_id,
        "type": item.type,
        "message": item.message,
        "subaccount_id": item.subaccount_id,
        "data": data,
        "created_at": item.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }

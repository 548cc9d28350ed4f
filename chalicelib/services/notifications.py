"""Notifications shown in the dashboard (reading them: ``services.notification_feed``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.services.ports import now
from chalicelib.store import notifications
from chalicelib.store.transact import Op


def notification_op(agency_id: str, kind: str, message: str, *,
                    subaccount_id: str | None = None, data: dict[str, Any] | None = None,
                    at: datetime | None = None) -> Op:
    """An op that adds a notification (put it in the transaction of the event it reports)."""
    return notifications.new(agency_id, kind, message, subaccount_id=subaccount_id, data=data,
                             at=at or now())


def notify(agency_id: str, kind: str, message: str, *, subaccount_id: str | None = None,
           data: dict[str, Any] | None = None) -> None:
    """Add a notification on its own."""
    notifications.add(agency_id, kind, message, subaccount_id=subaccount_id, data=data,
                      at=now())

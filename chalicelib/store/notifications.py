"""Dashboard notifications (``Notification``, in ``store.activity``).

Key: ``AGENCY#<aid>#NOTIFY`` / ``<iso time>#<nid>``: one partition per agency, sorted by time,
read newest first. A notification is usually written in the transaction of the event it
reports (``new``), sometimes on its own (``add``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.store import keys
from chalicelib.store.activity import Notification
from chalicelib.store.base import sortable_time
from chalicelib.store.pagination import decode_cursor, encode_cursor
from chalicelib.store.transact import Op, save


def _record(agency_id: str, kind: str, message: str, *, subaccount_id: str | None,
            data: dict[str, Any] | None, at: datetime) -> Notification:
    notification_id = uuid.uuid4().hex
    return Notification(
        keys.notifications_pk(agency_id),
        keys.timeline_sk(sortable_time(at), notification_id),
        agency_id=agency_id, notification_id=notification_id, type=kind, message=message,
        subaccount_id=subaccount_id, data=data or {}, at=at,
    )


def new(agency_id: str, kind: str, message: str, *, subaccount_id: str | None,
        data: dict[str, Any] | None, at: datetime) -> Op:
    """An op that adds a notification (put it in the transaction of the event it reports)."""
    return save(_record(agency_id, kind, message, subaccount_id=subaccount_id, data=data,
                        at=at))


def add(agency_id: str, kind: str, message: str, *, subaccount_id: str | None,
        data: dict[str, Any] | None, at: datetime) -> None:
    """Add a notification on its own (one PutItem)."""
    _record(agency_id, kind, message, subaccount_id=subaccount_id, data=data, at=at).save()


def newest_first(agency_id: str, *, limit: int, cursor: str | None
                 ) -> tuple[list[Notification], str | None]:
    """One page of an agency's notifications, newest first (one Query)."""
    pk = keys.notifications_pk(agency_id)
    query = Notification.query(pk, scan_index_forward=False, limit=limit,
                               last_evaluated_key=decode_cursor(cursor, pk))
    items = list(query)
    return items, encode_cursor(query.last_evaluated_key)


def newest_first_matching(agency_id: str, keep: Callable[[Notification], bool], *,
                          limit: int, cursor: str | None, budget: int
                          ) -> tuple[list[Notification], str | None]:
    """Up to ``limit`` notifications that ``keep`` accepts, newest first, looking at no more
    than about ``budget`` items per call (the cursor carries on where it stopped)."""
    pk = keys.notifications_pk(agency_id)
    found: list[Notification] = []
    last_key = decode_cursor(cursor, pk)
    read = 0
    while len(found) < limit and read < budget:
        query = Notification.query(pk, scan_index_forward=False, limit=limit,
                                   last_evaluated_key=last_key)
        page = list(query)
        last_key = query.last_evaluated_key
        for item in page:
            read += 1
            if keep(item):
                found.append(item)
            if len(found) == limit:
                # Stop right after the last item returned: the next page starts there.
                last_key = {"PK": {"S": item.PK}, "SK": {"S": item.SK}}
                break
        if not query.last_evaluated_key:
            break
    return found, encode_cursor(last_key)

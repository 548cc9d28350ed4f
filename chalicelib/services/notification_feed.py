"""The dashboard's notification list (``GET /v1/notifications``)."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.roles import AGENCY_ROLES, Principal
from chalicelib.services.access import get_agency
from chalicelib.services.notifications import render_notification
from chalicelib.store import keys
from chalicelib.store.activity import Notification
from chalicelib.store.pagination import decode_cursor, encode_cursor

#: Sub-account users page through at most this many items per request while filtering.
_SCAN_BUDGET = 500


def list_notifications(principal: Principal, limit: int, cursor: str | None
                       ) -> dict[str, Any]:
    """Newest first. Agency roles see every notification of the agency; sub-account roles
    see only those about sub-accounts they can access (never agency-wide ones such as
    payouts), so a client never learns of the agency's other clients or its money."""
    pk = keys.notifications_pk(principal.agency_id)
    start = decode_cursor(cursor, pk)
    if principal.role in AGENCY_ROLES:
        query = Notification.query(pk, scan_index_forward=False, limit=limit,
                                   last_evaluated_key=start)
        items = list(query)
        return {"notifications": [render_notification(n) for n in items],
                "next_cursor": encode_cursor(query.last_evaluated_key)}
    visible = set(principal.subaccount_ids) if not principal.access_all else None
    primary_id = get_agency(principal.agency_id).primary_subaccount_id
    found: list[Notification] = []
    last_key = start
    read = 0
    while len(found) < limit and read < _SCAN_BUDGET:
        query = Notification.query(pk, scan_index_forward=False, limit=limit,
                                   last_evaluated_key=last_key)
        page = list(query)
        read += len(page)
        for item in page:
            if item.subaccount_id and _may_see(item.subaccount_id, visible, primary_id):
                found.append(item)
        last_key = query.last_evaluated_key
        if not last_key:
            break
    return {"notifications": [render_notification(n) for n in found],
            "next_cursor": encode_cursor(last_key)}


def _may_see(subaccount_id: str, visible: set[str] | None, primary_id: str) -> bool:
    if visible is not None:
        return subaccount_id in visible
    return subaccount_id != primary_id  # access "all": every secondary, never the primary

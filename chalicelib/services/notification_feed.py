"""The dashboard's notification list (``GET /v1/notifications``).

Notifications follow access (SPEC "Users and roles"): one about a sub-account reaches only the
users who can see that sub-account; agency-level ones (payouts, profit and disputes, Connect,
monthly allocations, anything not about one sub-account) reach only Owner, Admin and Member.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.roles import AGENCY_ROLES, Principal, SubaccountRef, can_see
from chalicelib.services.access import get_agency
from chalicelib.services.notifications import render_notification
from chalicelib.store import keys
from chalicelib.store.activity import Notification
from chalicelib.store.pagination import decode_cursor, encode_cursor

#: Filtered reads look at most this many items per request (the cursor carries on).
_SCAN_BUDGET = 500

#: Kinds about the agency's money or its own set-up, whatever sub-account they name: a
#: dispute holds the agency's profit, an allocation is bought at base cost on the primary's
#: card. Matched by prefix so that new kinds of these families stay agency-level.
AGENCY_LEVEL_PREFIXES = ("payout_", "connect_", "payment_dispute", "auto_allocation_",
                         "profit_", "reconciliation_")


def is_agency_level(item: Notification) -> bool:
    """Whether a notification is for agency staff only."""
    return not item.subaccount_id or item.type.startswith(AGENCY_LEVEL_PREFIXES)


def list_notifications(principal: Principal, limit: int, cursor: str | None
                       ) -> dict[str, Any]:
    """Newest first, only what ``principal`` may see (see the module docstring)."""
    pk = keys.notifications_pk(principal.agency_id)
    start = decode_cursor(cursor, pk)
    show_margin = principal.role in AGENCY_ROLES
    if principal.is_manager or (principal.role in AGENCY_ROLES and principal.access_all):
        query = Notification.query(pk, scan_index_forward=False, limit=limit,
                                   last_evaluated_key=start)
        items = list(query)
        return {"notifications": [render_notification(n, show_margin=show_margin)
                                  for n in items],
                "next_cursor": encode_cursor(query.last_evaluated_key)}
    primary_id = get_agency(principal.agency_id).primary_subaccount_id
    found: list[Notification] = []
    last_key = start
    read = 0
    while len(found) < limit and read < _SCAN_BUDGET:
        query = Notification.query(pk, scan_index_forward=False, limit=limit,
                                   last_evaluated_key=last_key)
        page = list(query)
        last_key = query.last_evaluated_key
        for item in page:
            read += 1
            if _may_see(principal, item, primary_id):
                found.append(item)
            if len(found) == limit:
                # Stop right after the last item returned: the next page starts there.
                last_key = {"PK": {"S": item.PK}, "SK": {"S": item.SK}}
                break
        if not query.last_evaluated_key:
            break
    return {"notifications": [render_notification(n, show_margin=show_margin) for n in found],
            "next_cursor": encode_cursor(last_key)}


def _may_see(principal: Principal, item: Notification, primary_id: str) -> bool:
    if is_agency_level(item):
        return principal.role in AGENCY_ROLES
    ref = SubaccountRef(subaccount_id=item.subaccount_id or "", agency_id=principal.agency_id,
                        is_primary=item.subaccount_id == primary_id)
    return can_see(principal, ref)

"""The dashboard's notification list (``GET /v1/notifications``).

Notifications follow access (SPEC "Users and roles"): one about a sub-account reaches only the
users who can see that sub-account; agency-level ones (payouts, profit and disputes, Connect,
monthly allocations, anything not about one sub-account) reach only Owner, Admin and Member.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.domain.roles import AGENCY_ROLES, Principal, SubaccountRef, can_see
from chalicelib.services.access import get_agency
from chalicelib.store import notifications
from chalicelib.store.activity import Notification

#: Filtered reads look at most this many items per request (the cursor carries on).
_SCAN_BUDGET = 500

#: Kinds about the agency's money or its own set-up, whatever sub-account they name: a
#: dispute holds the agency's profit, an allocation is bought at base cost on the primary's
#: card. Matched by prefix so that new kinds of these families stay agency-level.
AGENCY_LEVEL_PREFIXES = ("payout_", "connect_", "payment_dispute", "auto_allocation_",
                         "profit_", "reconciliation_")


@dataclass(frozen=True)
class NotificationPage:
    """One page of the feed, newest first."""

    notifications: list[Notification]
    next_cursor: str | None


def is_agency_level(item: Notification) -> bool:
    """Whether a notification is for agency staff only."""
    return not item.subaccount_id or item.type.startswith(AGENCY_LEVEL_PREFIXES)


def list_notifications(principal: Principal, limit: int, cursor: str | None
                       ) -> NotificationPage:
    """Newest first, only what ``principal`` may see (see the module docstring)."""
    if principal.is_manager or (principal.role in AGENCY_ROLES and principal.access_all):
        return NotificationPage(*notifications.newest_first(
            principal.agency_id, limit=limit, cursor=cursor))
    return NotificationPage(*notifications.newest_first_matching(
        principal.agency_id, _visible_to(principal), limit=limit, cursor=cursor,
        budget=_SCAN_BUDGET))


def _visible_to(principal: Principal) -> Callable[[Notification], bool]:
    """Whether ``principal`` may see a notification; the agency (for its primary's id) is
    read once, when a notification about a sub-account first needs it."""
    primary: list[str] = []

    def primary_id() -> str:
        if not primary:
            primary.append(get_agency(principal.agency_id).primary_subaccount_id)
        return primary[0]

    def may_see(item: Notification) -> bool:
        if is_agency_level(item):
            return principal.role in AGENCY_ROLES
        ref = SubaccountRef(subaccount_id=item.subaccount_id or "",
                            agency_id=principal.agency_id,
                            is_primary=item.subaccount_id == primary_id())
        return can_see(principal, ref)

    return may_see

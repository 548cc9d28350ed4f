"""Loading what a caller asked for, through the permission module, in one read.

Every sub-account route goes through ``load_subaccount``: it reads the sub-account from the
caller's own agency partition (so other tenants' ids are simply absent → 404), applies the
role matrix, and refuses writes by sub-account users while the sub-account is suspended
(423 with the agency's note).
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.errors import NotFound, SubaccountSuspended
from chalicelib.domain.roles import (
    Action,
    Principal,
    SubaccountRef,
    authorize,
    can_see,
    refuses_while_suspended,
)
from chalicelib.store import accounts, agencies, payments
from chalicelib.store.accounts import Agency, Subaccount
from chalicelib.store.payments import PaymentProfile

#: What ``load_subaccount_for_payment`` answers: the sub-account, and its payment profile
#: (None when it has none yet).
SubaccountWithProfile = tuple[Subaccount, PaymentProfile | None]


def ref_of(sub: Subaccount) -> SubaccountRef:
    """The permission-module view of a sub-account."""
    return SubaccountRef(
        subaccount_id=sub.subaccount_id,
        agency_id=sub.agency_id,
        is_primary=bool(sub.is_primary),
        suspended=sub.status == "suspended",
    )


def _not_found() -> NotFound:
    return NotFound("subaccount not found")


def get_subaccount(agency_id: str, subaccount_id: str) -> Subaccount:
    """A live (not removed) sub-account of the agency, or NotFound."""
    if not subaccount_id or len(subaccount_id) > 64:
        raise _not_found()
    sub = accounts.find_subaccount(agency_id, subaccount_id)
    if sub is None or sub.status == "removed":
        raise _not_found()
    return sub


def suspension_error(sub: Subaccount) -> SubaccountSuspended:
    """The 423 answer for a suspended sub-account, carrying the agency's note."""
    return SubaccountSuspended(
        "this sub-account is suspended",
        details={"note": sub.suspension_note or "", "since": (
            sub.suspended_at.strftime("%Y-%m-%dT%H:%M:%SZ") if sub.suspended_at else None)},
    )


def load_subaccount(principal: Principal, subaccount_id: str, action: Action) -> Subaccount:
    """The sub-account if ``principal`` may perform ``action`` on it; else 404/403/423."""
    sub = get_subaccount(principal.agency_id, subaccount_id)
    _authorize_on(principal, sub, action)
    return sub


def load_subaccount_for_payment(principal: Principal, subaccount_id: str,
                                action: Action) -> SubaccountWithProfile:
    """``load_subaccount`` plus the sub-account's payment profile from the same
    BatchGetItem: one round trip for a purchase. The profile is returned only after the
    access checks passed."""
    if not subaccount_id or len(subaccount_id) > 64:
        raise _not_found()
    sub, found = accounts.subaccount_with_payment_profile(principal.agency_id, subaccount_id)
    if sub is None or sub.status == "removed":
        raise _not_found()
    _authorize_on(principal, sub, action)
    return sub, payments.profile_in(found, subaccount_id)


def _authorize_on(principal: Principal, sub: Subaccount, action: Action) -> None:
    authorize(principal, action, ref_of(sub))
    if sub.status == "suspended" and refuses_while_suspended(principal, action):
        raise suspension_error(sub)


def get_agency(agency_id: str) -> Agency:
    """The caller's agency (active or not)."""
    agency = agencies.get(agency_id)
    if agency is None:
        raise NotFound("agency not found")
    return agency


def visible_subaccounts(principal: Principal) -> list[Subaccount]:
    """Every live sub-account the principal can see: one Query on the agency partition."""
    return [s for s in accounts.subaccounts_of(principal.agency_id)
            if s.status != "removed" and can_see(principal, ref_of(s))]


@dataclass(frozen=True)
class Reach:
    """What ``GET /v1/me`` tells a user: its agency (branding) and the sub-accounts it sees."""

    agency: Agency
    subaccounts: list[Subaccount]


def reach_of(principal: Principal) -> Reach:
    """The caller's agency and visible sub-accounts (a GetItem and one Query)."""
    return Reach(get_agency(principal.agency_id), visible_subaccounts(principal))

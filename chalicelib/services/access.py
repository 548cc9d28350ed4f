"""Loading what a caller asked for, through the permission module, in one read.

Every sub-account route goes through ``load_subaccount``: it reads the sub-account from the
caller's own agency partition (so other tenants' ids are simply absent → 404), applies the
role matrix, and refuses writes by sub-account users while the sub-account is suspended
(423 with the agency's note).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.domain.errors import NotFound, SubaccountSuspended
from chalicelib.domain.roles import (
    Action,
    Principal,
    SubaccountRef,
    authorize,
    refuses_while_suspended,
)
from chalicelib.store import keys
from chalicelib.store.accounts import Agency, Subaccount
from chalicelib.store.base import TableItem, read_items


def ref_of(sub: Subaccount) -> SubaccountRef:
    """The permission-module view of a sub-account."""
    return SubaccountRef(
        subaccount_id=sub.subaccount_id,
        agency_id=sub.agency_id,
        is_primary=bool(sub.is_primary),
        suspended=sub.status == "suspended",
    )


def get_subaccount(agency_id: str, subaccount_id: str) -> Subaccount:
    """A live (not removed) sub-account of the agency, or NotFound."""
    if not subaccount_id or len(subaccount_id) > 64:
        raise NotFound("subaccount not found")
    try:
        sub = Subaccount.get(keys.agency_pk(agency_id), keys.subaccount_sk(subaccount_id),
                             consistent_read=True)
    except Subaccount.DoesNotExist:
        raise NotFound("subaccount not found") from None
    if sub.status == "removed":
        raise NotFound("subaccount not found")
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


def load_subaccount_with(principal: Principal, subaccount_id: str, action: Action,
                         also: Sequence[str]) -> tuple[Subaccount, dict[str, TableItem]]:
    """``load_subaccount`` plus other items of the agency partition (their sort keys) in the
    same BatchGetItem: one round trip where a route needs the sub-account and, say, its
    payment profile. The extra items are returned by sort key (absent ones left out) and
    only after the access checks passed."""
    if not subaccount_id or len(subaccount_id) > 64:
        raise NotFound("subaccount not found")
    pk, sub_sk = keys.agency_pk(principal.agency_id), keys.subaccount_sk(subaccount_id)
    found = {sk: item for (_, sk), item in read_items(
        [(pk, sub_sk), *((pk, sk) for sk in also)]).items()}
    sub = found.pop(sub_sk, None)
    if not isinstance(sub, Subaccount) or sub.status == "removed":
        raise NotFound("subaccount not found")
    _authorize_on(principal, sub, action)
    return sub, found


def _authorize_on(principal: Principal, sub: Subaccount, action: Action) -> None:
    authorize(principal, action, ref_of(sub))
    if sub.status == "suspended" and refuses_while_suspended(principal, action):
        raise suspension_error(sub)


def get_agency(agency_id: str) -> Agency:
    """The caller's agency (active or not)."""
    try:
        return Agency.get(keys.agency_pk(agency_id), keys.AGENCY_SK, consistent_read=True)
    except Agency.DoesNotExist:
        raise NotFound("agency not found") from None


def visible_subaccounts(principal: Principal) -> list[Subaccount]:
    """Every live sub-account the principal can see: one Query on the agency partition."""
    from chalicelib.domain.roles import can_see

    subs = Subaccount.query(
        keys.agency_pk(principal.agency_id),
        Subaccount.SK.startswith(keys.SUBACCOUNT_PREFIX),
        consistent_read=True,
    )
    return [s for s in subs if s.status != "removed" and can_see(principal, ref_of(s))]


@dataclass(frozen=True)
class Reach:
    """What ``GET /v1/me`` tells a user: its agency (branding) and the sub-accounts it sees."""

    agency: Agency
    subaccounts: list[Subaccount]


def reach_of(principal: Principal) -> Reach:
    """The caller's agency and visible sub-accounts (a GetItem and one Query)."""
    return Reach(get_agency(principal.agency_id), visible_subaccounts(principal))

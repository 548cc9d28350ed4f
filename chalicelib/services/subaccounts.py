"""Sub-accounts: list and read them with their wallets, create one under the plan cap, edit.

Each write is one ``TransactWriteItems`` carrying its audit event, with conditions instead of
read-modify-write:

- create takes a slot of the agency's plan under ``used < cap``, so two concurrent creates
  at cap-1 cannot both win, and claims the login email through the invitation of the
  sub-account's login user (one claim, system-wide);
- an edit requires the price version and login email it read, so the audit's "before" is
  true; a new login email moves the claim and follows it on the login user or invitation.

Suspend / restore are in ``chalicelib.services.suspensions``, removal in
``chalicelib.services.removals``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from chalicelib.domain.errors import Conflict, DomainError, ValidationFailed
from chalicelib.domain.ledger import WALLET_ASSETS, wallet
from chalicelib.domain.money import parse_usd, render_usd
from chalicelib.domain.plans import BASE_COST_MICROS, PLANS
from chalicelib.domain.roles import Action, Principal, Role, authorize_agency, can_see
from chalicelib.observability import logger
from chalicelib.services.access import get_agency, get_subaccount, load_subaccount, ref_of
from chalicelib.services.agencies import claim_email_op, new_id
from chalicelib.services.audit import audit_op
from chalicelib.services.identity import (
    SUBACCOUNT_LOGIN_CLAIM,
    create_invitation_ops,
    resend_invitation,
    send_invitation_email,
)
from chalicelib.services.ports import now
from chalicelib.store import subaccount_logins, subaccounts
from chalicelib.store.accounts import EmailClaim, User
from chalicelib.store.identity import Invitation, get_invitation
from chalicelib.store.ledger import BalanceView, read_balances, read_many_balances
from chalicelib.store.subaccounts import Subaccount
from chalicelib.store.transact import Op, commit

__all__ = [
    "LoginHolder", "Subaccount", "SubaccountView", "audit_summary", "create_subaccount",
    "get_subaccount_view", "list_subaccounts", "login_holder", "login_release_ops",
    "parse_price", "primary_protected", "update_subaccount",
]

#: The role of the user a sub-account's login email is invited as.
LOGIN_ROLE = Role.SUBACCOUNT_ADMIN


def primary_protected() -> Conflict:
    """The 409 for suspending, removing or re-pricing the primary sub-account."""
    return Conflict("the primary sub-account cannot be suspended, removed or re-priced",
                    code="primary_subaccount")


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class SubaccountView:
    """A sub-account and the balances of its wallet (by asset)."""

    sub: Subaccount
    balances: dict[str, BalanceView]


def _wallet_of(sub: Subaccount) -> dict[str, BalanceView]:
    """The balances of the sub-account's wallet: one Query."""
    return read_balances(sub.agency_id, wallet(sub.subaccount_id))


def get_subaccount_view(principal: Principal, subaccount_id: str) -> SubaccountView:
    """One sub-account the caller can see, with its wallet."""
    sub = load_subaccount(principal, subaccount_id, Action.VIEW_SUBACCOUNT)
    return SubaccountView(sub, _wallet_of(sub))


def list_subaccounts(principal: Principal, *, limit: int, cursor: str | None
                     ) -> tuple[list[SubaccountView], str | None]:
    """One page of the sub-accounts the caller may see, each with its wallet.

    One Query on the agency partition, then one BatchGetItem for every balance on the page
    (no query per sub-account). Sub-accounts outside the caller's access are skipped, so a page can
    be shorter than ``limit`` while ``next_cursor`` still leads on.
    """
    page, next_cursor = subaccounts.page_of(principal.agency_id, limit=limit, cursor=cursor)
    visible = [sub for sub in page if can_see(principal, ref_of(sub))]
    balances = read_many_balances(principal.agency_id,
                                  [wallet(sub.subaccount_id) for sub in visible], WALLET_ASSETS)
    return [SubaccountView(sub, balances[wallet(sub.subaccount_id)])
            for sub in visible], next_cursor


# --------------------------------------------------------------------------- input rules


def parse_price(tier: str, value: object) -> int:
    """A per-minute price in micro-USD: ≤ 6 decimals and ≥ the tier's base cost (else 422)."""
    field = f"prices.{tier}"
    micros = parse_usd(value, field, max_decimals=6)
    base = BASE_COST_MICROS[tier]
    if micros < base:
        raise ValidationFailed(
            f"the {tier} price must be at least the base cost of {render_usd(base)} per minute",
            code="price_below_base_cost",
            details={"field": field, "base_cost": render_usd(base)},
        )
    return micros


def _prices_view(basic: int, premium: int) -> dict[str, str]:
    return {"basic": render_usd(basic), "premium": render_usd(premium)}


def audit_summary(sub: Subaccount) -> dict[str, Any]:
    """What the audit log keeps of a sub-account's settings."""
    return {
        "name": sub.name,
        "login_email": sub.login_email,
        "prices": _prices_view(sub.price_basic, sub.price_premium),
        "subscription_start": sub.subscription_start,
    }


# --------------------------------------------------------------------------- create


def create_subaccount(principal: Principal, *, name: str, login_email: str,
                      prices: dict[str, object], subscription_start: date | None
                      ) -> SubaccountView:
    """Create a secondary sub-account under the plan cap, and invite its login user.

    One transaction: the sub-account, its pointer, the slot (``used < cap``; 409
    ``plan_limit_reached``), the login user's invitation (``subaccount_admin`` with access to
    this sub-account only) which claims the login email system-wide (409 ``email_taken``),
    and the audit events. The invitation email goes out after the commit.
    """
    authorize_agency(principal, Action.CREATE_SUBACCOUNT)
    price_basic = parse_price("basic", prices.get("basic"))
    price_premium = parse_price("premium", prices.get("premium"))
    agency = get_agency(principal.agency_id)
    plan = PLANS.get(agency.plan)
    cap = plan.subaccount_cap if plan else None
    at = now()
    sid = new_id("sub")
    sub = subaccounts.new(agency_id=agency.agency_id, subaccount_id=sid, name=name,
                          login_email=login_email, price_basic=price_basic,
                          price_premium=price_premium,
                          subscription_start=subscription_start or at.date(), at=at)
    invitation_ops, invitation, token = create_invitation_ops(
        agency.agency_id, principal.user_id, login_email, LOGIN_ROLE.value, False, [sid],
        claim_owner_type=SUBACCOUNT_LOGIN_CLAIM,
    )
    commit([
        *subaccounts.create_ops(sub, plan=agency.plan, cap=cap),
        *invitation_ops,
        audit_op(agency.agency_id, principal.user_id, "subaccount.created", subaccount_id=sid,
                 target=sid, after=audit_summary(sub), at=at),
    ])
    try:
        send_invitation_email(invitation, token)
    except Exception:  # the sub-account exists; the invitation can be resent
        logger.exception("login invitation email failed", extra={"subaccount_id": sid})
    return SubaccountView(sub, _wallet_of(sub))


# --------------------------------------------------------------------------- edit


def update_subaccount(principal: Principal, subaccount_id: str, *, name: str | None = None,
                      login_email: str | None = None,
                      prices: dict[str, object] | None = None,
                      subscription_start: date | None = None) -> SubaccountView:
    """Change name, login email, prices (bumps ``price_version``) or billing anchor.

    The primary keeps its base-cost prices, its anchor (the agency's) and its login email (the
    owner's): changing any of them is 409 ``primary_subaccount``; its name may change.
    """
    sub = load_subaccount(principal, subaccount_id, Action.MANAGE_SUBACCOUNT)
    if name is None and login_email is None and not prices and subscription_start is None:
        raise ValidationFailed("nothing to change")
    if sub.is_primary and (login_email is not None or prices or subscription_start):
        raise primary_protected()
    at = now()
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    ops: list[Op] = []
    post_commit: list[Callable[[], None]] = []
    new_name = new_start = new_email = None
    new_prices: tuple[int, int] | None = None
    if name is not None and name != sub.name:
        new_name = name
        before["name"], after["name"] = sub.name, name
    if subscription_start is not None and subscription_start.isoformat() != sub.subscription_start:
        new_start = subscription_start
        before["subscription_start"] = sub.subscription_start
        after["subscription_start"] = subscription_start.isoformat()
    if login_email is not None and login_email != sub.login_email:
        new_email = login_email
        before["login_email"], after["login_email"] = sub.login_email, login_email
        email_ops, post_commit = _login_email_ops(principal, sub, login_email)
        ops.extend(email_ops)
    if after:
        ops.append(audit_op(sub.agency_id, principal.user_id, "subaccount.updated",
                            subaccount_id=sub.subaccount_id, target=sub.subaccount_id,
                            before=before, after=after, at=at))
    if prices:
        basic = parse_price("basic", prices["basic"]) if prices.get("basic") is not None \
            else sub.price_basic
        premium = parse_price("premium", prices["premium"]) \
            if prices.get("premium") is not None else sub.price_premium
        if (basic, premium) != (sub.price_basic, sub.price_premium):
            new_prices = (basic, premium)
            ops.append(audit_op(
                sub.agency_id, principal.user_id, "subaccount.prices_changed",
                subaccount_id=sub.subaccount_id, target=sub.subaccount_id,
                before={"prices": _prices_view(sub.price_basic, sub.price_premium),
                        "price_version": sub.price_version},
                after={"prices": _prices_view(basic, premium),
                       "price_version": (sub.price_version or 1) + 1},
                at=at))
    if new_name is not None or new_start is not None or new_email is not None \
            or new_prices is not None:
        ops.insert(0, subaccounts.update_op(sub, name=new_name, subscription_start=new_start,
                                            login_email=new_email, prices=new_prices))
        commit(ops)
        for follow_up in post_commit:
            follow_up()
    fresh = get_subaccount(sub.agency_id, sub.subaccount_id)
    return SubaccountView(fresh, _wallet_of(fresh))


# --------------------------------------------------------------------------- the login email


@dataclass(frozen=True)
class LoginHolder:
    """Who holds a sub-account's login email: its claim, and the login user or invitation.

    ``owner`` is None when the sub-account itself holds the claim (nobody was invited).
    """

    claim: EmailClaim
    owner: User | Invitation | None


def _is_login_user(user: User, sub: Subaccount) -> bool:
    # The login user has a sub-account role with access to this sub-account alone; once an
    # admin widens it, it is an ordinary user and the sub-account no longer steers it.
    return (user.role in (Role.SUBACCOUNT_ADMIN.value, Role.SUBACCOUNT_MEMBER.value)
            and not user.access_all
            and list(user.subaccount_ids or []) == [sub.subaccount_id])


def login_holder(sub: Subaccount) -> LoginHolder | None:
    """The holder of ``sub``'s login email when it is the sub-account's own login, else None.

    An address whose claim went elsewhere (the login user was removed and someone else took
    the email) is not the sub-account's to move or free. At most 2 GetItems.
    """
    if not sub.login_email or sub.is_primary:
        return None
    claim = subaccount_logins.claim_of(sub.login_email)
    if claim is None or claim.agency_id != sub.agency_id:
        return None
    if claim.owner_type == SUBACCOUNT_LOGIN_CLAIM:
        if claim.owner_id == sub.subaccount_id:
            return LoginHolder(claim, None)
        invitation = get_invitation(sub.agency_id, claim.owner_id)
        if invitation is not None and list(invitation.subaccount_ids or []) == [
                sub.subaccount_id]:
            return LoginHolder(claim, invitation)
        return None
    if claim.owner_type == "user":
        user = subaccount_logins.user_of(sub.agency_id, claim.owner_id)
        if user is None:
            return None
        return LoginHolder(claim, user) if _is_login_user(user, sub) else None
    return None


def _login_email_ops(principal: Principal, sub: Subaccount, new_email: str
                     ) -> tuple[list[Op], list[Callable[[], None]]]:
    """Move the login email's claim to ``new_email`` and follow it on the login user.

    Whoever holds the old claim holds the new one: the accepted login user (its email changes,
    so it signs in with the new one), or the pending invitation (its email changes; after the
    commit it is resent, so the link reaches the new address and the old link dies). When the
    old address is no longer the sub-account's, the sub-account claims the new one itself.
    """
    holder = login_holder(sub)
    if holder is None or sub.login_email is None:
        return [claim_email_op(new_email, sub.agency_id, SUBACCOUNT_LOGIN_CLAIM,
                               sub.subaccount_id)], []
    ops = [subaccount_logins.release_claim_op(sub.login_email, holder.claim),
           claim_email_op(new_email, sub.agency_id, holder.claim.owner_type,
                          holder.claim.owner_id)]
    post_commit: list[Callable[[], None]] = []
    owner = holder.owner
    if isinstance(owner, User):
        ops.append(subaccount_logins.user_email_op(owner, new_email))
    elif isinstance(owner, Invitation):
        ops.append(subaccount_logins.invitation_email_op(owner, new_email))
        if owner.status == "pending":
            invitation_id = owner.invitation_id
            post_commit.append(lambda: _resend_login_invitation(principal, invitation_id))
    return ops, post_commit


def _resend_login_invitation(principal: Principal, invitation_id: str) -> None:
    """Send the moved login invitation to its new address (a failure leaves it resendable)."""
    try:
        resend_invitation(principal, invitation_id)
    except DomainError:
        logger.exception("resending the login invitation failed",
                         extra={"invitation_id": invitation_id})


def login_release_ops(sub: Subaccount, at: datetime) -> list[Op]:
    """Free the login email; end the login user (tokens die) or revoke its invitation."""
    holder = login_holder(sub)
    if holder is None or sub.login_email is None:
        return []
    ops = [subaccount_logins.release_claim_op(sub.login_email, holder.claim)]
    owner = holder.owner
    if isinstance(owner, User) and owner.status == "active":
        ops.append(subaccount_logins.end_user_op(owner))
    elif isinstance(owner, Invitation) and owner.status == "pending":
        ops += subaccount_logins.revoke_invitation_ops(owner, at=at)
    return ops

"""Stripe Connect onboarding of an agency: the Express account, its links, its status.

The account is created once per agency (Stripe idempotency key ``connect:<aid>`` and our
item saved with ``attribute_not_exists``); every onboarding call returns a fresh account link
to that same account, so an agency that left half-way resumes where it stopped. The status
is whatever the last ``account.updated`` says (``connect_events``), re-derived every time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from chalicelib.domain.errors import Conflict
from chalicelib.domain.payouts import ConnectStatus, derive_connect_state
from chalicelib.domain.roles import Action, Principal, authorize_agency
from chalicelib.services.access import get_agency
from chalicelib.services.audit import audit_op
from chalicelib.store import keys
from chalicelib.store.accounts import User
from chalicelib.store.base import utcnow
from chalicelib.store.connect import ConnectAccount, get_connect_account
from chalicelib.store.transact import commit, save, update


class ConnectNotConnected(Conflict):
    """The action needs a connected Stripe account (e.g. the Express dashboard link)."""

    code = "connect_not_connected"


class ConnectAlreadyStarted(Conflict):
    """Internal: a concurrent onboarding created the Connect item first."""

    code = "connect_already_started"


def render_connect(item: ConnectAccount | None) -> dict[str, Any]:
    """API shape of the agency's Connect state (``not_connected`` when there is no account)."""
    if item is None:
        return {"status": ConnectStatus.NOT_CONNECTED.value, "account_id": None,
                "payouts_enabled": False, "details_submitted": False, "requirements_due": [],
                "disabled_reason": None, "bank_action_needed": False, "bank_failure_code": None}
    return {
        "status": item.status,
        "account_id": item.account_id,
        "payouts_enabled": bool(item.payouts_enabled),
        "details_submitted": bool(item.details_submitted),
        "requirements_due": list(item.requirements_due or []),
        "disabled_reason": item.disabled_reason,
        "bank_action_needed": bool(item.bank_action_needed),
        "bank_failure_code": item.bank_failure_code if item.bank_action_needed else None,
    }


def connect_status(principal: Principal) -> dict[str, Any]:
    """``GET /v1/agency/connect`` (Owner/Admin)."""
    authorize_agency(principal, Action.MANAGE_AGENCY)
    return render_connect(get_connect_account(principal.agency_id))


def _owner_email(agency_id: str, owner_user_id: str) -> str | None:
    try:
        return User.get(keys.agency_pk(agency_id), keys.user_sk(owner_user_id)).email
    except User.DoesNotExist:
        return None


def _today() -> date:
    return datetime.now(UTC).date()


def ensure_connect_account(principal: Principal) -> ConnectAccount:
    """The agency's Connect item, creating the Express account and payout schedule once."""
    from chalicelib.services.payouts import schedule_op
    from chalicelib.stripe_gateway.connect import create_express_account

    existing = get_connect_account(principal.agency_id)
    if existing is not None:
        return existing
    agency = get_agency(principal.agency_id)
    account = create_express_account(agency.agency_id,
                                     _owner_email(agency.agency_id, agency.owner_user_id))
    state = derive_connect_state(account)
    now = utcnow()
    item = ConnectAccount(
        *ConnectAccount.key(agency.agency_id),
        agency_id=agency.agency_id,
        account_id=account["id"],
        status=state.status.value,
        details_submitted=state.details_submitted,
        payouts_enabled=state.payouts_enabled,
        requirements_due=list(state.requirements_due),
        disabled_reason=state.disabled_reason,
        bank_action_needed=False,
        last_event_at=0,
        created_at=now,
        updated_at=now,
        GSI1PK=keys.stripe_lookup_pk(account["id"]),
        GSI1SK="STRIPE",
    )
    try:
        commit([
            save(item, condition=ConnectAccount.PK.does_not_exist(),
                 error=ConnectAlreadyStarted("connect onboarding already started")),
            schedule_op(agency.agency_id, date.fromisoformat(agency.subscription_start),
                        _today(), connect=item),
            audit_op(agency.agency_id, principal.user_id, "connect.onboarding_started",
                     target=account["id"], after={"status": item.status}, at=now),
        ])
    except ConnectAlreadyStarted:
        # A concurrent call won; Stripe's idempotency key gave both the same account.
        current = get_connect_account(principal.agency_id)
        if current is None:  # pragma: no cover - the winner's item is there by now
            raise
        return current
    return item


def start_onboarding(principal: Principal) -> dict[str, Any]:
    """``POST /v1/agency/connect/onboarding``: the same account, a new account link each call."""
    from chalicelib.stripe_gateway.connect import create_onboarding_link

    authorize_agency(principal, Action.MANAGE_AGENCY)
    item = ensure_connect_account(principal)
    link = create_onboarding_link(item.account_id)
    return {"url": link["url"], "account_id": item.account_id, "status": item.status,
            "expires_at": link.get("expires_at")}


def dashboard_link(principal: Principal) -> dict[str, Any]:
    """``POST /v1/agency/connect/dashboard-link``: a fresh Express login link ("See Details").

    Only for a connected account; the link is short-lived and never stored.
    """
    from chalicelib.stripe_gateway.connect import create_login_link

    authorize_agency(principal, Action.MANAGE_AGENCY)
    item = get_connect_account(principal.agency_id)
    if item is None or item.status != ConnectStatus.CONNECTED.value:
        raise ConnectNotConnected(
            "the Stripe dashboard is available once Stripe Connect is connected",
            details={"status": item.status if item else ConnectStatus.NOT_CONNECTED.value})
    return {"url": create_login_link(item.account_id)["url"]}


def account_updated_ops(item: ConnectAccount, account: dict[str, Any],
                        event_created: int) -> list[Any]:
    """The ops that re-derive the Connect state from an ``account.updated`` event.

    An event older than the last one applied changes nothing (Stripe does not promise order).
    ``bank_action_needed`` clears only when the account shows a working bank account.
    """
    from chalicelib.services.notifications import notification_op
    from chalicelib.services.payouts import schedule_connect_op

    if event_created < (item.last_event_at or 0):
        return []
    state = derive_connect_state(account)
    now = utcnow()
    bank_action = bool(item.bank_action_needed) and not state.bank_account_working
    ops: list[Any] = [update(
        ConnectAccount(*ConnectAccount.key(item.agency_id)),
        actions=[
            ConnectAccount.status.set(state.status.value),
            ConnectAccount.details_submitted.set(state.details_submitted),
            ConnectAccount.payouts_enabled.set(state.payouts_enabled),
            ConnectAccount.requirements_due.set(list(state.requirements_due)),
            ConnectAccount.disabled_reason.set(state.disabled_reason)
            if state.disabled_reason else ConnectAccount.disabled_reason.remove(),
            ConnectAccount.bank_action_needed.set(bank_action),
            ConnectAccount.last_event_at.set(event_created),
            ConnectAccount.updated_at.set(now),
        ],
        # A newer event applied meanwhile wins; this one fails and Stripe's retry is a no-op.
        condition=ConnectAccount.last_event_at.does_not_exist()
        | (ConnectAccount.last_event_at <= event_created),
        error=Conflict("a newer account.updated was applied", code="stale_event"),
    ), schedule_connect_op(item.agency_id, state.status.value, state.payouts_enabled)]
    if state.status.value != item.status and state.status in (ConnectStatus.CONNECTED,
                                                              ConnectStatus.RESTRICTED):
        message = ("Stripe Connect is connected: profits will be paid out on your billing "
                   "cycle dates." if state.status == ConnectStatus.CONNECTED else
                   "Stripe restricted your connected account; payouts are paused until the "
                   "requirements are met.")
        ops.append(notification_op(item.agency_id, f"connect_{state.status.value}", message,
                                   data={"account_id": item.account_id,
                                         "requirements_due": list(state.requirements_due),
                                         "disabled_reason": state.disabled_reason}, at=now))
    return ops

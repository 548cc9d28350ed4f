"""Stripe Connect onboarding of an agency: the Express account, its links, its status.

The account is created once per agency (Stripe idempotency key ``connect:<aid>`` and our
item saved with ``attribute_not_exists``); every onboarding call returns a fresh account link
to that same account, so an agency that left half-way resumes where it stopped. The status
is whatever the last ``account.updated`` says (``connect_events``), re-derived every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

from chalicelib.domain.payouts import (
    ConnectAlreadyStarted,
    ConnectNotConnected,
    ConnectStatus,
    PayoutScheduleMissing,
    StaleConnectEvent,
    derive_connect_state,
)
from chalicelib.domain.roles import Action, Principal, authorize_agency
from chalicelib.services.access import get_agency
from chalicelib.services.audit import audit_op
from chalicelib.services.notifications import notification_op
from chalicelib.services.payouts import schedule_op
from chalicelib.services.ports import now
from chalicelib.store import connect_accounts, payout_schedules
from chalicelib.store.connect_accounts import ConnectAccount
from chalicelib.store.transact import Op, commit
from chalicelib.stripe_gateway.connect import (
    create_express_account,
    create_login_link,
    create_onboarding_link,
)


def connect_status(principal: Principal) -> ConnectAccount | None:
    """``GET /v1/agency/connect`` (Owner/Admin): the agency's Connect account, None before
    onboarding (``not_connected``)."""
    authorize_agency(principal, Action.MANAGE_AGENCY)
    return connect_accounts.get(principal.agency_id)


def ensure_connect_account(principal: Principal) -> ConnectAccount:
    """The agency's Connect item, creating the Express account and payout schedule once."""
    existing = connect_accounts.get(principal.agency_id)
    if existing is not None:
        return existing
    agency = get_agency(principal.agency_id)
    account = create_express_account(
        agency.agency_id, connect_accounts.owner_email(agency.agency_id, agency.owner_user_id))
    state = derive_connect_state(account)
    at = now()
    item = connect_accounts.new(agency_id=agency.agency_id, account_id=account["id"],
                                state=state, at=at)
    try:
        commit([
            connect_accounts.create_op(
                item, ConnectAlreadyStarted("connect onboarding already started")),
            schedule_op(agency.agency_id, date.fromisoformat(agency.subscription_start),
                        at.astimezone(UTC).date(), connect=item),
            audit_op(agency.agency_id, principal.user_id, "connect.onboarding_started",
                     target=account["id"], after={"status": item.status}, at=at),
        ])
    except ConnectAlreadyStarted:
        # A concurrent call won; Stripe's idempotency key gave both the same account.
        current = connect_accounts.get(principal.agency_id)
        if current is None:  # pragma: no cover - the winner's item is there by now
            raise
        return current
    return item


@dataclass(frozen=True)
class Onboarding:
    """A fresh account link to the agency's Express account."""

    url: str
    account_id: str
    status: str
    expires_at: int | None


def start_onboarding(principal: Principal) -> Onboarding:
    """``POST /v1/agency/connect/onboarding``: the same account, a new account link each call."""
    authorize_agency(principal, Action.MANAGE_AGENCY)
    item = ensure_connect_account(principal)
    link = create_onboarding_link(item.account_id)
    return Onboarding(url=link["url"], account_id=item.account_id, status=item.status,
                      expires_at=link.get("expires_at"))


def dashboard_link(principal: Principal) -> str:
    """``POST /v1/agency/connect/dashboard-link``: a fresh Express login link ("See Details").

    Only for a connected account; the link is short-lived and never stored.
    """
    authorize_agency(principal, Action.MANAGE_AGENCY)
    item = connect_accounts.get(principal.agency_id)
    if item is None or item.status != ConnectStatus.CONNECTED.value:
        raise ConnectNotConnected(
            "the Stripe dashboard is available once Stripe Connect is connected",
            details={"status": item.status if item else ConnectStatus.NOT_CONNECTED.value})
    return str(create_login_link(item.account_id)["url"])


def account_updated_ops(item: ConnectAccount, account: dict[str, Any],
                        event_created: int) -> list[Op]:
    """The ops that re-derive the Connect state from an ``account.updated`` event.

    An event older than the last one applied changes nothing (Stripe does not promise order).
    ``bank_action_needed`` clears only when the account shows a working bank account.
    """
    if event_created < (item.last_event_at or 0):
        return []
    state = derive_connect_state(account)
    at = now()
    bank_action = bool(item.bank_action_needed) and not state.bank_account_working
    ops: list[Op] = [
        # A newer event applied meanwhile wins; this one fails and Stripe's retry is a no-op.
        connect_accounts.apply_state_op(
            item, state, bank_action_needed=bank_action, event_created=event_created, at=at,
            error=StaleConnectEvent("a newer account.updated was applied")),
        # The sweep decides from the schedule's copy: it changes in the same transaction.
        payout_schedules.copy_connect_state_op(
            item.agency_id, state.status.value, state.payouts_enabled,
            PayoutScheduleMissing("the payout schedule is missing")),
    ]
    if state.status.value != item.status and state.status in (ConnectStatus.CONNECTED,
                                                              ConnectStatus.RESTRICTED):
        message = ("Stripe Connect is connected: profits will be paid out on your billing "
                   "cycle dates." if state.status == ConnectStatus.CONNECTED else
                   "Stripe restricted your connected account; payouts are paused until the "
                   "requirements are met.")
        ops.append(notification_op(item.agency_id, f"connect_{state.status.value}", message,
                                   data={"account_id": item.account_id,
                                         "requirements_due": list(state.requirements_due),
                                         "disabled_reason": state.disabled_reason}, at=at))
    return ops

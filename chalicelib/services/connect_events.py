"""Stripe Connect webhook handlers: ``account.updated``, ``payout.paid``, ``payout.failed``
(events of connected accounts, from the Connect endpoint), and ``transfer.created`` and
``transfer.reversed`` (the platform's own: transfers are made from the platform's balance).

Connect events carry the connected account id in ``event["account"]``; the agency is found
from it through GSI1 (``STRIPE#<acct id>`` on the agency's ConnectAccount item). An event of
an account we do not know is a no-op (recorded, not retried).

Before anything changes, the object is retrieved from Stripe (the account, the payout of
that connected account, the transfer) and checked against what we recorded: the event's
account must be the agency's, the transfer its payout's. The retrieved object's state is
what is applied; a mismatch raises ``EventMismatch`` (see ``services.webhooks``).
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.money import micros_to_cents
from chalicelib.domain.payouts import PayoutStatus, transfer_attempt
from chalicelib.observability import count, logger
from chalicelib.services.access import get_agency
from chalicelib.services.connect import account_updated_ops
from chalicelib.services.email import send_email
from chalicelib.services.payouts import (
    fail_transfer,
    payout_failed_ops,
    payout_paid_ops,
    record_transfer,
)
from chalicelib.services.webhooks import Effect, check_against_stripe, missing_at_stripe, on
from chalicelib.store import connect_accounts, payouts
from chalicelib.store.connect_accounts import ConnectAccount
from chalicelib.store.payouts import Payout
from chalicelib.store.transact import Op
from chalicelib.stripe_gateway.connect import fetch_account, fetch_payout, fetch_transfer


def _object(event: dict[str, Any]) -> dict[str, Any]:
    obj = (event.get("data") or {}).get("object")
    return obj if isinstance(obj, dict) else {}


def _connect_of(event: dict[str, Any]) -> ConnectAccount | None:
    """The agency's Connect item of the event's account (only Connect events reach here)."""
    account_id = event.get("account")
    if not isinstance(account_id, str) or not account_id:
        return None
    item = connect_accounts.of_stripe_account(account_id)
    if item is None:
        logger.info("Connect event of an unknown account ignored",
                    extra={"event_type": event.get("type"), "account_id": account_id})
    return item


@on("account.updated", connect=True)
def account_updated(event: dict[str, Any]) -> list[Op]:
    """Re-derive the Connect status (and the bank flag) from the account as Stripe has it."""
    item = _connect_of(event)
    if item is None:
        return []
    created = int(event.get("created") or 0)
    if created < (item.last_event_at or 0):
        return []  # older than the state applied last: nothing to look up
    # The account an account.updated describes is the one it happened on.
    check_against_stripe(item.agency_id, item.account_id,
                         {"account_id": (item.account_id, _object(event).get("id"))})
    account = fetch_account(item.account_id)
    if account is None:
        raise missing_at_stripe(item.agency_id, item.account_id)
    owner = (account.get("metadata") or {}).get("agency_id")
    check_against_stripe(item.agency_id, item.account_id, {
        "account_id": (item.account_id, account.get("id")),
        "agency_id": (item.agency_id, owner or item.agency_id)})
    return account_updated_ops(item, account, created)


def _verified_payout(item: ConnectAccount, event: dict[str, Any], claimed_status: str
                     ) -> dict[str, Any] | None:
    """The connected account's payout the event names, as Stripe has it (``EventMismatch``
    when the account has no such payout, or Stripe contradicts the event). None when Stripe
    says the payout failed after an earlier ``paid``: the ``payout.failed`` event acts."""
    payout_id = _object(event).get("id")
    if not isinstance(payout_id, str) or not payout_id:
        raise ValueError("a payout without an id")
    payout = fetch_payout(payout_id, item.account_id)  # asked of the agency's own account
    if payout is None:
        raise missing_at_stripe(item.agency_id, payout_id)
    check_against_stripe(item.agency_id, payout_id, {"currency": ("usd", payout.get("currency"))})
    if claimed_status == "paid" and payout.get("status") == "failed":
        logger.info("payout failed after it was paid; its payout.failed applies",
                    extra={"stripe_payout_id": payout_id})
        return None
    check_against_stripe(item.agency_id, payout_id,
                         {"status": (claimed_status, payout.get("status"))})
    return payout


@on("payout.paid", connect=True)
def payout_paid(event: dict[str, Any]) -> list[Op]:
    """The connected account's bank received the money: in-transit payouts become paid."""
    item = _connect_of(event)
    if item is None:
        return []
    payout = _verified_payout(item, event, "paid")
    return [] if payout is None else payout_paid_ops(item, payout)


@on("payout.failed", connect=True)
def payout_failed(event: dict[str, Any]) -> list[Op] | Effect:
    """The bank refused the connected account's payout: stage ``bank``, flag, notify, email.

    The email follows the committed effect, once (the core's after-commit step).
    """
    item = _connect_of(event)
    if item is None:
        return []
    payout = _verified_payout(item, event, "failed")
    if payout is None:  # pragma: no cover - only a ``paid`` claim can be superseded
        return []
    failure_code = str(payout.get("failure_code") or "")
    return Effect(payout_failed_ops(item, payout),
                  after=lambda: _email_owner_bank_failure(item.agency_id, failure_code))


def _email_owner_bank_failure(agency_id: str, failure_code: str) -> None:
    """Count the bank failure (alarm ``BankPayoutsFailed``) and tell the agency owner that
    the bank details need fixing (best effort, logged). Runs once, after the winning commit."""
    count("BankPayoutsFailed")
    try:
        agency = get_agency(agency_id)
        email = connect_accounts.owner_email(agency_id, agency.owner_user_id)
        if email is None:
            logger.warning("bank failure email not sent: the owner is gone",
                           extra={"agency_id": agency_id})
            return
        send_email(
            email,
            "Action needed: your payout bank details need fixing",
            f"Hello,\n\nYour bank refused the latest payout of {agency.name}'s profit "
            f"(reason: {failure_code or 'unknown'}). The money is safe in your Stripe balance. "
            "Open Stripe Connect from your dashboard (Account Manager → Stripe) and update your "
            "bank account; the next payout will then go through.\n",
        )
    except Exception:  # the effect is committed; a lost email must not make Stripe retry
        logger.exception("bank failure email not sent", extra={"agency_id": agency_id})


def _payout_of_transfer(transfer: dict[str, Any]) -> Payout | None:
    metadata = transfer.get("metadata") or {}
    agency_id, cycle = metadata.get("agency_id"), metadata.get("cycle_date")
    attempt = transfer_attempt(metadata)
    if not isinstance(agency_id, str) or not isinstance(cycle, str) or attempt is None:
        return None
    payout = payouts.get(agency_id, cycle, attempt)
    if payout is None or payout.payout_id != metadata.get("payout_id"):
        return None
    return payout


def _verified_transfer(payout: Payout, transfer_id: Any) -> dict[str, Any]:
    """Stripe's transfer ``transfer_id``, checked against the payout it claims to pay
    (``EventMismatch`` when Stripe has no such transfer, or it pays something else)."""
    if not isinstance(transfer_id, str) or not transfer_id:
        raise ValueError("a transfer without an id")
    transfer = fetch_transfer(transfer_id)
    if transfer is None:
        raise missing_at_stripe(payout.agency_id, transfer_id)
    metadata = transfer.get("metadata") or {}
    check_against_stripe(payout.agency_id, transfer_id, {
        "transfer_id": (payout.transfer_id or transfer_id, transfer.get("id")),
        "payout_id": (payout.payout_id, metadata.get("payout_id")),
        "agency_id": (payout.agency_id, metadata.get("agency_id")),
        "destination": (payout.account_id, transfer.get("destination")),
        "amount_cents": (micros_to_cents(payout.amount_micros), transfer.get("amount")),
        "currency": ("usd", transfer.get("currency")),
    })
    return transfer


@on("transfer.created")
def transfer_created(event: dict[str, Any]) -> list[Op]:
    """Attach a transfer whose answer we never got (a crash after Stripe created it)."""
    claimed = _object(event)
    payout = _payout_of_transfer(claimed)
    if payout is None or payout.transfer_id or payout.status != PayoutStatus.IN_TRANSIT.value:
        return []
    transfer = _verified_transfer(payout, claimed.get("id"))
    record_transfer(payout, str(transfer["id"]))
    return []


@on("transfer.reversed")
def transfer_reversed(event: dict[str, Any]) -> list[Op]:
    """A transfer that Stripe reports fully reversed came back to the platform: the amount
    returns to the profit. A partial reversal is left to reconciliation (it reports the
    difference)."""
    claimed = _object(event)
    payout = _payout_of_transfer(claimed)
    if payout is None or payout.status != PayoutStatus.IN_TRANSIT.value:
        return []
    transfer = _verified_transfer(payout, claimed.get("id"))
    reversed_cents, amount = int(transfer.get("amount_reversed") or 0), int(transfer["amount"])
    # ``amount_reversed`` only grows: claiming more than Stripe reversed is no delay.
    claimed_reversed = int(claimed.get("amount_reversed") or 0)
    if claimed_reversed > reversed_cents:
        check_against_stripe(payout.agency_id, str(transfer["id"]),
                             {"amount_reversed": (claimed_reversed, reversed_cents)})
    if reversed_cents < amount:
        logger.warning("partial transfer reversal needs review",
                       extra={"transfer_id": transfer["id"], "agency_id": payout.agency_id})
        return []
    fail_transfer(payout, "transfer_reversed", transfer_sent=True)
    return []

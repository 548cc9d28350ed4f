"""Stripe Connect webhook handlers: ``account.updated``, ``payout.paid``, ``payout.failed``,
``transfer.created`` and ``transfer.reversed``.

Connect events carry the connected account id in ``event["account"]``; the agency is found
from it through GSI1 (``STRIPE#<acct id>`` on the agency's ConnectAccount item). An event of
an account we do not know is a no-op (recorded, not retried).
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.domain.payouts import PayoutStatus, transfer_attempt
from chalicelib.services.webhooks import Effect, on
from chalicelib.store.connect import ConnectAccount, find_connect_account, get_payout
from chalicelib.store.transact import Op

log = logging.getLogger(__name__)


def _object(event: dict[str, Any]) -> dict[str, Any]:
    obj = (event.get("data") or {}).get("object")
    return obj if isinstance(obj, dict) else {}


def _connect_of(event: dict[str, Any]) -> ConnectAccount | None:
    account_id = event.get("account") or (
        _object(event).get("id") if event.get("type") == "account.updated" else None)
    if not isinstance(account_id, str) or not account_id:
        return None
    item = find_connect_account(account_id)
    if item is None:
        log.info("%s for unknown account %s ignored", event.get("type"), account_id)
    return item


@on("account.updated")
def account_updated(event: dict[str, Any]) -> list[Op]:
    """Re-derive the Connect status (and the bank flag) from the account object."""
    from chalicelib.services.connect import account_updated_ops

    item = _connect_of(event)
    if item is None:
        return []
    return account_updated_ops(item, _object(event), int(event.get("created") or 0))


@on("payout.paid")
def payout_paid(event: dict[str, Any]) -> list[Op]:
    """The connected account's bank received the money: in-transit payouts become paid."""
    from chalicelib.services.payouts import payout_paid_ops

    item = _connect_of(event)
    if item is None:
        return []
    return payout_paid_ops(item, _object(event))


@on("payout.failed")
def payout_failed(event: dict[str, Any]) -> list[Op] | Effect:
    """The bank refused the connected account's payout: stage ``bank``, flag, notify, email.

    The email follows the committed effect, once (the core's after-commit step).
    """
    from chalicelib.services.payouts import payout_failed_ops

    item = _connect_of(event)
    if item is None:
        return []
    stripe_payout = _object(event)
    failure_code = str(stripe_payout.get("failure_code") or "")
    return Effect(payout_failed_ops(item, stripe_payout),
                  after=lambda: _email_owner_bank_failure(item.agency_id, failure_code))


def _email_owner_bank_failure(agency_id: str, failure_code: str) -> None:
    """Tell the agency owner that the bank details need fixing (best effort, logged)."""
    from chalicelib.services.access import get_agency
    from chalicelib.services.email import send_email
    from chalicelib.store import keys
    from chalicelib.store.accounts import User

    try:
        agency = get_agency(agency_id)
        owner = User.get(keys.agency_pk(agency_id), keys.user_sk(agency.owner_user_id))
        send_email(
            owner.email,
            "Action needed: your payout bank details need fixing",
            f"Hello,\n\nYour bank refused the latest payout of {agency.name}'s profit "
            f"(reason: {failure_code or 'unknown'}). The money is safe in your Stripe balance. "
            "Open Stripe Connect from your dashboard (Account Manager → Stripe) and update your "
            "bank account; the next payout will then go through.\n",
        )
    except Exception:  # the effect is committed; a lost email must not make Stripe retry
        log.exception("bank failure email for agency %s not sent", agency_id)


def _payout_of_transfer(transfer: dict[str, Any]) -> Any:
    metadata = transfer.get("metadata") or {}
    agency_id, cycle = metadata.get("agency_id"), metadata.get("cycle_date")
    attempt = transfer_attempt(metadata)
    if not isinstance(agency_id, str) or not isinstance(cycle, str) or attempt is None:
        return None
    payout = get_payout(agency_id, cycle, attempt)
    if payout is None or payout.payout_id != metadata.get("payout_id"):
        return None
    return payout


@on("transfer.created")
def transfer_created(event: dict[str, Any]) -> list[Op]:
    """Attach a transfer whose answer we never got (a crash after Stripe created it)."""
    from chalicelib.services.payouts import record_transfer

    transfer = _object(event)
    payout = _payout_of_transfer(transfer)
    if payout is not None and not payout.transfer_id and transfer.get("id"):
        record_transfer(payout, str(transfer["id"]))
    return []


@on("transfer.reversed")
def transfer_reversed(event: dict[str, Any]) -> list[Op]:
    """A fully reversed transfer came back to the platform: the amount returns to the profit.

    A partial reversal is left to reconciliation (it reports the difference).
    """
    from chalicelib.services.payouts import fail_transfer

    transfer = _object(event)
    payout = _payout_of_transfer(transfer)
    if payout is None or payout.status != PayoutStatus.IN_TRANSIT.value:
        return []
    if int(transfer.get("amount_reversed") or 0) < int(transfer.get("amount") or 0):
        log.warning("partial reversal of transfer %s needs review", transfer.get("id"))
        return []
    fail_transfer(payout, "transfer_reversed", transfer_sent=True)
    return []

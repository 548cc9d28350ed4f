"""Stripe webhook handlers of the payments area (registered on import by the webhook core).

Each handler reads what it needs and returns the ops of its effect; the core commits them in
ONE transaction with the event's marker. Ledger transaction ids come from Stripe ids
(``refund:<charge>:<amount_refunded>``, ``dispute:<dispute>``, ``dispute-won:<dispute>``,
``dispute-lost:<dispute>:<amount>``) or from the purchase
(``purchase:<pid>``), so a redelivered or concurrent event never moves value twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.ledger import (
    AGENCY_PROFIT,
    Code,
    LedgerTransaction,
    Posting,
    card_payments,
    platform_revenue,
    profit_held,
    supply,
    wallet,
)
from chalicelib.domain.money import cents_to_micros
from chalicelib.services.access import get_agency
from chalicelib.services.notifications import notification_op
from chalicelib.services.payments import failure_ops, success_ops
from chalicelib.services.webhooks import on
from chalicelib.store import payments as store
from chalicelib.store.base import utcnow
from chalicelib.store.ledger import ledger_ops, read_balance
from chalicelib.store.payments import Purchase
from chalicelib.store.stats import stats_op
from chalicelib.store.transact import Op, update
from chalicelib.stripe_gateway.payments import intent_result

log = logging.getLogger(__name__)


class PurchaseNotSettled(Conflict):
    """A refund or dispute arrived for a purchase not credited yet: Stripe retries later."""

    code = "purchase_not_settled"


def _object(event: dict[str, Any]) -> dict[str, Any]:
    obj = (event.get("data") or {}).get("object")
    return obj if isinstance(obj, dict) else {}


def _purchase_of_intent(intent_id: str | None, metadata: dict[str, Any] | None = None
                        ) -> Purchase | None:
    """Our purchase for a PaymentIntent: from its metadata, else GSI1, else Stripe's metadata."""
    metadata = metadata or {}
    agency_id, purchase_id = metadata.get("agency_id"), metadata.get("purchase_id")
    if agency_id and purchase_id:
        return store.get_purchase(str(agency_id), str(purchase_id))
    if not intent_id:
        return None
    found = store.find_purchase_by_intent(intent_id)
    if found is not None:
        return found
    # GSI1 is eventually consistent: ask Stripe for the intent's metadata instead.
    from chalicelib.stripe_gateway.payments import retrieve_intent

    intent = retrieve_intent(intent_id)
    if intent.metadata.get("agency_id") and intent.metadata.get("purchase_id"):
        return store.get_purchase(intent.metadata["agency_id"], intent.metadata["purchase_id"])
    return None


@on("payment_intent.succeeded")
def intent_succeeded(event: dict[str, Any]) -> list[Op]:
    """Credit the purchase (same transaction id as the synchronous path: posted once)."""
    intent = intent_result(_object(event))
    purchase = _purchase_of_intent(intent.payment_intent_id, intent.metadata)
    if purchase is None or purchase.status == "succeeded":
        return []
    if intent.amount_cents != purchase.amount_cents:
        log.error("intent %s amount %s differs from purchase %s", intent.payment_intent_id,
                  intent.amount_cents, purchase.purchase_id)
    return success_ops(purchase, intent.payment_intent_id, intent.charge_id)


@on("payment_intent.payment_failed")
def intent_failed(event: dict[str, Any]) -> list[Op]:
    """A pending purchase fails (nothing was credited); a notification says so."""
    intent = intent_result(_object(event))
    purchase = _purchase_of_intent(intent.payment_intent_id, intent.metadata)
    if purchase is None or purchase.status != "pending":
        return []
    # Conditioned on ``pending``: if the request marked it failed meanwhile, the core
    # records this event alone (``AlreadyPosted``).
    return failure_ops(purchase, code=intent.failure_code or "card_declined",
                       decline_code=intent.decline_code, message="the payment failed",
                       intent_id=intent.payment_intent_id)


def _agency_timezone(agency_id: str) -> str | None:
    """The agency's timezone now (a refund is counted on today's local date, whatever the
    timezone was when the purchase was made)."""
    try:
        return get_agency(agency_id).timezone
    except NotFound:
        return None


def refund_ops(purchase: Purchase, charge_id: str, amount_refunded_cents: int) -> list[Op]:
    """Reverse what a (partial, cumulative) refund takes back.

    The refunded share of the charge goes back to the card; the profit is reversed in the
    same share (all of it for a full refund; the profit balance may go negative, which the
    next payout nets out); the minutes of that share are taken back only as far as they are
    unused (never below zero); the rest of the cash comes out of platform revenue.
    """
    return _take_back_ops(purchase, amount_refunded_cents, Code.REFUND,
                          lambda cents: f"refund:{charge_id}:{cents}",
                          kind="purchase_refunded", what="was refunded",
                          extra={"charge_id": charge_id})


def _take_back_ops(purchase: Purchase, amount_refunded_cents: int, code: Code,
                   transaction_id: Callable[[int], str], *, kind: str, what: str,
                   extra: dict[str, Any]) -> list[Op]:
    """The ops of money going back to the card: a refund, or a dispute the agency lost.

    ``amount_refunded_cents`` is cumulative (what has gone back in all); only the part
    beyond ``purchase.refunded_cents`` is reversed now. ``transaction_id`` names the ledger
    transaction from the clamped cumulative amount, so a redelivery posts nothing twice.
    """
    previous = purchase.refunded_cents or 0
    total = purchase.amount_cents
    if amount_refunded_cents <= previous or total <= 0:
        return []
    amount_refunded_cents = min(amount_refunded_cents, total)
    refund_micros = cents_to_micros(amount_refunded_cents - previous)
    target_profit = purchase.profit_micros * amount_refunded_cents // total
    profit_delta = max(target_profit - (purchase.profit_reversed_micros or 0), 0)
    from_held = min(profit_delta, purchase.profit_held_micros or 0)
    from_profit = profit_delta - from_held
    revenue_delta = refund_micros - profit_delta
    sid = purchase.subaccount_id
    postings: list[Posting] = []
    taken = 0
    for asset, seconds in purchase.seconds_by_asset.items():
        share = seconds * amount_refunded_cents // total - seconds * previous // total
        available = read_balance(purchase.agency_id, wallet(sid), asset).balance
        take = max(min(share, available), 0)
        if take:
            postings += [Posting(wallet(sid), asset, -take), Posting(supply(sid), asset, take)]
            taken += take
    usd = [
        (card_payments(purchase.payer_subaccount_id), refund_micros),
        (platform_revenue(sid), -revenue_delta),
        (AGENCY_PROFIT, -from_profit),
        (profit_held(purchase.purchase_id), -from_held),
    ]
    postings += [Posting(account, "usd", amount) for account, amount in usd if amount]
    tx = LedgerTransaction(
        agency_id=purchase.agency_id,
        transaction_id=transaction_id(amount_refunded_cents),
        code=code, postings=tuple(postings), subaccount_id=sid,
        memo=f"{purchase.source} {purchase.purchase_id} {what}",
        metadata={"purchase_id": purchase.purchase_id, **extra,
                  "refunded_cents": amount_refunded_cents - previous,
                  "seconds_reversed": taken},
    )
    now = utcnow()
    return [
        *ledger_ops(tx, now),
        update(Purchase(purchase.PK, purchase.SK), [
            Purchase.refunded_cents.set(amount_refunded_cents),
            Purchase.refunded_seconds.add(taken),
            Purchase.profit_reversed_micros.add(profit_delta),
            Purchase.profit_held_micros.add(-from_held),
        ], condition=Purchase.refunded_cents == previous,
            error=PurchaseNotSettled("the purchase's refund state changed; retry")),
        stats_op(purchase.agency_id, sid, now, _agency_timezone(purchase.agency_id),
                 refunds_micros=refund_micros,
                 profit_micros=-profit_delta),
        notification_op(purchase.agency_id, kind,
                        f"A payment of {purchase.source} {purchase.purchase_id} {what}.",
                        subaccount_id=sid,
                        data={"purchase_id": purchase.purchase_id, **extra,
                              "refunded_cents": amount_refunded_cents - previous,
                              "seconds_reversed": taken}, at=now),
    ]


@on("charge.refunded")
def charge_refunded(event: dict[str, Any]) -> list[Op]:
    """Reverse the refunded share of a purchase (unused minutes, profit, revenue)."""
    charge = _object(event)
    intent_id = charge.get("payment_intent")
    if isinstance(intent_id, dict):
        intent_id = intent_id.get("id")
    purchase = _purchase_of_intent(intent_id, charge.get("metadata") or None)
    if purchase is None or purchase.status == "failed":
        return []
    if purchase.status != "succeeded":
        raise PurchaseNotSettled("the purchase is not credited yet; retry later")
    return refund_ops(purchase, str(charge.get("id")), int(charge.get("amount_refunded") or 0))


def _disputed_purchase(dispute: dict[str, Any]) -> Purchase | None:
    """The credited purchase a dispute is about (None: not ours, or never credited)."""
    intent_id = dispute.get("payment_intent")
    if isinstance(intent_id, dict):
        intent_id = intent_id.get("id")
    if not intent_id and dispute.get("charge"):
        from chalicelib.stripe_gateway.payments import payment_intent_of_charge

        intent_id = payment_intent_of_charge(str(dispute["charge"]))
    purchase = _purchase_of_intent(intent_id)
    if purchase is None or purchase.status == "failed":
        return None
    if purchase.status != "succeeded":
        raise PurchaseNotSettled("the purchase is not credited yet; retry later")
    return purchase


@on("charge.dispute.created")
def dispute_created(event: dict[str, Any]) -> list[Op]:
    """Hold the disputed purchase's profit out of the agency's available profit."""
    dispute = _object(event)
    purchase = _disputed_purchase(dispute)
    if purchase is None:
        return []
    amount = ((purchase.profit_micros or 0) - (purchase.profit_reversed_micros or 0)
              - (purchase.profit_held_micros or 0))
    now = utcnow()
    notice = notification_op(
        purchase.agency_id, "payment_disputed",
        f"A payment of {purchase.source} {purchase.purchase_id} is disputed; its profit is held.",
        subaccount_id=purchase.subaccount_id,
        data={"purchase_id": purchase.purchase_id, "dispute_id": dispute.get("id"),
              "held_micros": max(amount, 0)}, at=now)
    return _hold_profit_ops(purchase, max(amount, 0), f"dispute:{dispute.get('id')}",
                            Code.DISPUTE,
                            f"profit held: dispute on {purchase.purchase_id}",
                            str(dispute.get("id")), notice, now)


def _hold_profit_ops(purchase: Purchase, amount: int, transaction_id: str, code: Code,
                     memo: str, dispute_id: str, notice: Op, now: datetime) -> list[Op]:
    """Move ``amount`` of the purchase's profit into its held account (negative: back out to
    the agency's profit), with the purchase's running ``profit_held_micros`` in the same
    transaction; nothing to move leaves just the notice."""
    if amount == 0:
        return [notice]
    tx = LedgerTransaction(
        agency_id=purchase.agency_id, transaction_id=transaction_id, code=code,
        postings=(Posting(AGENCY_PROFIT, "usd", -amount),
                  Posting(profit_held(purchase.purchase_id), "usd", amount)),
        subaccount_id=purchase.subaccount_id, memo=memo,
        metadata={"purchase_id": purchase.purchase_id, "dispute_id": dispute_id},
    )
    return [
        *ledger_ops(tx, now),
        update(Purchase(purchase.PK, purchase.SK),
               [Purchase.profit_held_micros.add(amount)],
               condition=Purchase.profit_held_micros == (purchase.profit_held_micros or 0),
               error=PurchaseNotSettled("the purchase changed; retry")),
        notice,
    ]


#: Dispute outcomes that leave the money with us: the held profit goes back to the agency.
DISPUTE_RELEASED = frozenset({"won", "warning_closed"})


@on("charge.dispute.closed")
def dispute_closed(event: dict[str, Any]) -> list[Op]:
    """A dispute's final word: ``won`` (or an inquiry closed, ``warning_closed``) releases
    the held profit to the agency; ``lost`` is booked like a refund of the disputed amount
    (the bank took it back): unused minutes of that share come back, the profit (held
    first) and the platform revenue are reversed. Any other status changes nothing.
    """
    dispute = _object(event)
    status = dispute.get("status")
    if status != "lost" and status not in DISPUTE_RELEASED:
        return []
    purchase = _disputed_purchase(dispute)
    if purchase is None:
        return []
    dispute_id = str(dispute.get("id"))
    if status == "lost":
        disputed = max(int(dispute.get("amount") or 0), 0)
        cumulative = min((purchase.refunded_cents or 0) + disputed, purchase.amount_cents)
        # One transaction per dispute, whatever the cumulative figure: a second delivery
        # under another event id finds it posted and moves nothing.
        return _take_back_ops(purchase, cumulative, Code.DISPUTE_LOST,
                              lambda _cents: f"dispute-lost:{dispute_id}",
                              kind="payment_dispute_lost", what="was lost to a dispute",
                              extra={"dispute_id": dispute_id})
    return _release_held_profit(purchase, dispute_id)


def _release_held_profit(purchase: Purchase, dispute_id: str) -> list[Op]:
    held_micros = purchase.profit_held_micros or 0
    now = utcnow()
    notice = notification_op(
        purchase.agency_id, "payment_dispute_won",
        f"The dispute on {purchase.source} {purchase.purchase_id} was closed in your favour; "
        "its profit is available again.",
        subaccount_id=purchase.subaccount_id,
        data={"purchase_id": purchase.purchase_id, "dispute_id": dispute_id,
              "released_micros": max(held_micros, 0)}, at=now)
    return _hold_profit_ops(purchase, -max(held_micros, 0), f"dispute-won:{dispute_id}",
                            Code.DISPUTE_WON,
                            f"profit released: dispute on {purchase.purchase_id} won",
                            dispute_id, notice, now)

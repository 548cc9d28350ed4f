"""Stripe webhook handlers of the payments area (registered on import by the webhook core).

Each handler reads what it needs and returns the ops of its effect; the core commits them in
ONE transaction with the event's marker. Ledger transaction ids come from Stripe ids
(``refund:<charge>:<amount_refunded>``, ``dispute:<dispute>``, ``dispute-won:<dispute>``,
``dispute-lost:<dispute>``) or from the purchase (``purchase:<pid>``), so a redelivered or
concurrent event never moves value twice. Refunds and disputes follow the pure rules of
``chalicelib.domain.chargebacks``; every dispute has a record (``open`` / ``closed``) written
with its effect, so its events apply once whatever their order.

Before money moves, the object is retrieved from Stripe (``fetch_*``) and checked against the
purchase: the intent recorded on it, the amount, the currency, the customer, and the
purchase and agency that our own metadata names at Stripe. What is applied is the retrieved
object's state (status, ``amount_refunded``, dispute status and amount), never the payload's;
a payload that Stripe contradicts where no delay could explain it (a ``succeeded`` intent
that is not, more refunded than Stripe refunded) is an ``EventMismatch``. Events that can
move nothing (the purchase already credited, a refund already counted, a closed dispute)
are answered without calling Stripe.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from chalicelib.domain.chargebacks import (
    DISPUTE_CLOSED,
    DISPUTE_CREATED,
    ChargeState,
    DisputeRecord,
    DisputeStep,
    TakeBack,
    apply_dispute_event,
    apply_refund,
    dispute_step,
    seconds_share,
)
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
    transfer,
    wallet,
)
from chalicelib.domain.money import cents_to_micros
from chalicelib.services.access import get_agency
from chalicelib.services.notifications import notification_op
from chalicelib.services.payments import failure_ops, success_ops
from chalicelib.services.webhooks import check_against_stripe, missing_at_stripe, on
from chalicelib.store import payments as store
from chalicelib.store.base import utcnow
from chalicelib.store.ledger import ledger_ops, read_balance
from chalicelib.store.payments import Purchase
from chalicelib.store.stats import stats_op
from chalicelib.store.transact import Op
from chalicelib.stripe_gateway.payments import (
    ChargeFacts,
    DisputeFacts,
    IntentResult,
    fetch_charge,
    fetch_dispute,
    fetch_intent,
    intent_result,
    payment_intent_of_charge,
)

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
    intent = fetch_intent(intent_id)
    if intent is None:  # names nothing of ours, and Stripe has no such intent either
        log.info("event about an unknown PaymentIntent ignored", extra={"stripe_id": intent_id})
        return None
    if intent.metadata.get("agency_id") and intent.metadata.get("purchase_id"):
        return store.get_purchase(intent.metadata["agency_id"], intent.metadata["purchase_id"])
    return None


def _verified_intent(purchase: Purchase, intent_id: str) -> IntentResult:
    """Stripe's PaymentIntent ``intent_id``, checked against the purchase (``EventMismatch``
    when Stripe has no such intent, or it charges for something else)."""
    intent = fetch_intent(intent_id)
    if intent is None:
        raise missing_at_stripe(purchase.agency_id, intent_id)
    check_against_stripe(purchase.agency_id, intent_id, {
        "payment_intent_id": (purchase.payment_intent_id or intent_id, intent.payment_intent_id),
        "agency_id": (purchase.agency_id, intent.metadata.get("agency_id")),
        "purchase_id": (purchase.purchase_id, intent.metadata.get("purchase_id")),
        "amount_cents": (purchase.amount_cents, intent.amount_cents),
        "currency": ("usd", intent.currency),
        "customer_id": (purchase.customer_id, intent.customer_id),
    })
    return intent


def _settle_ops(purchase: Purchase, intent: IntentResult) -> list[Op]:
    """What Stripe's (checked) intent says of a purchase not credited yet: credit a succeeded
    charge, fail a declined or canceled one, wait for anything else."""
    if intent.status == "succeeded":
        return success_ops(purchase, intent.payment_intent_id, intent.charge_id)
    if intent.status in ("requires_payment_method", "canceled") and purchase.status == "pending":
        # Conditioned on ``pending``: if the request marked it failed meanwhile, the core
        # records this event alone (``AlreadyPosted``).
        return failure_ops(purchase, code=intent.failure_code or "card_declined",
                           decline_code=intent.decline_code, message="the payment failed",
                           intent_id=intent.payment_intent_id)
    return []


@on("payment_intent.succeeded")
def intent_succeeded(event: dict[str, Any]) -> list[Op]:
    """Credit the purchase (same transaction id as the synchronous path: posted once), once
    Stripe confirms that this very intent of this purchase succeeded."""
    claimed = intent_result(_object(event))
    purchase = _purchase_of_intent(claimed.payment_intent_id, claimed.metadata)
    if purchase is None or purchase.status == "succeeded":
        return []
    intent = _verified_intent(purchase, claimed.payment_intent_id)
    # ``succeeded`` is final at Stripe: an event claiming it for an intent that is not
    # succeeded cannot be a delayed one.
    check_against_stripe(purchase.agency_id, intent.payment_intent_id,
                         {"status": ("succeeded", intent.status)})
    return _settle_ops(purchase, intent)


@on("payment_intent.payment_failed")
def intent_failed(event: dict[str, Any]) -> list[Op]:
    """A pending purchase fails (nothing was credited; a notification says so), or is
    credited after all when Stripe says that its intent succeeded since."""
    claimed = intent_result(_object(event))
    purchase = _purchase_of_intent(claimed.payment_intent_id, claimed.metadata)
    if purchase is None or purchase.status != "pending":
        return []
    return _settle_ops(purchase, _verified_intent(purchase, claimed.payment_intent_id))


def _agency_timezone(agency_id: str) -> str | None:
    """The agency's timezone now (a refund is counted on today's local date, whatever the
    timezone was when the purchase was made)."""
    try:
        return get_agency(agency_id).timezone
    except NotFound:
        return None


def refund_ops(purchase: Purchase, charge_id: str, amount_refunded_cents: int) -> list[Op]:
    """Reverse what a (partial, cumulative) refund takes back.

    ``amount_refunded_cents`` is Stripe's cumulative ``amount_refunded`` (refunds only, never
    disputes); only what goes beyond the purchase's figures is reversed now, and refunds and
    lost disputes together never take back more than the charge. The profit is reversed by
    its share, half up (SPEC "Profit"), held profit first; the minutes of that share only as
    far as they are unused (never below zero); the rest of the cash comes out of platform
    revenue. The ledger id carries the cumulative amount, so a redelivery posts nothing twice.
    """
    before = purchase.charge_state
    result = apply_refund(before, amount_refunded_cents)
    if result is None:
        return []
    after, take = result
    return _take_back_ops(purchase, before, after, take, Code.REFUND,
                          f"refund:{charge_id}:{amount_refunded_cents}",
                          kind="purchase_refunded", what="was refunded",
                          extra={"charge_id": charge_id})


def _take_back_ops(purchase: Purchase, before: ChargeState, after: ChargeState,
                   take: TakeBack, code: Code, transaction_id: str, *, kind: str, what: str,
                   extra: dict[str, Any], also: Sequence[Op] = ()) -> list[Op]:
    """The ops of money going back to the card: a refund, or a dispute the agency lost.

    One ledger transaction (cash back to the card; the profit reversal, held profit first;
    any held profit the reversal did not need back to the available profit; revenue for the
    rest; the unused minutes of the share), the purchase's new figures (conditioned on the
    ones read), counters and a notification, plus ``also`` (the dispute's record).
    """
    sid = purchase.subaccount_id
    charge = before.charge_cents
    postings: list[Posting] = []
    taken = 0
    for asset, seconds in purchase.seconds_by_asset.items():
        share = (seconds_share(seconds, take.taken_after_cents, charge)
                 - seconds_share(seconds, take.taken_before_cents, charge))
        available = read_balance(purchase.agency_id, wallet(sid), asset).balance if share else 0
        take_seconds = max(min(share, available), 0)
        if take_seconds:
            postings += [Posting(wallet(sid), asset, -take_seconds),
                         Posting(supply(sid), asset, take_seconds)]
            taken += take_seconds
    cash_micros = cents_to_micros(take.cash_cents)
    usd = [
        (card_payments(purchase.payer_subaccount_id), cash_micros),
        (platform_revenue(sid), -(cash_micros - take.reversed_micros)),
        (AGENCY_PROFIT, take.available_delta_micros),
        (profit_held(purchase.purchase_id), take.held_delta_micros),
    ]
    postings += [Posting(account, "usd", amount) for account, amount in usd if amount]
    now = utcnow()
    details = {"purchase_id": purchase.purchase_id, **extra,
               "refunded_cents": take.cash_cents, "seconds_reversed": taken}
    ops: list[Op] = [*also, store.take_back_op(purchase, before, after, taken)]
    if postings:
        ops += ledger_ops(LedgerTransaction(
            agency_id=purchase.agency_id, transaction_id=transaction_id, code=code,
            postings=tuple(postings), subaccount_id=sid,
            memo=f"{purchase.source} {purchase.purchase_id} {what}",
            metadata={**details, "profit_reversed_micros": take.reversed_micros}), now)
    if take.cash_cents or take.reversed_micros:
        ops.append(stats_op(purchase.agency_id, sid, now, _agency_timezone(purchase.agency_id),
                            refunds_micros=cash_micros, profit_micros=-take.reversed_micros))
    ops.append(notification_op(purchase.agency_id, kind,
                               f"A payment of {purchase.source} {purchase.purchase_id} {what}.",
                               subaccount_id=sid, data=details, at=now))
    return ops


def _cents(value: Any, field: str) -> int:
    """A Stripe amount in cents: a non-negative integer (anything else is a malformed event)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{field} is not a non-negative integer")
    return value


def _verified_charge(purchase: Purchase, charge_id: str) -> ChargeFacts:
    """Stripe's Charge ``charge_id``, checked against the purchase (``EventMismatch`` when
    Stripe has no such charge, or it is not this purchase's)."""
    charge = fetch_charge(charge_id)
    if charge is None:
        raise missing_at_stripe(purchase.agency_id, charge_id)
    check_against_stripe(purchase.agency_id, charge_id, {
        "payment_intent_id": (purchase.payment_intent_id, charge.payment_intent_id),
        "charge_id": (purchase.charge_id or charge_id, charge.charge_id),
        "amount_cents": (purchase.amount_cents, charge.amount_cents),
        "currency": ("usd", charge.currency),
        "customer_id": (purchase.customer_id, charge.customer_id),
    })
    return charge


@on("charge.refunded")
def charge_refunded(event: dict[str, Any]) -> list[Op]:
    """Reverse the refunded share of a purchase (unused minutes, profit, revenue), as far as
    Stripe's charge is refunded now (a late event also applies the refunds made since)."""
    claimed = _object(event)
    intent_id = claimed.get("payment_intent")
    if isinstance(intent_id, dict):
        intent_id = intent_id.get("id")
    purchase = _purchase_of_intent(intent_id, claimed.get("metadata") or None)
    if purchase is None or purchase.status == "failed":
        return []
    if purchase.status != "succeeded":
        raise PurchaseNotSettled("the purchase is not credited yet; retry later")
    amount = claimed.get("amount_refunded")
    claimed_cents = 0 if amount is None else _cents(amount, "amount_refunded")
    if claimed_cents <= (purchase.refunded_cents or 0):
        return []  # counted already; anything newer comes with Stripe's own later event
    charge = _verified_charge(purchase, str(claimed.get("id")))
    # ``amount_refunded`` only grows: claiming more than Stripe refunded is no delay.
    if claimed_cents > charge.amount_refunded_cents:
        check_against_stripe(purchase.agency_id, charge.charge_id, {
            "amount_refunded": (claimed_cents, charge.amount_refunded_cents)})
    return refund_ops(purchase, charge.charge_id, charge.amount_refunded_cents)


def _disputed_purchase(dispute: dict[str, Any]) -> Purchase | None:
    """The credited purchase a dispute is about (None: not ours, or never credited)."""
    intent_id = dispute.get("payment_intent")
    if isinstance(intent_id, dict):
        intent_id = intent_id.get("id")
    if not intent_id and dispute.get("charge"):
        intent_id = payment_intent_of_charge(str(dispute["charge"]))
    purchase = _purchase_of_intent(intent_id)
    if purchase is None or purchase.status == "failed":
        return None
    if purchase.status != "succeeded":
        raise PurchaseNotSettled("the purchase is not credited yet; retry later")
    return purchase


@on(DISPUTE_CREATED)
def dispute_created(event: dict[str, Any]) -> list[Op]:
    """Hold the disputed share of the purchase's profit out of the agency's available profit."""
    return _dispute_event(DISPUTE_CREATED, _object(event))


@on(DISPUTE_CLOSED)
def dispute_closed(event: dict[str, Any]) -> list[Op]:
    """A dispute's final word: ``won`` (or an inquiry closed, ``warning_closed``) releases
    its hold to the agency; ``lost`` is booked like a refund of the disputed amount (the bank
    took it back): unused minutes of that share come back, the profit share (held first) and
    the platform revenue are reversed. Any other status changes nothing.
    """
    return _dispute_event(DISPUTE_CLOSED, _object(event))


def _verified_dispute(purchase: Purchase, dispute_id: str) -> DisputeFacts:
    """Stripe's Dispute ``dispute_id``, checked against the purchase (``EventMismatch`` when
    Stripe has no such dispute, or it disputes another charge)."""
    dispute = fetch_dispute(dispute_id)
    if dispute is None:
        raise missing_at_stripe(purchase.agency_id, dispute_id)
    pairs: dict[str, tuple[Any, Any]] = {"currency": ("usd", dispute.currency)}
    if purchase.charge_id or dispute.charge_id:
        pairs["charge_id"] = (purchase.charge_id or dispute.charge_id, dispute.charge_id)
    if dispute.payment_intent_id or not purchase.charge_id:  # older API versions omit it
        pairs["payment_intent_id"] = (purchase.payment_intent_id, dispute.payment_intent_id)
    if dispute.amount_cents > purchase.amount_cents:
        pairs["amount_cents"] = (purchase.amount_cents, dispute.amount_cents)
    check_against_stripe(purchase.agency_id, dispute_id, pairs)
    return dispute


def _dispute_event(event_type: str, claimed: dict[str, Any]) -> list[Op]:
    """Apply a dispute event through the dispute's record (see ``domain.chargebacks``): the
    record and the ledger effect are written together, with conditions, so ``created`` and
    ``closed`` in either order, each delivered any number of times, end the same.

    The status and amount applied are Stripe's own, read now: a ``closed`` event saying
    ``won`` of a dispute that Stripe reports ``lost`` is booked as lost.
    """
    claimed_status = str(claimed.get("status") or "")
    if dispute_step(None, event_type, claimed_status) is DisputeStep.NOTHING:
        return []  # an event that could change nothing: no need to look anything up
    dispute_id = claimed.get("id")
    if not isinstance(dispute_id, str) or not dispute_id:
        raise ValueError("a dispute without an id")
    raw_amount = claimed.get("amount")
    claimed_amount = None if raw_amount is None else _cents(raw_amount, "amount")
    purchase = _disputed_purchase(claimed)
    if purchase is None:
        return []
    existing = store.get_dispute(purchase.agency_id, purchase.purchase_id, dispute_id)
    previous = existing.record if existing is not None else None
    if previous is not None and dispute_step(previous.status, event_type,
                                             claimed_status) is DisputeStep.NOTHING:
        return []  # closed for good, or a repeated ``created``: nothing can change
    dispute = _verified_dispute(purchase, dispute_id)
    if claimed_amount is not None:  # a dispute's amount never changes at Stripe
        check_against_stripe(purchase.agency_id, dispute_id,
                             {"amount_cents": (claimed_amount, dispute.amount_cents)})
    if dispute.status != claimed_status:
        log.warning("dispute event status is not Stripe's; Stripe's applies",
                    extra={"dispute_id": dispute_id, "claimed": claimed_status,
                           "stripe_status": dispute.status})
    return dispute_ops(purchase, dispute_id, previous, event_type, dispute.status,
                       dispute.amount_cents)


def dispute_ops(purchase: Purchase, dispute_id: str, previous: DisputeRecord | None,
                event_type: str, status: str, amount: int) -> list[Op]:
    """The ops of a dispute event once Stripe confirmed the dispute (``status`` and
    ``amount``: Stripe's), given the dispute's record so far (``previous``)."""
    before = purchase.charge_state
    effect = apply_dispute_event(before, previous, event_type, status, amount)
    if effect.record is None:
        return []
    now = utcnow()
    record_op = store.dispute_op(purchase, dispute_id, effect.record, previous, now)
    if effect.step is DisputeStep.LOSE and effect.take_back is not None:
        return _take_back_ops(purchase, before, effect.state, effect.take_back,
                              Code.DISPUTE_LOST, f"dispute-lost:{dispute_id}",
                              kind="payment_dispute_lost", what="was lost to a dispute",
                              extra={"dispute_id": dispute_id}, also=[record_op])
    ops = [record_op, store.take_back_op(purchase, before, effect.state)]
    if effect.step is DisputeStep.HOLD:
        ops.append(notification_op(
            purchase.agency_id, "payment_disputed",
            f"A payment of {purchase.source} {purchase.purchase_id} is disputed; "
            "its share of the profit is held.",
            subaccount_id=purchase.subaccount_id,
            data={"purchase_id": purchase.purchase_id, "dispute_id": dispute_id,
                  "held_micros": effect.hold_micros}, at=now))
        transaction_id, code, memo = (f"dispute:{dispute_id}", Code.DISPUTE,
                                      f"profit held: dispute on {purchase.purchase_id}")
    else:
        ops.append(notification_op(
            purchase.agency_id, "payment_dispute_won",
            f"The dispute on {purchase.source} {purchase.purchase_id} was closed in your "
            "favour; its profit is available again.",
            subaccount_id=purchase.subaccount_id,
            data={"purchase_id": purchase.purchase_id, "dispute_id": dispute_id,
                  "released_micros": -effect.hold_micros}, at=now))
        transaction_id, code, memo = (f"dispute-won:{dispute_id}", Code.DISPUTE_WON,
                                      f"profit released: dispute on {purchase.purchase_id}")
    if effect.hold_micros:
        ops += ledger_ops(LedgerTransaction(
            agency_id=purchase.agency_id, transaction_id=transaction_id, code=code,
            postings=transfer(AGENCY_PROFIT, profit_held(purchase.purchase_id), "usd",
                              effect.hold_micros),
            subaccount_id=purchase.subaccount_id, memo=memo,
            metadata={"purchase_id": purchase.purchase_id, "dispute_id": dispute_id}), now)
    return ops

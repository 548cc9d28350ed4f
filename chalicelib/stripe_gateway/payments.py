"""Stripe calls of the payments area: customers, payment methods, PaymentIntents, refunds.

Every call goes through ``call_stripe`` (Stripe errors become domain errors: a decline is a
402 ``card_declined`` carrying Stripe's decline code). Every create carries an idempotency key
chosen by the caller from its own deterministic ids, so a retry after a timeout or a crash
replays Stripe's first answer instead of charging twice. Network errors are retried by
stripe-python itself (``MAX_NETWORK_RETRIES`` in ``client.py``), which is safe for that reason.

Stripe objects never leave this module: callers get small frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.stripe_gateway.client import call_stripe, retrieve_or_none, stripe_client


@dataclass(frozen=True)
class CardSummary:
    """What the API shows of a saved card (never the number)."""

    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class IntentResult:
    """The state of a PaymentIntent as far as we need it."""

    payment_intent_id: str
    status: str  # succeeded | processing | requires_action | requires_payment_method | …
    amount_cents: int
    charge_id: str | None
    metadata: dict[str, str]
    failure_code: str | None = None
    decline_code: str | None = None
    currency: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class ChargeFacts:
    """What a webhook check needs of a Charge, as Stripe has it now."""

    charge_id: str
    payment_intent_id: str | None
    amount_cents: int
    amount_refunded_cents: int
    currency: str | None
    customer_id: str | None
    status: str


@dataclass(frozen=True)
class DisputeFacts:
    """What a webhook check needs of a Dispute, as Stripe has it now."""

    dispute_id: str
    charge_id: str | None
    payment_intent_id: str | None
    amount_cents: int
    currency: str | None
    status: str


def _plain(obj: Any) -> dict[str, Any]:
    """A Stripe object (v16 objects are not dicts) or a webhook payload, as a plain dict."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return obj if isinstance(obj, dict) else {}


def _card_summary(pm: Any) -> CardSummary:
    pm = _plain(pm)
    card = pm.get("card") or {}
    return CardSummary(
        payment_method_id=pm["id"],
        brand=str(card.get("brand") or "unknown"),
        last4=str(card.get("last4") or ""),
        exp_month=int(card.get("exp_month") or 0),
        exp_year=int(card.get("exp_year") or 0),
    )


def _id_of(value: Any) -> str | None:
    """An id field that Stripe may also send expanded (an object with an ``id``)."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


def intent_result(intent: Any) -> IntentResult:
    """Our view of a PaymentIntent object (from the API or from a webhook payload)."""
    intent = _plain(intent)
    error = intent.get("last_payment_error") or {}
    return IntentResult(
        payment_intent_id=intent["id"],
        status=str(intent.get("status") or ""),
        amount_cents=int(intent.get("amount") or 0),
        charge_id=_id_of(intent.get("latest_charge")),
        metadata={str(k): str(v) for k, v in (intent.get("metadata") or {}).items()},
        failure_code=error.get("code"),
        decline_code=error.get("decline_code"),
        currency=intent.get("currency"),
        customer_id=_id_of(intent.get("customer")),
    )


def fetch_intent(payment_intent_id: str) -> IntentResult | None:
    """A PaymentIntent as Stripe has it now; ``None`` if Stripe has no such intent."""
    intent = retrieve_or_none(
        lambda: stripe_client().v1.payment_intents.retrieve(payment_intent_id))
    return None if intent is None else intent_result(intent)


def fetch_charge(charge_id: str) -> ChargeFacts | None:
    """A Charge as Stripe has it now; ``None`` if Stripe has no such charge."""
    found = retrieve_or_none(lambda: stripe_client().v1.charges.retrieve(charge_id))
    if found is None:
        return None
    charge = _plain(found)
    return ChargeFacts(
        charge_id=str(charge["id"]),
        payment_intent_id=_id_of(charge.get("payment_intent")),
        amount_cents=int(charge.get("amount") or 0),
        amount_refunded_cents=int(charge.get("amount_refunded") or 0),
        currency=charge.get("currency"),
        customer_id=_id_of(charge.get("customer")),
        status=str(charge.get("status") or ""),
    )


def fetch_dispute(dispute_id: str) -> DisputeFacts | None:
    """A Dispute as Stripe has it now; ``None`` if Stripe has no such dispute."""
    found = retrieve_or_none(lambda: stripe_client().v1.disputes.retrieve(dispute_id))
    if found is None:
        return None
    dispute = _plain(found)
    return DisputeFacts(
        dispute_id=str(dispute["id"]),
        charge_id=_id_of(dispute.get("charge")),
        payment_intent_id=_id_of(dispute.get("payment_intent")),
        amount_cents=int(dispute.get("amount") or 0),
        currency=dispute.get("currency"),
        status=str(dispute.get("status") or ""),
    )


def create_customer(*, idempotency_key: str, agency_id: str, subaccount_id: str,
                    name: str, email: str | None) -> str:
    """A new Stripe customer for one sub-account; returns its id."""
    params: dict[str, Any] = {
        "name": name,
        "metadata": {"agency_id": agency_id, "subaccount_id": subaccount_id},
    }
    if email:
        params["email"] = email
    customer = call_stripe(lambda: stripe_client().v1.customers.create(
        params, {"idempotency_key": idempotency_key}))
    return str(customer.id)


def attach_payment_method(payment_method: str, customer_id: str, *,
                          idempotency_key: str) -> CardSummary:
    """Attach a payment method to a customer (a declined card raises ``PaymentDeclined``)."""
    pm = call_stripe(lambda: stripe_client().v1.payment_methods.attach(
        payment_method, {"customer": customer_id}, {"idempotency_key": idempotency_key}))
    return _card_summary(pm)


def detach_payment_method(payment_method_id: str) -> None:
    """Detach a payment method from its customer."""
    call_stripe(lambda: stripe_client().v1.payment_methods.detach(payment_method_id))


def charge_off_session(*, idempotency_key: str, amount_cents: int, customer_id: str,
                       payment_method_id: str, metadata: dict[str, str],
                       description: str) -> IntentResult:
    """Create and confirm an off-session PaymentIntent in USD.

    A decline raises ``PaymentDeclined`` (402 ``card_declined`` with the decline code); an
    intent that needs the customer or settles later comes back with its status.
    """
    params: dict[str, Any] = {
        "amount": amount_cents,
        "currency": "usd",
        "customer": customer_id,
        "payment_method": payment_method_id,
        "off_session": True,
        "confirm": True,
        "metadata": metadata,
        "description": description,
    }
    intent = call_stripe(lambda: stripe_client().v1.payment_intents.create(
        params, {"idempotency_key": idempotency_key}))
    return intent_result(intent)


def retrieve_intent(payment_intent_id: str) -> IntentResult:
    """The current state of a PaymentIntent (reconciliation)."""
    intent = call_stripe(lambda: stripe_client().v1.payment_intents.retrieve(payment_intent_id))
    return intent_result(intent)


def find_intent_of_purchase(customer_id: str, purchase_id: str, created_since: int
                            ) -> IntentResult | None:
    """The PaymentIntent our request created for a purchase whose answer never came back.

    Lists the customer's intents created since the purchase (every page: Stripe answers
    newest first, 100 at most per page, and the one looked for is among the oldest) and
    matches our metadata; used by reconciliation, so a charge Stripe made is found (and
    credited) instead of assumed lost.
    """
    page = call_stripe(lambda: stripe_client().v1.payment_intents.list(
        {"customer": customer_id, "created": {"gte": created_since}, "limit": 100}))
    pages = page.auto_paging_iter()
    while True:
        # Each next page is another Stripe call: its errors are translated like the first.
        intent = call_stripe(lambda: next(pages, None))
        if intent is None:
            return None
        metadata = _plain(intent).get("metadata") or {}
        if metadata.get("purchase_id") == purchase_id:
            return intent_result(intent)


def cancel_intent(payment_intent_id: str) -> None:
    """Cancel a PaymentIntent that will never be finished (reconciliation)."""
    call_stripe(lambda: stripe_client().v1.payment_intents.cancel(payment_intent_id))


def payment_intent_of_charge(charge_id: str) -> str | None:
    """The PaymentIntent id of a charge (disputes that lack it); ``None`` for no such charge."""
    charge = fetch_charge(charge_id)
    return None if charge is None else charge.payment_intent_id

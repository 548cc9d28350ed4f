"""Saved cards and minute purchases, and the charge engine shared with auto-recharge and
monthly auto-allocation.

A charge is always: (1) record the ``Purchase`` as ``pending`` (its ledger transaction id and
amounts fixed), (2) create and confirm an off-session PaymentIntent whose Stripe idempotency
key is derived from the purchase id, (3) once the charge succeeded, post ONE ledger
transaction (cash in, platform revenue, agency profit, minutes out of supply) together with
the purchase's status change and the daily counters. Whoever finishes the purchase first —
the request itself, the ``payment_intent.succeeded`` webhook, or the reconciliation sweep —
posts that same transaction id; the others find it posted. Nothing is credited before Stripe
said ``succeeded``, and nothing is credited twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.errors import (
    Conflict,
    DomainError,
    NotFound,
    PaymentDeclined,
    PaymentProviderUnavailable,
    ValidationFailed,
)
from chalicelib.domain.ledger import (
    AGENCY_PROFIT,
    Code,
    LedgerTransaction,
    Posting,
    card_payments,
    platform_revenue,
    supply,
    wallet,
)
from chalicelib.domain.money import (
    SECONDS_PER_MINUTE,
    cents_to_micros,
    micros_to_cents,
    parse_minutes,
    purchase_charge_micros,
    render_minutes,
    render_usd,
)
from chalicelib.domain.plans import BASE_COST_MICROS, TIERS
from chalicelib.domain.roles import AGENCY_ROLES, Principal
from chalicelib.observability import count
from chalicelib.services.notifications import notification_op
from chalicelib.store import payments as store
from chalicelib.store import purchases
from chalicelib.store.accounts import Subaccount
from chalicelib.store.base import utcnow
from chalicelib.store.ledger import AlreadyPosted, ledger_ops
from chalicelib.store.payments import PaymentProfile, Purchase, iso_z
from chalicelib.store.stats import stats_op
from chalicelib.store.transact import ConditionFailed, Op, commit
from chalicelib.stripe_gateway.client import GatewayRequestRefused
from chalicelib.stripe_gateway.payments import (
    IntentResult,
    attach_payment_method,
    cancel_intent,
    charge_off_session,
    create_customer,
    detach_payment_method,
    find_intent_of_purchase,
    retrieve_intent,
)

log = logging.getLogger(__name__)

MAX_PURCHASE_MINUTES = 1_000_000
#: A pending purchase is looked at by reconciliation once this old (a live request is done
#: long before: Stripe calls time out after 20 s, with 2 retries).
RECONCILE_AFTER = timedelta(minutes=10)
#: An intent still waiting for the customer after this long is cancelled by reconciliation.
ABANDON_AFTER = timedelta(hours=24)
_PAYMENT_METHOD = re.compile(r"^pm_[A-Za-z0-9_]{1,200}$")


class NoPaymentMethod(ValidationFailed):
    """The sub-account has no saved card to charge."""

    code = "no_payment_method"


class PurchaseFailed(Conflict):
    """A purchase that failed for another reason than a decline (replayed)."""

    code = "purchase_failed"


# ---------------------------------------------------------------- payment methods


def render_card(profile: PaymentProfile, payment_method_id: str) -> dict[str, Any]:
    """API shape of a saved card."""
    card = (profile.cards or {}).get(payment_method_id, {})
    return {
        "id": payment_method_id,
        "brand": card.get("brand", "unknown"),
        "last4": card.get("last4", ""),
        "exp_month": card.get("exp_month", 0),
        "exp_year": card.get("exp_year", 0),
        "is_default": profile.default_payment_method == payment_method_id,
    }


def list_payment_methods(sub: Subaccount) -> dict[str, Any]:
    """The sub-account's saved cards, oldest first (one GetItem; Stripe is not called)."""
    profile = store.get_profile(sub.agency_id, sub.subaccount_id)
    if profile is None:
        return {"payment_methods": [], "default_payment_method": None}
    return {
        "payment_methods": [render_card(profile, pm) for pm in profile.card_order or []
                            if pm in (profile.cards or {})],
        "default_payment_method": profile.default_payment_method,
    }


def ensure_profile(sub: Subaccount) -> PaymentProfile:
    """The sub-account's payment profile, creating its own Stripe customer on first use.

    The customer is created with the idempotency key ``customer:<sid>``, so two concurrent
    first uses get the same customer; the profile is saved only if absent.
    """
    profile = store.get_profile(sub.agency_id, sub.subaccount_id)
    if profile is not None:
        return profile
    customer_id = create_customer(
        idempotency_key=f"customer:{sub.subaccount_id}", agency_id=sub.agency_id,
        subaccount_id=sub.subaccount_id, name=sub.name, email=sub.login_email,
    )
    # A concurrent first use may have saved it (with the same customer): keep that one.
    store.create_profile(sub.agency_id, sub.subaccount_id, customer_id, utcnow())
    existing = store.get_profile(sub.agency_id, sub.subaccount_id)
    if existing is None:  # pragma: no cover - storage inconsistency
        raise Conflict("payment profile could not be created", code="concurrent_update")
    return existing


def _save_profile_cards(profile: PaymentProfile, cards: dict[str, Any], order: list[str],
                        default: str | None) -> None:
    commit([store.cards_op(
        profile, cards=cards, order=order, default=default,
        error=Conflict("the saved cards changed meanwhile", code="concurrent_update"))])


def add_payment_method(sub: Subaccount, payment_method: str) -> dict[str, Any]:
    """Attach a Stripe payment method to the sub-account's own customer; the first card
    becomes the default. A card declined at attach is a 402 ``card_declined``."""
    if not isinstance(payment_method, str) or not _PAYMENT_METHOD.match(payment_method):
        raise ValidationFailed("payment_method must be a Stripe payment method id (pm_…)",
                               details={"field": "payment_method"})
    profile = ensure_profile(sub)
    card = attach_payment_method(
        payment_method, profile.customer_id,
        idempotency_key=f"attach:{profile.customer_id}:{payment_method}:{profile.version or 0}",
    )
    summary = {"brand": card.brand, "last4": card.last4, "exp_month": card.exp_month,
               "exp_year": card.exp_year}
    for _ in range(3):
        cards = dict(profile.cards or {})
        order = [pm for pm in profile.card_order or [] if pm != card.payment_method_id]
        cards[card.payment_method_id] = summary
        order.append(card.payment_method_id)
        default = profile.default_payment_method or card.payment_method_id
        try:
            _save_profile_cards(profile, cards, order, default)
        except Conflict:
            profile = store.get_profile(sub.agency_id, sub.subaccount_id) or profile
            continue
        profile.cards, profile.card_order, profile.default_payment_method = cards, order, default
        return render_card(profile, card.payment_method_id)
    raise Conflict("the saved cards kept changing; retry", code="concurrent_update")


def remove_payment_method(sub: Subaccount, payment_method_id: str) -> None:
    """Detach a saved card; if it was the default, the oldest remaining card becomes it."""
    profile = store.get_profile(sub.agency_id, sub.subaccount_id)
    if profile is None or payment_method_id not in (profile.cards or {}):
        raise NotFound("payment method not found")
    try:
        detach_payment_method(payment_method_id)
    except GatewayRequestRefused as exc:
        # Already detached at Stripe (dashboard, earlier attempt): forget it here too.
        if (exc.details or {}).get("stripe_code") not in ("payment_method_unexpected_state",
                                                          "resource_missing"):
            raise
    for _ in range(3):
        cards = {pm: c for pm, c in (profile.cards or {}).items() if pm != payment_method_id}
        order = [pm for pm in profile.card_order or [] if pm in cards]
        default: str | None = profile.default_payment_method
        if default == payment_method_id or default not in cards:
            default = order[0] if order else None
        try:
            _save_profile_cards(profile, cards, order, default)
            return
        except Conflict:
            fresh = store.get_profile(sub.agency_id, sub.subaccount_id)
            if fresh is None or payment_method_id not in (fresh.cards or {}):
                return
            profile = fresh
    raise Conflict("the saved cards kept changing; retry", code="concurrent_update")


def set_default_payment_method(sub: Subaccount, payment_method_id: str) -> dict[str, Any]:
    """Make one saved card the default."""
    profile = store.get_profile(sub.agency_id, sub.subaccount_id)
    if profile is None or payment_method_id not in (profile.cards or {}):
        raise NotFound("payment method not found")
    _save_profile_cards(profile, dict(profile.cards or {}), list(profile.card_order or []),
                        payment_method_id)
    profile.default_payment_method = payment_method_id
    return render_card(profile, payment_method_id)


def chargeable_card(profile: PaymentProfile | None, payment_method_id: str | None = None) -> str:
    """The card to charge: the one named (it must be saved on this sub-account) or the default."""
    if payment_method_id:
        if profile is None or payment_method_id not in (profile.cards or {}):
            raise ValidationFailed("payment_method_id is not a saved card of this sub-account",
                                   code="unknown_payment_method",
                                   details={"field": "payment_method_id"})
        return payment_method_id
    if profile is None or not profile.default_payment_method:
        raise NoPaymentMethod("this sub-account has no saved card")
    return profile.default_payment_method


# ---------------------------------------------------------------- the charge engine


@dataclass(frozen=True)
class PriceBreakdown:
    """What a charge is made of (micro-dollars) and what Stripe is asked for (cents)."""

    charge_micros: int
    revenue_micros: int
    profit_micros: int
    amount_cents: int


def price_purchase(minutes: int, price_micros: int, base_micros: int) -> PriceBreakdown:
    """SPEC: charge = N × price rounded to whole cents half up; profit = charge − N × base."""
    charge = purchase_charge_micros(minutes, price_micros)
    revenue = min(minutes * base_micros, charge)  # price ≥ base; never a negative profit
    return PriceBreakdown(charge, revenue, charge - revenue, micros_to_cents(charge))


def new_purchase(*, agency_id: str, purchase_id: str, source: str, subaccount_id: str,
                 payer_subaccount_id: str, tier: str, basic_seconds: int, premium_seconds: int,
                 price: PriceBreakdown, transaction_id: str, customer_id: str,
                 payment_method_id: str, timezone: str | None, rule_ref: str | None = None,
                 now: datetime | None = None) -> Purchase:
    """An unsaved pending purchase, in the reconciliation index until it is finished.

    ``timezone`` is the agency's: the day the settled purchase is counted on in reports.
    """
    at = now or utcnow()
    return purchases.new_pending(
        agency_id=agency_id, purchase_id=purchase_id, source=source,
        subaccount_id=subaccount_id, payer_subaccount_id=payer_subaccount_id, tier=tier,
        basic_seconds=basic_seconds, premium_seconds=premium_seconds,
        charge_micros=price.charge_micros, revenue_micros=price.revenue_micros,
        profit_micros=price.profit_micros, amount_cents=price.amount_cents,
        transaction_id=transaction_id, customer_id=customer_id,
        payment_method_id=payment_method_id, timezone=timezone, rule_ref=rule_ref,
        created_at=at, reconcile_at=at + RECONCILE_AFTER,
    )


class _PurchaseExists(Conflict):
    code = "purchase_exists"


def record_pending(purchase: Purchase, guard: Callable[[list[Op]], list[Op]] | None = None
                   ) -> Purchase | None:
    """Save a new pending purchase and mark it in flight on its (live) sub-account, in one
    transaction; returns the existing purchase instead if the id is taken.

    A sub-account removed meanwhile answers 404 and nothing is charged. ``guard`` adds the
    caller's conditions to the transaction (``auto_allocation_rules.guard_pending``).
    """
    ops = purchases.record_pending_ops(purchase, exists=_PurchaseExists("purchase exists"),
                                       subaccount_gone=NotFound("subaccount not found"))
    try:
        commit(guard(ops) if guard else ops)
        return None
    except _PurchaseExists:
        return store.get_purchase(purchase.agency_id, purchase.purchase_id)


def credit_transaction(purchase: Purchase) -> LedgerTransaction:
    """The one ledger transaction of a succeeded charge."""
    sid = purchase.subaccount_id
    postings: list[Posting] = []
    for asset, seconds in purchase.seconds_by_asset.items():
        postings += [Posting(supply(sid), asset, -seconds), Posting(wallet(sid), asset, seconds)]
    usd = [
        (card_payments(purchase.payer_subaccount_id), -purchase.charge_micros),
        (platform_revenue(sid), purchase.revenue_micros),
        (AGENCY_PROFIT, purchase.profit_micros),
    ]
    postings += [Posting(account, "usd", amount) for account, amount in usd if amount]
    code = {"allocation": Code.ALLOCATION}.get(purchase.source, Code.PURCHASE)
    return LedgerTransaction(
        agency_id=purchase.agency_id, transaction_id=purchase.transaction_id, code=code,
        postings=tuple(postings), subaccount_id=sid,
        memo=f"{purchase.source} {purchase.purchase_id}",
        metadata={"purchase_id": purchase.purchase_id,
                  "payment_intent_id": purchase.payment_intent_id or "",
                  "charge_cents": purchase.amount_cents},
    )


def success_ops(purchase: Purchase, intent_id: str, charge_id: str | None,
                now: datetime | None = None) -> list[Op]:
    """Ledger credit + purchase ``succeeded`` + counters: ONE transaction's ops.

    The purchase condition is ``status <> succeeded`` (not ``= pending``): a charge that
    succeeded at Stripe must be credited even if we had given up on it.
    """
    at = now or utcnow()
    purchase.payment_intent_id = intent_id
    return [
        *ledger_ops(credit_transaction(purchase), at),
        purchases.success_op(purchase, intent_id=intent_id, charge_id=charge_id, at=at,
                             error=AlreadyPosted("purchase already credited")),
        stats_op(purchase.agency_id, purchase.subaccount_id, at, purchase.timezone,
                 purchases_micros=purchase.charge_micros, profit_micros=purchase.profit_micros),
        purchases.settled_op(purchase),
    ]


FAILURE_NOTICES = {
    "allocation": ("auto_allocation_failed", "Monthly auto-allocation payment failed"),
    "auto_recharge": ("auto_recharge_failed", "Auto-recharge payment failed"),
    "purchase": ("purchase_failed", "Minute purchase payment failed"),
}


def failure_ops(purchase: Purchase, *, code: str, decline_code: str | None, message: str,
                intent_id: str | None = None, notify: bool = True,
                now: datetime | None = None) -> list[Op]:
    """Purchase ``pending`` → ``failed`` (and its notification), nothing credited."""
    at = now or utcnow()
    # Settled meanwhile by another path (request, webhook, sweep): ``AlreadyPosted`` makes
    # the webhook core record the event alone, and ``fail`` report False.
    ops: list[Op] = [purchases.failure_op(purchase, code=code, decline_code=decline_code,
                                          message=message[:500], intent_id=intent_id, at=at,
                                          error=AlreadyPosted("purchase already settled")),
                     purchases.settled_op(purchase)]
    if notify:
        kind, title = FAILURE_NOTICES.get(purchase.source, FAILURE_NOTICES["purchase"])
        ops.append(notification_op(
            purchase.agency_id, kind,
            f"{title}: {render_usd(purchase.charge_micros)} USD "
            f"({decline_code or code}).",
            subaccount_id=purchase.subaccount_id,
            data={"purchase_id": purchase.purchase_id, "failure_code": code,
                  "decline_code": decline_code, "amount_usd": render_usd(purchase.charge_micros)},
            at=at,
        ))
    return ops


def complete(purchase: Purchase, intent_id: str, charge_id: str | None) -> Purchase:
    """Credit a succeeded charge (idempotent); returns the purchase as stored."""
    try:
        commit(success_ops(purchase, intent_id, charge_id))
    except AlreadyPosted:
        # The webhook (or a concurrent retry) credited it first: success too, read its state.
        return store.get_purchase(purchase.agency_id, purchase.purchase_id) or purchase
    count("PurchasesCredited")
    # Our own commit wrote exactly this state: no need to read it back.
    purchase.status = purchase.stripe_status = "succeeded"
    purchase.charge_id = charge_id or purchase.charge_id
    purchase.failure_code = purchase.decline_code = purchase.failure_message = None
    return purchase


def fail(purchase: Purchase, *, code: str, decline_code: str | None, message: str,
         intent_id: str | None = None, notify: bool = True) -> bool:
    """Mark a pending purchase failed; False when it was no longer pending."""
    try:
        commit(failure_ops(purchase, code=code, decline_code=decline_code, message=message,
                           intent_id=intent_id, notify=notify))
        count("PaymentsDeclined" if decline_code or code == "card_declined"
              else "PaymentsFailed")
        return True
    except AlreadyPosted:
        return False


def mark_waiting(purchase: Purchase, intent_id: str, stripe_status: str) -> None:
    """A charge Stripe has not settled yet: remember its intent (webhook/sweep finish it)."""
    with contextlib.suppress(ConditionFailed):
        commit([purchases.waiting_op(purchase, intent_id=intent_id,
                                     stripe_status=stripe_status)])
    purchase.payment_intent_id = intent_id
    purchase.stripe_status = stripe_status


def settle(purchase: Purchase, intent: Any) -> Purchase:
    """Apply what Stripe says of the purchase's intent (``IntentResult``)."""
    if intent.status == "succeeded":
        return complete(purchase, intent.payment_intent_id, intent.charge_id)
    if intent.status in ("requires_payment_method", "canceled"):
        fail(purchase, code=intent.failure_code or "card_declined",
             decline_code=intent.decline_code, message=f"payment {intent.status}",
             intent_id=intent.payment_intent_id, notify=purchase.source != "purchase")
    else:
        mark_waiting(purchase, intent.payment_intent_id, intent.status)
    return store.get_purchase(purchase.agency_id, purchase.purchase_id) or purchase


def charge(purchase: Purchase, *, notify_failure: bool) -> Purchase:
    """Ask Stripe for a recorded pending purchase's money and settle the answer.

    A decline marks the purchase failed and raises ``PaymentDeclined`` (402); an outage
    leaves it pending (the webhook or reconciliation finishes it) and raises.
    """
    try:
        intent = charge_off_session(
            idempotency_key=f"purchase:{purchase.purchase_id}",
            amount_cents=purchase.amount_cents,
            customer_id=purchase.customer_id,
            payment_method_id=purchase.payment_method_id,
            metadata={"purchase_id": purchase.purchase_id, "agency_id": purchase.agency_id,
                      "subaccount_id": purchase.subaccount_id, "source": purchase.source},
            description=f"{purchase.source} {purchase.purchase_id}",
        )
    except PaymentDeclined as exc:
        details = exc.details or {}
        fail(purchase, code=str(details.get("stripe_code") or "card_declined"),
             decline_code=details.get("decline_code"), message=exc.message,
             notify=notify_failure)
        raise
    except GatewayRequestRefused as exc:
        fail(purchase, code=str((exc.details or {}).get("stripe_code") or exc.code),
             decline_code=None, message=exc.message, notify=notify_failure)
        raise
    except PaymentProviderUnavailable:
        raise  # maybe charged, maybe not: stays pending for the webhook / reconciliation
    return settle(purchase, intent)


def failure_error(purchase: Purchase) -> DomainError:
    """The error a failed purchase answers with (a replay answers the same)."""
    details = {"purchase_id": purchase.purchase_id, "decline_code": purchase.decline_code,
               "stripe_code": purchase.failure_code}
    if purchase.decline_code or purchase.failure_code in ("card_declined",
                                                          "authentication_required",
                                                          "expired_card", "incorrect_cvc"):
        return PaymentDeclined(purchase.failure_message or "the card was declined",
                               details=details)
    return PurchaseFailed(purchase.failure_message or "the purchase failed", details=details)


# ---------------------------------------------------------------- purchases


def purchase_id_for(agency_id: str, subaccount_id: str, caller_id: str,
                    idempotency_key: str | None) -> str:
    """Deterministic from the caller and its Idempotency-Key: a retry by the same caller is
    the same purchase; the same key from another user is another purchase (SPEC: keys are
    scoped to the caller)."""
    if not idempotency_key:
        return f"pur_{uuid.uuid4().hex[:24]}"
    digest = hashlib.sha256(
        f"{agency_id}\n{subaccount_id}\n{caller_id}\n{idempotency_key}".encode())
    return f"pur_{digest.hexdigest()[:24]}"


def parse_tier(value: object, field: str = "tier") -> str:
    """``basic`` or ``premium``."""
    if value not in TIERS:
        raise ValidationFailed(f"{field} must be one of {', '.join(TIERS)}",
                               details={"field": field})
    return str(value)


def parse_whole_minutes(value: object, field: str, *, allow_zero: bool = False,
                        maximum: int = MAX_PURCHASE_MINUTES) -> int:
    """Whole minutes (string or int) → minutes; bounded."""
    seconds = parse_minutes(value, field, whole_minutes=True)
    minutes = seconds // SECONDS_PER_MINUTE
    if (minutes == 0 and not allow_zero) or minutes > maximum:
        low = 0 if allow_zero else 1
        raise ValidationFailed(f"{field} must be a whole number from {low} to {maximum}",
                               details={"field": field})
    return minutes


def render_purchase(purchase: Purchase, principal: Principal | None = None) -> dict[str, Any]:
    """API shape of a purchase. Sub-account users never see the agency's margin."""
    show_profit = principal is None or principal.role in AGENCY_ROLES
    seconds = purchase.total_seconds
    return {
        "id": purchase.purchase_id,
        "subaccount_id": purchase.subaccount_id,
        "source": purchase.source,
        "status": purchase.status,
        "tier": purchase.tier,
        "minutes": render_minutes(seconds),
        "seconds": seconds,
        "amount_usd": render_usd(purchase.charge_micros),
        "profit_usd": render_usd(purchase.profit_micros) if show_profit else None,
        "payment_intent_id": purchase.payment_intent_id,
        "payment_method_id": purchase.payment_method_id,
        "failure_code": purchase.failure_code,
        "decline_code": purchase.decline_code,
        "refunded_usd": render_usd(cents_to_micros(purchase.refunded_cents or 0)),
        "created_at": iso_z(purchase.created_at),
    }


def purchase_minutes(principal: Principal, sub: Subaccount, *, tier: object, minutes: object,
                     payment_method_id: str | None, idempotency_key: str | None,
                     profile: PaymentProfile | None = None) -> tuple[dict[str, Any], int]:
    """Buy minutes for a sub-account with its own card at its price.

    ``profile`` is the sub-account's payment profile when the caller read it with the
    sub-account (else it is read here). Returns the rendered purchase and the HTTP status:
    201 once credited, 202 while Stripe has not settled the charge (the webhook finishes
    it). Declines raise 402.
    """
    tier = parse_tier(tier)
    count = parse_whole_minutes(minutes, "minutes")
    price = price_purchase(count, sub.price(tier), BASE_COST_MICROS[tier])
    if profile is None:  # not passed in, or no card yet: read it (a 4xx follows if absent)
        profile = store.get_profile(sub.agency_id, sub.subaccount_id)
    card = chargeable_card(profile, payment_method_id)
    if profile is None:  # pragma: no cover - chargeable_card refused already
        raise NoPaymentMethod("this sub-account has no saved card")
    purchase_id = purchase_id_for(sub.agency_id, sub.subaccount_id, principal.user_id,
                                  idempotency_key)
    seconds = count * SECONDS_PER_MINUTE
    purchase = new_purchase(
        agency_id=sub.agency_id, purchase_id=purchase_id, source="purchase",
        subaccount_id=sub.subaccount_id, payer_subaccount_id=sub.subaccount_id, tier=tier,
        basic_seconds=seconds if tier == "basic" else 0,
        premium_seconds=seconds if tier == "premium" else 0, price=price,
        transaction_id=f"purchase:{purchase_id}", customer_id=profile.customer_id,
        payment_method_id=card, timezone=principal.timezone,
    )
    existing = record_pending(purchase)
    if existing is not None:
        purchase = _resume(existing, purchase)
    else:
        purchase = charge(purchase, notify_failure=False)
    if purchase.status == "succeeded":
        return render_purchase(purchase, principal), 201
    if purchase.status == "failed":
        raise failure_error(purchase)
    return render_purchase(purchase, principal), 202


def _resume(existing: Purchase, wanted: Purchase) -> Purchase:
    """The same Idempotency-Key again: it must be the same purchase; return its state,
    asking Stripe (same idempotency key: no second charge) if it is still pending."""
    same = (existing.basic_seconds == wanted.basic_seconds
            and existing.premium_seconds == wanted.premium_seconds
            and existing.charge_micros == wanted.charge_micros
            and existing.payment_method_id == wanted.payment_method_id)
    if not same:
        raise ValidationFailed("Idempotency-Key was already used for another purchase",
                               code="idempotency_key_reused")
    if existing.status != "pending":
        return existing
    if existing.payment_intent_id:
        return settle(existing, retrieve_intent(existing.payment_intent_id))
    try:
        return charge(existing, notify_failure=False)
    except (PaymentDeclined, ValidationFailed):
        return store.get_purchase(existing.agency_id, existing.purchase_id) or existing


# ---------------------------------------------------------------- reconciliation


def finish_pending_purchases(as_of: datetime) -> dict[str, int]:
    """Finish purchases left pending (crash, outage, asynchronous payment): reads Stripe only.

    For the job ``reconciliation``. Reads GSI2 ``DUE#purchase-pending`` up to ``as_of`` (a
    purchase enters it ``RECONCILE_AFTER`` after creation). With an intent id: what Stripe
    says is applied (a succeeded intent is credited, a failed one fails, one waiting for
    the customer past ``ABANDON_AFTER`` is cancelled). Without one, the request died before
    Stripe answered: the purchase fails as ``interrupted`` — and if Stripe did charge, its
    ``payment_intent.succeeded`` webhook (which carries the purchase id) still credits it.
    Never creates a charge.
    """
    counts = {"processed": 0, "succeeded": 0, "failed": 0, "skipped": 0}
    for item in list(purchases.pending_due(as_of)):
        purchase = store.get_purchase(item.agency_id, item.purchase_id)
        if purchase is None:
            continue
        counts["processed"] += 1
        try:
            if purchase.status != "pending":
                _drop_from_index(purchase)
                counts["skipped"] += 1
                continue
            intent: IntentResult | None
            if purchase.payment_intent_id:
                intent = retrieve_intent(purchase.payment_intent_id)
            else:
                # Our request died before Stripe's answer reached us: Stripe may have
                # charged anyway. Look the intent up by our purchase id before giving up.
                intent = find_intent_of_purchase(
                    purchase.customer_id, purchase.purchase_id,
                    int(purchase.created_at.timestamp()) - 300)
                if intent is None:
                    fail(purchase, code="interrupted", decline_code=None,
                         message="the charge request did not complete", notify=True)
                    counts["failed"] += 1
                    continue
            if (intent.status not in ("succeeded", "requires_payment_method", "canceled")
                    and as_of - purchase.created_at > ABANDON_AFTER):
                cancel_intent(intent.payment_intent_id)
                intent = retrieve_intent(intent.payment_intent_id)
            result = settle(purchase, intent)
            if result.status == "succeeded":
                counts["succeeded"] += 1
            elif result.status == "failed":
                counts["failed"] += 1
            else:
                counts["skipped"] += 1
        except DomainError:
            log.exception("reconciliation of purchase %s failed", purchase.purchase_id)
            counts["failed"] += 1
    return counts


def _drop_from_index(purchase: Purchase) -> None:
    with contextlib.suppress(ConditionFailed):
        commit([purchases.unindex_op(purchase)])


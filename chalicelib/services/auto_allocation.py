"""Monthly auto-allocation: fixed Basic and/or Premium minutes bought for a sub-account on its
billing cycle date, charged to the PRIMARY's default card at base cost (no profit: the agency
buys for its client), credited to the sub-account. It never touches plan-included minutes.

A rule is in GSI2 ``DUE#auto-allocation`` only while active and enabled, keyed by when it is
next due, so the daily sweep reads only due rules. Each cycle date (``period``) is bought once:
the ledger credit's id is ``allocation:<sid>:<period>`` whatever the attempt, and each attempt
is its own Purchase (``alloc_<sid>_<period>_<attempt>``) whose id is also the Stripe
idempotency key, so a rerun for the same period finds the purchase and charges nothing.
A decline is recorded on the purchase, notified and emailed to the owner, retried by the
next daily sweeps up to ``MAX_RETRIES`` times, then the rule pauses with the reason.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.domain.billing import next_cycle_date
from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.domain.money import SECONDS_PER_MINUTE, render_usd
from chalicelib.domain.plans import BASE_COST_MICROS
from chalicelib.domain.roles import Principal
from chalicelib.services import payments
from chalicelib.services.audit import audit_op
from chalicelib.services.notifications import notification_op
from chalicelib.store import auto_allocation_rules as rules
from chalicelib.store import payments as store
from chalicelib.store import users
from chalicelib.store.accounts import Agency, Subaccount
from chalicelib.store.auto_allocation_rules import AutoAllocationRule
from chalicelib.store.base import utcnow
from chalicelib.store.payments import Purchase
from chalicelib.store.transact import ConditionFailed, Op, commit

log = logging.getLogger(__name__)

#: A declined allocation is retried by this many later daily sweeps, then the rule pauses.
MAX_RETRIES = 3
MAX_MINUTES = 1_000_000


def render_rule(rule: AutoAllocationRule) -> dict[str, Any]:
    """API shape of a rule. ``next_run_at`` is when the sweep next charges (a retry date after
    a decline); ``period`` the cycle date being bought."""
    return {
        "subaccount_id": rule.subaccount_id,
        "basic_minutes": str(rule.basic_minutes or 0),
        "premium_minutes": str(rule.premium_minutes or 0),
        "enabled": bool(rule.enabled),
        "status": rule.status,
        "paused_reason": rule.paused_reason,
        "next_run_at": rule.next_run_at,
        "period": rule.period,
        "failures": rule.failures or 0,
        "last_failure_code": rule.last_failure_code,
        "last_period_done": rule.last_period_done,
        "updated_at": rule.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def get_rule(sub: Subaccount) -> dict[str, Any]:
    """The sub-account's rule (404 when none)."""
    rule = rules.get(sub.agency_id, sub.subaccount_id)
    if rule is None:
        raise NotFound("no auto-allocation rule for this sub-account")
    return render_rule(rule)


def put_rule(principal: Principal, sub: Subaccount, *, basic_minutes: object,
             premium_minutes: object, enabled: bool, today: date | None = None
             ) -> dict[str, Any]:
    """Create or replace the rule; it (re)starts active, first due on the NEXT cycle date.

    Setting a rule never charges at once (the anchor day itself counts only when it is
    still ahead): buying now is a purchase. Re-saving a paused rule resumes it.
    """
    basic = payments.parse_whole_minutes(basic_minutes, "basic_minutes", allow_zero=True,
                                         maximum=MAX_MINUTES)
    premium = payments.parse_whole_minutes(premium_minutes, "premium_minutes",
                                           allow_zero=True, maximum=MAX_MINUTES)
    if basic == 0 and premium == 0:
        raise ValidationFailed("basic_minutes and premium_minutes cannot both be 0",
                               details={"field": "premium_minutes"})
    day = today or utcnow().date()
    period = next_cycle_date(date.fromisoformat(sub.subscription_start), day)
    existing = rules.get(sub.agency_id, sub.subaccount_id)
    rule = rules.new(agency_id=sub.agency_id, subaccount_id=sub.subaccount_id,
                     basic_minutes=basic, premium_minutes=premium, enabled=enabled,
                     period=period, existing=existing, at=utcnow())
    commit([
        rules.replace_op(rule, existing, Conflict("the rule changed meanwhile; retry",
                                                  code="concurrent_update")),
        audit_op(sub.agency_id, principal.user_id, "auto_allocation.set",
                 subaccount_id=sub.subaccount_id,
                 before=render_rule(existing) if existing else None, after=render_rule(rule)),
    ])
    return render_rule(rule)


def delete_rule(principal: Principal, sub: Subaccount) -> None:
    """Delete the rule (its due entry goes with it)."""
    rule = rules.get(sub.agency_id, sub.subaccount_id)
    if rule is None:
        raise NotFound("no auto-allocation rule for this sub-account")
    commit([
        rules.delete_op(rule),
        audit_op(sub.agency_id, principal.user_id, "auto_allocation.delete",
                 subaccount_id=sub.subaccount_id, before=render_rule(rule)),
    ])


# ------------------------------------------------------------------ the sweep


def purchase_id_of(subaccount_id: str, period: str, attempt: int) -> str:
    """The purchase of one attempt at one period (also its Stripe idempotency key)."""
    return f"alloc_{subaccount_id}_{period}_{attempt}"


def due_rules(as_of: datetime) -> list[tuple[str, str]]:
    """``(agency id, sub-account id)`` of every rule due at ``as_of`` (the due index only)."""
    return [(rule.agency_id, rule.subaccount_id) for rule in rules.due(as_of)]


def _advance(rule: AutoAllocationRule, sub: Subaccount, extra: list[Op] | None = None) -> None:
    """The period is done (bought or skipped): next cycle date, fresh failure count."""
    period = date.fromisoformat(rule.period)
    following = next_cycle_date(date.fromisoformat(sub.subscription_start), period)
    try:
        commit([rules.advance_op(rule, following, utcnow()), *(extra or [])])
    except ConditionFailed:
        log.info("allocation rule of %s changed during the sweep", rule.subaccount_id)


def _record_failure(rule: AutoAllocationRule, code: str, as_of: datetime,
                    extra: list[Op] | None = None) -> bool:
    """Count a failed attempt: retry tomorrow, or pause after ``MAX_RETRIES`` retries.

    Returns True when the rule is now paused.
    """
    failures = (rule.failures or 0) + 1
    paused = failures > MAX_RETRIES
    ops: list[Op] = list(extra or [])
    if paused:
        reason = f"payment failed {failures} times ({code})"
        rule_op = rules.failure_op(rule, code=code, failures=failures, at=utcnow(),
                                   paused_reason=reason)
        ops.append(notification_op(
            rule.agency_id, "auto_allocation_paused",
            f"Monthly auto-allocation paused: {reason}.", subaccount_id=rule.subaccount_id,
            data={"period": rule.period, "failure_code": code}))
    else:
        rule_op = rules.failure_op(rule, code=code, failures=failures, at=utcnow(),
                                   retry_on=as_of.date() + timedelta(days=1))
    try:
        commit([rule_op, *ops])
    except ConditionFailed:
        log.info("allocation rule of %s changed during the sweep", rule.subaccount_id)
        return False
    return paused


def _email_owner(agency: Agency, subject: str, body: str) -> None:
    from chalicelib.services.email import send_email

    owner = users.get(agency.agency_id, agency.owner_user_id)
    if owner is None:
        return
    send_email(owner.email, subject, body)


def _build_purchase(rule: AutoAllocationRule, agency: Agency, purchase_id: str,
                    customer_id: str, card: str) -> Purchase:
    basic, premium = rule.basic_minutes or 0, rule.premium_minutes or 0
    parts = [payments.price_purchase(m, BASE_COST_MICROS[t], BASE_COST_MICROS[t])
             for t, m in (("basic", basic), ("premium", premium)) if m]
    charge = sum(p.charge_micros for p in parts)
    price = payments.PriceBreakdown(charge, charge, 0, sum(p.amount_cents for p in parts))
    tier = "mixed" if basic and premium else ("basic" if basic else "premium")
    return payments.new_purchase(
        agency_id=rule.agency_id, purchase_id=purchase_id, source="allocation",
        subaccount_id=rule.subaccount_id, payer_subaccount_id=agency.primary_subaccount_id,
        tier=tier, basic_seconds=basic * SECONDS_PER_MINUTE,
        premium_seconds=premium * SECONDS_PER_MINUTE, price=price,
        transaction_id=f"allocation:{rule.subaccount_id}:{rule.period}",
        customer_id=customer_id, payment_method_id=card, timezone=agency.timezone,
        rule_ref=f"{rule.period}#{rule.attempt or 0}",
    )


def process_rule(agency_id: str, subaccount_id: str, as_of: datetime) -> str:
    """One due rule: ``succeeded``, ``failed`` or ``skipped`` (not due, pending, gone)."""
    # Read again: the due index may lag behind a write.
    rule, sub, agency = rules.load(agency_id, subaccount_id)
    if (rule is None or not rule.enabled or rule.status != "active" or not rule.next_run_at
            or rule.next_run_at > as_of.strftime("%Y-%m-%dT%H:%M:%SZ")):
        return "skipped"  # changed since the index was read
    if sub is None or agency is None or sub.status == "removed" or agency.status != "active":
        commit([rules.delete_op(rule)])
        return "skipped"
    if sub.status == "suspended":
        # No allocation is bought for a suspended client; the rule waits for the next cycle.
        _advance(rule, sub, [notification_op(
            agency_id, "auto_allocation_skipped",
            f"Monthly auto-allocation of {rule.period} skipped: the sub-account is suspended.",
            subaccount_id=subaccount_id, data={"period": rule.period})])
        return "skipped"
    purchase_id = purchase_id_of(subaccount_id, rule.period, rule.attempt or 0)
    purchase = store.get_purchase(agency_id, purchase_id)
    if purchase is None:
        profile = store.get_profile(agency_id, agency.primary_subaccount_id)
        try:
            card = payments.chargeable_card(profile)
        except payments.NoPaymentMethod:
            _fail_without_charge(rule, agency, "no_payment_method", as_of)
            return "failed"
        customer_id = profile.customer_id if profile else ""
        purchase = _build_purchase(rule, agency, purchase_id, customer_id, card)
        existing = payments.record_pending(purchase)
        purchase = existing or purchase
    if purchase.status == "pending":
        purchase = _charge(purchase)
    if purchase.status == "succeeded":
        _advance(rule, sub)
        return "succeeded"
    if purchase.status == "failed":
        paused = _record_failure(rule, purchase.failure_code or "card_declined", as_of)
        _notify_owner_of_failure(agency, rule, purchase, paused)
        return "failed"
    return "skipped"  # Stripe has not settled it: the webhook or a later sweep finishes it


def _charge(purchase: Purchase) -> Purchase:
    try:
        if purchase.payment_intent_id:
            from chalicelib.stripe_gateway.payments import retrieve_intent

            return payments.settle(purchase, retrieve_intent(purchase.payment_intent_id))
        return payments.charge(purchase, notify_failure=True)
    except (payments.PaymentDeclined, ValidationFailed):
        pass  # recorded on the purchase by ``charge``
    return store.get_purchase(purchase.agency_id, purchase.purchase_id) or purchase


def _fail_without_charge(rule: AutoAllocationRule, agency: Agency, code: str,
                         as_of: datetime) -> None:
    notice = notification_op(
        rule.agency_id, "auto_allocation_failed",
        "Monthly auto-allocation failed: the primary account has no saved card.",
        subaccount_id=rule.subaccount_id, data={"period": rule.period, "failure_code": code})
    paused = _record_failure(rule, code, as_of, [notice])
    _email_owner(agency, "Monthly auto-allocation failed",
                 f"The monthly allocation of {rule.period} for sub-account {rule.subaccount_id} "
                 "could not be charged: the primary account has no saved card."
                 + (" The rule is paused." if paused else " It will be retried tomorrow."))


def _notify_owner_of_failure(agency: Agency, rule: AutoAllocationRule, purchase: Purchase,
                             paused: bool) -> None:
    reason = purchase.decline_code or purchase.failure_code or "declined"
    _email_owner(
        agency, "Monthly auto-allocation payment failed",
        f"The monthly allocation of {rule.period} for sub-account {rule.subaccount_id} "
        f"({render_usd(purchase.charge_micros)} USD) was declined: {reason}."
        + (" The rule is paused after repeated failures; update the card and save the rule "
           "again to resume." if paused else " It will be retried tomorrow."))

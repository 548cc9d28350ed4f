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

The sweep buys from the rule as the due index returned it: the rule copies the agency's
primary and timezone and the sub-account's anchor, so the only other read is the payer's
payment profile, and the pending purchase's transaction requires that the rule is unchanged,
the sub-account active with that anchor and the agency active with that timezone. Anything
unusual (a condition refused, the attempt recorded before, no card, a rule without copies)
is decided on fresh reads, as before the copies: the slow path.
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
from chalicelib.services.email import send_email
from chalicelib.services.notifications import notification_op
from chalicelib.store import agencies, users
from chalicelib.store import auto_allocation_rules as rules
from chalicelib.store import payments as store
from chalicelib.store.accounts import Subaccount
from chalicelib.store.auto_allocation_rules import AutoAllocationRule
from chalicelib.store.base import utcnow
from chalicelib.store.payments import Purchase
from chalicelib.store.transact import ConditionFailed, Op, commit
from chalicelib.stripe_gateway.payments import retrieve_intent

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
    existing, agency = rules.get_with_agency(sub.agency_id, sub.subaccount_id)
    if agency is None:
        raise NotFound("agency not found")
    rule = rules.new(agency_id=sub.agency_id, subaccount_id=sub.subaccount_id,
                     basic_minutes=basic, premium_minutes=premium, enabled=enabled,
                     period=period, existing=existing, at=utcnow(),
                     primary_subaccount_id=agency.primary_subaccount_id,
                     anchor=sub.subscription_start, timezone=agency.timezone)
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


class _Stale(Conflict):
    """The rule, its sub-account or its agency is not what the rule's copies say any more."""

    code = "concurrent_update"


def _stale() -> _Stale:
    return _Stale("the rule, its sub-account or its agency changed since it was read")


def due_rules(as_of: datetime) -> list[AutoAllocationRule]:
    """Every rule due at ``as_of``, whole, from the due index only."""
    return list(rules.due(as_of))


def _is_due(rule: AutoAllocationRule, as_of: datetime) -> bool:
    return bool(rule.enabled and rule.status == "active" and rule.next_run_at
                and rule.next_run_at <= as_of.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _has_copies(rule: AutoAllocationRule) -> bool:
    return bool(rule.primary_subaccount_id and rule.anchor and rule.timezone)


def _advance(rule: AutoAllocationRule, extra: list[Op] | None = None) -> None:
    """The period is done (bought or skipped): next cycle date from the rule's anchor, fresh
    failure count."""
    period = date.fromisoformat(rule.period)
    following = next_cycle_date(date.fromisoformat(rule.anchor or ""), period)
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


def _email_owner(agency_id: str, subject: str, body: str) -> None:
    # A failure path: reading the agency for its owner here keeps it off the normal path.
    agency = agencies.get(agency_id)
    owner = users.get(agency_id, agency.owner_user_id) if agency else None
    if owner is None:
        return
    send_email(owner.email, subject, body)


def _build_purchase(rule: AutoAllocationRule, purchase_id: str, customer_id: str,
                    card: str) -> Purchase:
    basic, premium = rule.basic_minutes or 0, rule.premium_minutes or 0
    parts = [payments.price_purchase(m, BASE_COST_MICROS[t], BASE_COST_MICROS[t])
             for t, m in (("basic", basic), ("premium", premium)) if m]
    charge = sum(p.charge_micros for p in parts)
    price = payments.PriceBreakdown(charge, charge, 0, sum(p.amount_cents for p in parts))
    tier = "mixed" if basic and premium else ("basic" if basic else "premium")
    return payments.new_purchase(
        agency_id=rule.agency_id, purchase_id=purchase_id, source="allocation",
        subaccount_id=rule.subaccount_id, payer_subaccount_id=rule.primary_subaccount_id,
        tier=tier, basic_seconds=basic * SECONDS_PER_MINUTE,
        premium_seconds=premium * SECONDS_PER_MINUTE, price=price,
        transaction_id=f"allocation:{rule.subaccount_id}:{rule.period}",
        customer_id=customer_id, payment_method_id=card, timezone=rule.timezone,
        rule_ref=f"{rule.period}#{rule.attempt or 0}",
    )


def process_rule(rule: AutoAllocationRule, as_of: datetime) -> str:
    """One due rule as the due index returned it: ``succeeded``, ``failed`` or ``skipped``
    (not due, pending, gone, changed meanwhile)."""
    if not _is_due(rule, as_of):
        return "skipped"
    if _has_copies(rule):
        outcome = _buy_from_copies(rule, as_of)
        if outcome is not None:
            return outcome
    return _process_read_again(rule.agency_id, rule.subaccount_id, as_of)


def _buy_from_copies(rule: AutoAllocationRule, as_of: datetime) -> str | None:
    """The normal path: reads only the payer's profile. None when the slow path decides."""
    profile = store.get_profile(rule.agency_id, rule.primary_subaccount_id or "")
    try:
        card = payments.chargeable_card(profile)
    except payments.NoPaymentMethod:
        return None  # a failure to report: on fresh reads (a suspended client is skipped)
    purchase = _build_purchase(rule, purchase_id_of(rule.subaccount_id, rule.period,
                                                    rule.attempt or 0),
                               profile.customer_id if profile else "", card)
    try:
        if payments.record_pending(purchase, rules.guard_pending(rule, _stale())) is not None:
            return None  # this attempt was recorded before: go on with it on fresh reads
    except _Stale:
        return None
    return _finish(rule, purchase, as_of)


def _process_read_again(agency_id: str, subaccount_id: str, as_of: datetime) -> str:
    """The slow path: the rule, its sub-account and agency read again (one BatchGetItem);
    a gone client's rule is deleted, stale or missing copies are refreshed."""
    rule, sub, agency = rules.load(agency_id, subaccount_id)
    if rule is None or not _is_due(rule, as_of):
        return "skipped"  # changed since the index was read
    if sub is None or agency is None or sub.status == "removed" or agency.status != "active":
        commit([rules.delete_op(rule)])
        return "skipped"
    copies = (agency.primary_subaccount_id, sub.subscription_start, agency.timezone)
    if (rule.primary_subaccount_id, rule.anchor, rule.timezone) != copies:
        rule, refresh = rules.with_copies(rule, primary_subaccount_id=copies[0],
                                          anchor=copies[1], timezone=copies[2], at=utcnow())
        try:
            commit([refresh])
        except ConditionFailed:
            log.info("allocation rule of %s changed during the sweep", subaccount_id)
            return "skipped"
    if sub.status == "suspended":
        # No allocation is bought for a suspended client; the rule waits for the next cycle.
        _advance(rule, [notification_op(
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
            _fail_without_charge(rule, "no_payment_method", as_of)
            return "failed"
        customer_id = profile.customer_id if profile else ""
        purchase = _build_purchase(rule, purchase_id, customer_id, card)
        try:
            existing = payments.record_pending(purchase, rules.guard_pending(rule, _stale()))
        except _Stale:
            log.info("allocation of %s changed during the sweep; due again", subaccount_id)
            return "skipped"
        purchase = existing or purchase
    return _finish(rule, purchase, as_of)


def _finish(rule: AutoAllocationRule, purchase: Purchase, as_of: datetime) -> str:
    """Charge a recorded purchase (unless settled) and move the rule on."""
    if purchase.status == "pending":
        purchase = _charge(purchase)
    if purchase.status == "succeeded":
        _advance(rule)
        return "succeeded"
    if purchase.status == "failed":
        paused = _record_failure(rule, purchase.failure_code or "card_declined", as_of)
        _notify_owner_of_failure(rule, purchase, paused)
        return "failed"
    return "skipped"  # Stripe has not settled it: the webhook or a later sweep finishes it


def _charge(purchase: Purchase) -> Purchase:
    try:
        if purchase.payment_intent_id:
            return payments.settle(purchase, retrieve_intent(purchase.payment_intent_id))
        return payments.charge(purchase, notify_failure=True)
    except (payments.PaymentDeclined, ValidationFailed):
        pass  # recorded on the purchase by ``charge``
    return store.get_purchase(purchase.agency_id, purchase.purchase_id) or purchase


def _fail_without_charge(rule: AutoAllocationRule, code: str, as_of: datetime) -> None:
    notice = notification_op(
        rule.agency_id, "auto_allocation_failed",
        "Monthly auto-allocation failed: the primary account has no saved card.",
        subaccount_id=rule.subaccount_id, data={"period": rule.period, "failure_code": code})
    paused = _record_failure(rule, code, as_of, [notice])
    _email_owner(rule.agency_id, "Monthly auto-allocation failed",
                 f"The monthly allocation of {rule.period} for sub-account {rule.subaccount_id} "
                 "could not be charged: the primary account has no saved card."
                 + (" The rule is paused." if paused else " It will be retried tomorrow."))


def _notify_owner_of_failure(rule: AutoAllocationRule, purchase: Purchase,
                             paused: bool) -> None:
    reason = purchase.decline_code or purchase.failure_code or "declined"
    _email_owner(
        rule.agency_id, "Monthly auto-allocation payment failed",
        f"The monthly allocation of {rule.period} for sub-account {rule.subaccount_id} "
        f"({render_usd(purchase.charge_micros)} USD) was declined: {reason}."
        + (" The rule is paused after repeated failures; update the card and save the rule "
           "again to resume." if paused else " It will be retried tomorrow."))

"""Auto-recharge and low-balance alerts, triggered by usage debits.

When a usage debit takes a tier's balance from at-or-above a rule's threshold to below it, ONE
top-up is bought with the sub-account's own default card at its own price (profit accrues as
for any purchase), sized to restore the balance: the rule's ``recharge_minutes``, or more if
the debit went further below the threshold than that. At most one top-up is in flight per
sub-account and tier (a conditional claim on the rule item), and the optional monthly cap on
auto-recharge spend is reserved at claim time. Every failure (no card, cap reached, decline)
is recorded on the rule, notified and emailed to the owner.

Concurrency cannot lose the trigger: usage debits that a rule watches are guarded by the
wallet version they read, so exactly one of concurrent debits crosses the threshold, and it
marks the rule due (GSI2 ``DUE#auto-recharge``) in its own transaction. The hook after the
commit starts the top-up at once and its claim clears the mark; if the hook cannot (the
process dies, Stripe is unreachable, a previous top-up is still in flight), the
``auto-recharge`` sweep, every 15 minutes, recharges every due rule still below its
threshold with nothing in flight, and clears the mark of a rule back above it.

The agency's low-balance alert (``Agency.low_balance_threshold_seconds``) fires once per
crossing of the threshold — the debit that crosses it — never on every debit below it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import Conflict, DomainError, NotFound, ValidationFailed
from chalicelib.domain.ledger import wallet
from chalicelib.domain.money import (
    SECONDS_PER_MINUTE,
    parse_minutes,
    parse_usd,
    render_minutes,
    render_usd,
)
from chalicelib.domain.plans import BASE_COST_MICROS, asset_of_tier
from chalicelib.services import payments
from chalicelib.services.access import get_agency, get_subaccount
from chalicelib.services.email import send_email
from chalicelib.services.notifications import notification_op, notify
from chalicelib.store import auto_recharge_rules as rules
from chalicelib.store import payments as store
from chalicelib.store import subaccounts, users
from chalicelib.store.accounts import Agency, Subaccount
from chalicelib.store.auto_recharge_rules import AutoRechargeRule
from chalicelib.store.base import TableItem, utcnow
from chalicelib.store.ledger import read_balance
from chalicelib.store.payments import Purchase
from chalicelib.store.transact import ConditionFailed, Op, commit

log = logging.getLogger(__name__)

MAX_THRESHOLD_MINUTES = 1_000_000
DUE_JOB = rules.DUE_JOB


class RuleChanged(Conflict):
    """The rule changed (edited, deleted) between the usage's read and its write."""

    code = "rule_changed"


def render_rule(rule: AutoRechargeRule) -> dict[str, Any]:
    """API shape of a rule (what it does and how it last went)."""
    cap = rule.monthly_cap_micros
    return {
        "subaccount_id": rule.subaccount_id,
        "tier": rule.tier,
        "threshold_minutes": render_minutes(rule.threshold_seconds),
        "threshold_seconds": rule.threshold_seconds,
        "recharge_minutes": str(rule.recharge_minutes),
        "enabled": bool(rule.enabled),
        "monthly_cap_usd": render_usd(cap) if cap is not None else None,
        "month": rule.month,
        "month_spent_usd": render_usd(rule.month_spent_micros or 0),
        "in_flight": rule.in_flight is not None,
        "failures": rule.failures or 0,
        "last_failure_code": rule.last_failure_code,
        "last_failure_at": rule.last_failure_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if rule.last_failure_at else None,
        "last_purchase_id": rule.last_purchase_id,
        # a crossing whose top-up has not started yet: the next sweep starts it
        "recharge_due": rule.recharge_due,
    }


def get_rules(sub: Subaccount, tier: str | None) -> dict[str, Any]:
    """``{rules: [...]}`` for both tiers, or one rule with ``tier`` (404 when none)."""
    if tier is not None:
        rule = rules.get(sub.agency_id, sub.subaccount_id, payments.parse_tier(tier))
        if rule is None:
            raise NotFound("no auto-recharge rule for this tier")
        return render_rule(rule)
    found = [rules.get(sub.agency_id, sub.subaccount_id, t) for t in ("basic", "premium")]
    return {"rules": [render_rule(r) for r in found if r is not None]}


def put_rule(sub: Subaccount, *, tier: object, threshold_minutes: object,
             recharge_minutes: object, enabled: bool, monthly_cap_usd: object | None
             ) -> dict[str, Any]:
    """Create or replace the rule of one tier (this month's spend and an in-flight top-up
    are kept: re-saving a rule must not reopen the cap)."""
    tier = payments.parse_tier(tier)
    threshold = parse_minutes(threshold_minutes, "threshold_minutes")
    if threshold > MAX_THRESHOLD_MINUTES * SECONDS_PER_MINUTE:
        raise ValidationFailed("threshold_minutes is too large",
                               details={"field": "threshold_minutes"})
    recharge = payments.parse_whole_minutes(recharge_minutes, "recharge_minutes")
    cap = None
    if monthly_cap_usd is not None:
        cap = parse_usd(monthly_cap_usd, "monthly_cap_usd", max_decimals=2)
        if cap <= 0:
            raise ValidationFailed("monthly_cap_usd must be positive",
                                   details={"field": "monthly_cap_usd"})
    existing = rules.get(sub.agency_id, sub.subaccount_id, tier)
    rule = rules.new(agency_id=sub.agency_id, subaccount_id=sub.subaccount_id, tier=tier,
                     threshold_seconds=threshold, recharge_minutes=recharge, enabled=enabled,
                     monthly_cap_micros=cap, existing=existing, at=utcnow())
    commit([rules.replace_op(rule, existing, Conflict("the rule changed meanwhile; retry",
                                                      code="concurrent_update"))])
    return render_rule(rule)


def delete_rule(sub: Subaccount, tier: str | None) -> None:
    """Delete the rule of ``tier`` (required)."""
    if tier is None:
        raise ValidationFailed("tier is required", details={"field": "tier"})
    rule = rules.get(sub.agency_id, sub.subaccount_id, payments.parse_tier(tier))
    if rule is None:
        raise NotFound("no auto-recharge rule for this tier")
    commit([rules.delete_op(rule)])


# ------------------------------------------------------------------ the usage hook


Settings = tuple["Agency | None", "AutoRechargeRule | None"]


def settings_keys(agency_id: str, subaccount_id: str, tier: str) -> list[tuple[str, str]]:
    """Keys of what the hook needs (agency, rule): usage reads them with its own batch."""
    return rules.settings_keys(agency_id, subaccount_id, tier)


def settings_from(items: list[TableItem]) -> Settings:
    """Pick the agency and the rule out of a batch read."""
    agency = next((item for item in items if isinstance(item, Agency)), None)
    rule = next((item for item in items if isinstance(item, AutoRechargeRule)), None)
    return agency, rule


def watches(settings: Settings) -> bool:
    """Whether a debit must know the exact balance it leaves (a rule or an alert looks)."""
    agency, rule = settings
    return ((rule is not None and bool(rule.enabled))
            or (agency is not None and agency.low_balance_threshold_seconds is not None))


def crosses(rule: AutoRechargeRule | None, balance_before: int, balance_after: int) -> bool:
    """Whether this debit took the tier from at-or-above the rule's threshold to below it."""
    return (rule is not None and bool(rule.enabled)
            and balance_before >= rule.threshold_seconds > balance_after)


def crossing_ops(settings: Settings, balance_before: int, balance_after: int,
                 at: datetime) -> list[Op]:
    """For the usage debit's own transaction: mark the rule due when this debit crosses its
    threshold (the rule as read must be unchanged, else usage reads again)."""
    _agency, rule = settings
    if rule is None or not crosses(rule, balance_before, balance_after):
        return []
    return [rules.mark_due_op(rule, at, RuleChanged("the auto-recharge rule changed meanwhile"))]


def after_usage_debit(agency_id: str, subaccount_id: str, tier: str, balance_before: int,
                      balance_after: int, settings: Settings | None = None) -> None:
    """Called by usage ingestion after a debit. No read when ``settings`` are passed in
    (usage fetches them with the balance), else one BatchGetItem.

    Never raises for a payment problem: the debit stands, and failures are recorded on the
    rule and notified.
    """
    if balance_after >= balance_before or tier not in BASE_COST_MICROS:
        return
    try:
        _after_debit(agency_id, subaccount_id, tier, balance_before, balance_after, settings)
    except Exception:  # the hook must never undo or fail a recorded debit
        # Not lost: a crossing debit marked its rule due, so the sweep starts the top-up.
        log.exception("after-debit hook of %s/%s failed; the auto-recharge sweep retries it",
                      subaccount_id, tier,
                      extra={"agency_id": agency_id, "subaccount_id": subaccount_id,
                             "tier": tier, "balance_after": balance_after})


def _after_debit(agency_id: str, subaccount_id: str, tier: str, balance_before: int,
                 balance_after: int, settings: Settings | None) -> None:
    agency, rule = settings or _read_settings(agency_id, subaccount_id, tier)
    if agency is not None and agency.low_balance_threshold_seconds is not None:
        threshold = agency.low_balance_threshold_seconds
        if balance_before >= threshold > balance_after:
            _low_balance_alert(agency, subaccount_id, tier, balance_after)
    if not crosses(rule, balance_before, balance_after):
        return  # not this debit's crossing: one top-up per crossing
    assert rule is not None
    recharge(rule, agency, balance_after)


def _read_settings(agency_id: str, subaccount_id: str, tier: str
                   ) -> tuple[Agency | None, AutoRechargeRule | None]:
    return settings_from(rules.read_settings(agency_id, subaccount_id, tier))


def _owner_email(agency: Agency | None) -> str | None:
    if agency is None:
        return None
    owner = users.get(agency.agency_id, agency.owner_user_id)
    return owner.email if owner is not None else None


def _email_owner(agency: Agency | None, subject: str, body: str) -> None:
    to = _owner_email(agency)
    if to:
        send_email(to, subject, body)


def _low_balance_alert(agency: Agency, subaccount_id: str, tier: str, balance: int) -> None:
    message = (f"Low {tier} balance: {render_minutes(balance)} minutes left on sub-account "
               f"{subaccount_id}.")
    notify(agency.agency_id, "low_balance", message, subaccount_id=subaccount_id,
           data={"tier": tier, "balance_seconds": balance,
                 "threshold_seconds": agency.low_balance_threshold_seconds})
    _email_owner(agency, f"Low {tier} minute balance", message)


def _month() -> str:
    return utcnow().strftime("%Y-%m")


def _record_failure(rule: AutoRechargeRule, agency: Agency | None, code: str, message: str,
                    *, notify: bool, failed: Purchase | None = None) -> None:
    # A failure ends the crossing: reported once (rule, notification, email), not retried
    # by every sweep; the next crossing tries again. A failed top-up (``failed``) also
    # releases its claim and its reservation of this month's spend.
    ops: list[Op] = [rules.failure_op(
        rule, code=code, at=utcnow(),
        failed_purchase_id=failed.purchase_id if failed is not None else None,
        unreserve_micros=failed.charge_micros if failed is not None else 0)]
    if notify:
        ops.append(notification_op(rule.agency_id, "auto_recharge_failed",
                                   f"Auto-recharge ({rule.tier}) failed: {message}",
                                   subaccount_id=rule.subaccount_id,
                                   data={"tier": rule.tier, "failure_code": code}))
    try:
        commit(ops)
    except ConditionFailed:
        return  # the rule was deleted or changed meanwhile
    _email_owner(agency, f"Auto-recharge failed ({rule.tier})",
                 f"Auto-recharge of {rule.tier} minutes for sub-account {rule.subaccount_id} "
                 f"failed: {message}")


def top_up_minutes(rule: AutoRechargeRule, balance_after: int) -> int:
    """The top-up: ``recharge_minutes``, or enough to bring the balance back to the threshold."""
    missing = max(rule.threshold_seconds - balance_after, 0)
    return max(rule.recharge_minutes, -(-missing // SECONDS_PER_MINUTE))


def recharge(rule: AutoRechargeRule, agency: Agency | None, balance_after: int) -> str:
    """Claim the rule, charge the sub-account's default card, credit the minutes.

    Returns ``succeeded``, ``failed``, ``pending`` or ``skipped`` (another top-up in flight).
    """
    sub = subaccounts.find(rule.agency_id, rule.subaccount_id)
    if sub is None or sub.status != "active":
        return "skipped"
    released = 0
    if rule.in_flight:
        previous = store.get_purchase(rule.agency_id, rule.in_flight)
        if previous is not None and previous.status == "pending":
            return "skipped"  # at most one top-up in flight per sub-account and tier
        if previous is not None and previous.status == "failed" and rule.month == _month():
            released = rule.in_flight_micros or 0  # its reservation was never spent
    minutes = top_up_minutes(rule, balance_after)
    price = payments.price_purchase(minutes, sub.price(rule.tier), BASE_COST_MICROS[rule.tier])
    profile = store.get_profile(sub.agency_id, sub.subaccount_id)
    try:
        card = payments.chargeable_card(profile)
    except payments.NoPaymentMethod:
        _record_failure(rule, agency, "no_payment_method",
                        "the sub-account has no saved card.", notify=True)
        return "failed"
    month = _month()
    spent_before = (rule.month_spent_micros or 0) if rule.month == month else 0
    spent = max(spent_before - released, 0) + price.charge_micros
    cap = rule.monthly_cap_micros
    if cap is not None and spent > cap:
        _record_failure(rule, agency, "monthly_cap_reached",
                        f"this month's cap of {render_usd(cap)} USD would be exceeded.",
                        notify=True)
        return "failed"
    purchase_id = f"rch_{uuid.uuid4().hex[:24]}"
    try:
        # The top-up started: the claim clears the due mark (the sweep has nothing to do).
        commit([rules.claim_op(rule, purchase_id=purchase_id, charge_micros=price.charge_micros,
                               month=month, month_spent_micros=spent)])
    except ConditionFailed:
        return "skipped"  # a concurrent debit claimed it first
    seconds = minutes * SECONDS_PER_MINUTE
    purchase = payments.new_purchase(
        agency_id=sub.agency_id, purchase_id=purchase_id, source="auto_recharge",
        subaccount_id=sub.subaccount_id, payer_subaccount_id=sub.subaccount_id, tier=rule.tier,
        basic_seconds=seconds if rule.tier == "basic" else 0,
        premium_seconds=seconds if rule.tier == "premium" else 0, price=price,
        transaction_id=f"recharge:{purchase_id}", customer_id=profile.customer_id
        if profile else "", payment_method_id=card, rule_ref=rule.tier,
        timezone=agency.timezone if agency is not None else None,
    )
    payments.record_pending(purchase)
    try:
        purchase = payments.charge(purchase, notify_failure=True)
    except (payments.PaymentDeclined, ValidationFailed):
        purchase = store.get_purchase(sub.agency_id, purchase_id) or purchase
    return _after_charge(rule, agency, purchase)


def _after_charge(rule: AutoRechargeRule, agency: Agency | None, purchase: Purchase) -> str:
    """Release the claim of a settled top-up (and its cap reservation if it failed)."""
    if purchase.status == "succeeded":
        try:
            commit([rules.release_op(rule, purchase.purchase_id)])
        except ConditionFailed:
            pass
        return "succeeded"
    if purchase.status == "failed":
        reason = purchase.decline_code or purchase.failure_code or "declined"
        _record_failure(
            rule, agency, purchase.failure_code or "card_declined",
            f"the card was declined ({reason}).", notify=False, failed=purchase)
        return "failed"
    return "pending"


# ------------------------------------------------------------------ the sweep


def recharge_due_rules(as_of: datetime, deadline: Any = None) -> dict[str, int]:
    """Start the top-ups that crossing debits marked due and could not start themselves.

    Reads only GSI2 ``DUE#auto-recharge`` (never all rules). Per due rule, re-read
    consistently: below its threshold with nothing in flight → recharge (the claim clears
    the mark); back above it, disabled or its sub-account removed → clear the mark; a top-up
    still in flight → leave it due. Past the ``deadline`` the rest waits for the next run.
    """
    counts = {"processed": 0, "succeeded": 0, "failed": 0, "skipped": 0, "deferred": 0}
    due = list(rules.due(as_of))
    for index, listed in enumerate(due):
        if deadline is not None and deadline.passed():
            counts["deferred"] = len(due) - index
            break
        counts["processed"] += 1
        try:
            outcome = _sweep_rule(listed)
        except DomainError:
            log.exception("auto-recharge sweep of %s/%s failed", listed.subaccount_id,
                          listed.tier, extra={"agency_id": listed.agency_id,
                                              "subaccount_id": listed.subaccount_id})
            outcome = "failed"
        counts[outcome if outcome in ("succeeded", "failed") else "skipped"] += 1
    return counts


def _sweep_rule(listed: AutoRechargeRule) -> str:
    rule = rules.get(listed.agency_id, listed.subaccount_id, listed.tier)
    if rule is None or not rule.recharge_due:
        return "skipped"  # deleted, or started / cleared meanwhile
    try:
        get_subaccount(rule.agency_id, rule.subaccount_id)
    except NotFound:
        return _clear_due(rule)  # removed: nothing to recharge
    balance = read_balance(rule.agency_id, wallet(rule.subaccount_id),
                           asset_of_tier(rule.tier)).balance
    if not rule.enabled or balance >= rule.threshold_seconds:
        return _clear_due(rule)
    return recharge(rule, get_agency(rule.agency_id), balance)


def _clear_due(rule: AutoRechargeRule) -> str:
    """Drop the due mark read, unless a newer crossing set another meanwhile."""
    try:
        commit([rules.clear_due_op(rule)])
    except ConditionFailed:
        pass
    return "skipped"

"""Payments persistence: the models of the payments area, payment profiles (each
sub-account's Stripe customer and saved cards), purchase reads and disputes.

The access patterns of the other items are in their repositories: ``store.purchases``
(a purchase from pending to settled), ``store.auto_allocation_rules``,
``store.auto_recharge_rules``, ``store.plan_renewals`` and ``store.webhooks``.

Purchases are recorded ``pending`` BEFORE Stripe is asked to charge, so a crash between Stripe
and DynamoDB leaves a trace that the webhook or the reconciliation sweep finishes. Schedules
(auto-allocation rules, plan renewals, pending purchases) sit in the sparse GSI2 under
``DUE#<job>`` only while something is due, so a sweep reads O(due) items, never a scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from pynamodb.attributes import Attribute, BooleanAttribute, JSONAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, PynamoDBException
from pynamodb.expressions.condition import Condition

from chalicelib.domain.chargebacks import ChargeState, DisputeRecord, DisputeStatus
from chalicelib.domain.errors import Conflict, DomainError
from chalicelib.store import keys
from chalicelib.store.base import IntegerAttribute, TableItem, UTCDateTimeText, due_items_of
from chalicelib.store.transact import Op, StorageUnavailable, save, update

#: GSI2 partitions (``keys.due_pk``) of this feature.
ALLOCATION_JOB = "auto-allocation"
PLAN_RENEWAL_JOB = "plan-renewal"
PENDING_PURCHASES = "purchase-pending"

LOOKUP_SK = "STRIPE"


def iso_z(moment: datetime) -> str:
    """Sortable UTC text used in GSI2 sort keys (``2026-03-31T00:00:00Z``)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class PaymentProfile(TableItem, discriminator="PaymentProfile"):
    """PK: ``AGENCY#<aid>`` / SK: ``PAYPROFILE#<sid>``. A sub-account's own Stripe customer.

    One customer per sub-account, never shared. ``cards`` caches what the API lists of each
    attached payment method (id → brand, last4, expiry); the default card is ours, and every
    charge names its payment method explicitly. ``version`` guards concurrent edits.
    """

    agency_id = UnicodeAttribute()
    subaccount_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    default_payment_method = UnicodeAttribute(null=True)
    cards = JSONAttribute(default=dict)
    card_order = JSONAttribute(default=list)  # attach order, oldest first
    version = IntegerAttribute(default=0)
    created_at = UTCDateTimeText()


class Purchase(TableItem, discriminator="Purchase"):
    """PK: ``AGENCY#<aid>#PURCHASES`` / SK: ``<pid>``; GSI1 ``STRIPE#<pi id>`` / ``STRIPE``;
    GSI2 ``DUE#purchase-pending`` / ``<check after>#<aid>#<pid>`` while pending.

    One charge of a card for minutes: a purchase, an auto-recharge or a monthly allocation
    (``source``). ``subaccount_id`` receives the minutes; ``payer_subaccount_id`` owns the card
    (the primary for allocations). All amounts are ints: seconds and micro-dollars, plus the
    cents Stripe was asked for. ``transaction_id`` is the ledger id of the credit, fixed at
    creation, so every path that finishes the purchase posts the same transaction once.
    """

    agency_id = UnicodeAttribute()
    purchase_id = UnicodeAttribute()
    source = UnicodeAttribute()  # purchase | auto_recharge | allocation
    subaccount_id = UnicodeAttribute()
    payer_subaccount_id = UnicodeAttribute()
    tier = UnicodeAttribute()  # basic | premium | mixed (allocations of both tiers)
    basic_seconds = IntegerAttribute(default=0)
    premium_seconds = IntegerAttribute(default=0)
    charge_micros = IntegerAttribute()
    revenue_micros = IntegerAttribute()
    profit_micros = IntegerAttribute()
    amount_cents = IntegerAttribute()
    transaction_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    payment_method_id = UnicodeAttribute()
    payment_intent_id = UnicodeAttribute(null=True)
    charge_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # pending | succeeded | failed
    stripe_status = UnicodeAttribute(null=True)
    failure_code = UnicodeAttribute(null=True)
    decline_code = UnicodeAttribute(null=True)
    failure_message = UnicodeAttribute(null=True)
    refunded_cents = IntegerAttribute(default=0)  # Stripe's ``amount_refunded``: refunds only
    dispute_lost_cents = IntegerAttribute(default=0)  # lost disputes (not refunds), summed
    refunded_seconds = IntegerAttribute(default=0)  # seconds taken back (refunds and losses)
    profit_reversed_micros = IntegerAttribute(default=0)
    profit_held_micros = IntegerAttribute(default=0)  # held by its open disputes together
    rule_ref = UnicodeAttribute(null=True)  # allocation: "<cycle date>#<attempt>"; recharge: tier
    # The agency's timezone when the purchase was made: the settlement is counted on that
    # local date (absent on purchases made before timezones were honoured: UTC).
    timezone = UnicodeAttribute(null=True)
    created_at = UTCDateTimeText()
    completed_at = UTCDateTimeText(null=True)

    @property
    def seconds_by_asset(self) -> dict[str, int]:
        """Credited seconds per minute asset (zero tiers left out)."""
        result = {}
        if self.basic_seconds:
            result["basic_minutes"] = self.basic_seconds
        if self.premium_seconds:
            result["premium_minutes"] = self.premium_seconds
        return result

    @property
    def total_seconds(self) -> int:
        """Seconds credited over both tiers."""
        return (self.basic_seconds or 0) + (self.premium_seconds or 0)

    @property
    def charge_state(self) -> ChargeState:
        """The charge and what went back to the card, as the refund/dispute rules see it."""
        return ChargeState(
            charge_cents=self.amount_cents, profit_micros=self.profit_micros or 0,
            refunded_cents=self.refunded_cents or 0,
            dispute_lost_cents=self.dispute_lost_cents or 0,
            profit_reversed_micros=self.profit_reversed_micros or 0,
            profit_held_micros=self.profit_held_micros or 0)


class Dispute(TableItem, discriminator="Dispute"):
    """PK: ``AGENCY#<aid>#PURCHASES`` / SK: ``<pid>#DISPUTE#<dp id>``.

    One Stripe dispute of a purchase: ``open`` while it holds ``held_micros`` of the
    purchase's profit, ``closed`` (with Stripe's outcome) for good. Written in the same
    transaction as the dispute's ledger effect, created with ``attribute_not_exists`` and
    closed only from ``open``, so events in any order, or twice, apply once.
    """

    agency_id = UnicodeAttribute()
    purchase_id = UnicodeAttribute()
    dispute_id = UnicodeAttribute()
    status = UnicodeAttribute()  # open | closed
    outcome = UnicodeAttribute(null=True)  # won | warning_closed | lost
    amount_cents = IntegerAttribute()
    held_micros = IntegerAttribute(default=0)
    created_at = UTCDateTimeText()
    closed_at = UTCDateTimeText(null=True)

    @property
    def record(self) -> DisputeRecord:
        """The dispute as the rules see it."""
        return DisputeRecord(DisputeStatus(self.status), self.amount_cents or 0,
                             self.held_micros or 0, self.outcome)


class PurchaseChanged(Conflict):
    """The purchase's refund or dispute figures changed since they were read: Stripe retries."""

    code = "purchase_changed"


class DisputeChanged(Conflict):
    """Another delivery recorded this dispute first: Stripe retries and finds it."""

    code = "dispute_changed"


class AutoAllocationRule(TableItem, discriminator="AutoAllocationRule"):
    """PK: ``AGENCY#<aid>`` / SK: ``AUTOALLOC#<sid>``; GSI2 ``DUE#auto-allocation`` /
    ``<due at>#<aid>#<sid>`` only while active and enabled (removed when paused or disabled).

    ``period`` is the cycle date being bought, ``attempt`` the charge attempt for it (each
    attempt is its own Purchase and Stripe idempotency key; the ledger credit of the period
    has one id whatever the attempt). ``version`` changes with every write.
    """

    agency_id = UnicodeAttribute()
    subaccount_id = UnicodeAttribute()
    basic_minutes = IntegerAttribute(default=0)
    premium_minutes = IntegerAttribute(default=0)
    enabled = BooleanAttribute(default=True)
    status = UnicodeAttribute(default="active")  # active | paused
    paused_reason = UnicodeAttribute(null=True)
    period = UnicodeAttribute()  # ISO cycle date of the next allocation
    attempt = IntegerAttribute(default=0)
    failures = IntegerAttribute(default=0)
    last_failure_code = UnicodeAttribute(null=True)
    last_period_done = UnicodeAttribute(null=True)
    version = IntegerAttribute(default=0)
    updated_at = UTCDateTimeText()
    # Copies the sweep buys with, so that a due rule costs the due index read and the payer's
    # profile; the pending purchase's transaction checks they still hold. None on rules saved
    # before they existed (the sweep reads the originals and backfills them).
    primary_subaccount_id = UnicodeAttribute(null=True)  # the agency's payer (immutable)
    anchor = UnicodeAttribute(null=True)  # the sub-account's subscription_start
    timezone = UnicodeAttribute(null=True)  # the agency's

    @property
    def next_run_at(self) -> str | None:
        """When the sweep next charges (``2026-03-31T00:00:00Z``; a retry day after a
        decline), or None while the rule is out of the due index (paused, disabled)."""
        return self.DUESK.split("#", 1)[0] if self.DUESK else None


class AutoRechargeRule(TableItem, discriminator="AutoRechargeRule"):
    """PK: ``AGENCY#<aid>`` / SK: ``AUTORECHARGE#<sid>#<tier>``.

    ``in_flight`` holds the purchase id of the one top-up allowed at a time (claimed with a
    condition); ``month``/``month_spent_micros`` count this calendar month's auto-recharge
    spend, reserved when a top-up is claimed, against the optional ``monthly_cap_micros``.
    """

    agency_id = UnicodeAttribute()
    subaccount_id = UnicodeAttribute()
    tier = UnicodeAttribute()
    threshold_seconds = IntegerAttribute()
    recharge_minutes = IntegerAttribute()
    enabled = BooleanAttribute(default=True)
    monthly_cap_micros = IntegerAttribute(null=True)
    in_flight = UnicodeAttribute(null=True)
    in_flight_micros = IntegerAttribute(null=True)
    month = UnicodeAttribute(null=True)  # YYYY-MM
    month_spent_micros = IntegerAttribute(default=0)
    failures = IntegerAttribute(default=0)
    last_failure_code = UnicodeAttribute(null=True)
    last_failure_at = UTCDateTimeText(null=True)
    last_purchase_id = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeText()

    @property
    def recharge_due(self) -> bool:
        """A crossing whose top-up has not started yet (the sweep starts it)."""
        return self.DUESK is not None


class PlanRenewal(TableItem, discriminator="PlanRenewal"):
    """PK: ``AGENCY#<aid>`` / SK: ``PLANRENEWAL``; GSI2 ``DUE#plan-renewal`` /
    ``<cycle date>T00:00:00Z#<aid>``.

    When the agency's plan-included minutes are next credited to its primary (plans with
    included minutes only). ``next_cycle`` moves on in the same transaction as the credit.
    """

    agency_id = UnicodeAttribute()
    primary_subaccount_id = UnicodeAttribute()
    anchor = UnicodeAttribute()  # ISO date: the agency's subscription start
    next_cycle = UnicodeAttribute()  # ISO date
    last_cycle = UnicodeAttribute(null=True)

    @property
    def is_scheduled(self) -> bool:
        """Whether the schedule is in the due index (stopped: out of it)."""
        return self.DUESK is not None


def insert(item: TableItem) -> bool:
    """Put a new item (one PutItem); False when an item with its key already exists."""
    try:
        item.save(condition=type(item).PK.does_not_exist())
        return True
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise StorageUnavailable("the database refused the write") from exc
    except PynamoDBException as exc:
        raise StorageUnavailable("the database is unavailable") from exc


def _get(model: type[TableItem], pk: str, sk: str) -> TableItem | None:
    try:
        return model.get(pk, sk, consistent_read=True)
    except model.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise StorageUnavailable("the database is unavailable") from exc


def get_profile(agency_id: str, subaccount_id: str) -> PaymentProfile | None:
    """The sub-account's payment profile, or None before its first card."""
    return _get(PaymentProfile, keys.agency_pk(agency_id),  # type: ignore[return-value]
                keys.payment_profile_sk(subaccount_id))


def profile_in(found: Mapping[str, TableItem], subaccount_id: str) -> PaymentProfile | None:
    """The sub-account's payment profile among items a batch read returned by sort key
    (``accounts.subaccount_with_payment_profile``), or None."""
    profile = found.get(keys.payment_profile_sk(subaccount_id))
    return profile if isinstance(profile, PaymentProfile) else None


def create_profile(agency_id: str, subaccount_id: str, customer_id: str, at: datetime) -> None:
    """Save the sub-account's first payment profile, with no card yet. One PutItem; a
    profile saved meanwhile (a concurrent first use, with the same customer) is kept."""
    insert(PaymentProfile(
        keys.agency_pk(agency_id), keys.payment_profile_sk(subaccount_id),
        agency_id=agency_id, subaccount_id=subaccount_id, customer_id=customer_id,
        cards={}, card_order=[], version=0, created_at=at,
    ))


def cards_op(profile: PaymentProfile, *, cards: dict[str, Any], order: list[str],
             default: str | None, error: DomainError) -> Op:
    """Write the profile's saved cards, their order and the default card; ``error`` when
    the profile changed since it was read (its ``version``)."""
    return update(
        PaymentProfile(profile.PK, profile.SK),
        [PaymentProfile.cards.set(cards),
         PaymentProfile.card_order.set(order),
         PaymentProfile.version.set((profile.version or 0) + 1),
         PaymentProfile.default_payment_method.set(default) if default
         else PaymentProfile.default_payment_method.remove()],
        condition=PaymentProfile.version == (profile.version or 0),
        error=error,
    )


def get_purchase(agency_id: str, purchase_id: str) -> Purchase | None:
    """One purchase, or None."""
    return _get(Purchase, keys.purchases_pk(agency_id), purchase_id)  # type: ignore[return-value]


def find_purchase_by_intent(payment_intent_id: str) -> Purchase | None:
    """The purchase charged by a PaymentIntent (GSI1), or None."""
    try:
        for item in Purchase.lookup_index.query(keys.stripe_lookup_pk(payment_intent_id),
                                                Purchase.GSI1SK == LOOKUP_SK, limit=1):
            if isinstance(item, Purchase):
                return get_purchase(item.agency_id, item.purchase_id)
    except PynamoDBException as exc:
        raise StorageUnavailable("the database is unavailable") from exc
    return None


def get_dispute(agency_id: str, purchase_id: str, dispute_id: str) -> Dispute | None:
    """One dispute of a purchase, or None when no event of it was applied yet."""
    return _get(Dispute, keys.purchases_pk(agency_id),  # type: ignore[return-value]
                keys.dispute_sk(purchase_id, dispute_id))


def _equals(attribute: Attribute, value: int) -> Condition:
    # Purchases written before an attribute existed lack it: absent reads as zero.
    condition = attribute == value
    return condition | attribute.does_not_exist() if value == 0 else condition


def take_back_op(purchase: Purchase, before: ChargeState, after: ChargeState,
                 seconds_reversed: int = 0) -> Op:
    """Write the purchase's new refund/dispute figures, on the condition that they are still
    ``before`` (a concurrent refund or dispute makes this one retry)."""
    return update(
        Purchase(purchase.PK, purchase.SK),
        [Purchase.refunded_cents.set(after.refunded_cents),
         Purchase.dispute_lost_cents.set(after.dispute_lost_cents),
         Purchase.profit_reversed_micros.set(after.profit_reversed_micros),
         Purchase.profit_held_micros.set(after.profit_held_micros),
         Purchase.refunded_seconds.add(seconds_reversed)],
        condition=Purchase.PK.exists()
        & _equals(Purchase.refunded_cents, before.refunded_cents)
        & _equals(Purchase.dispute_lost_cents, before.dispute_lost_cents)
        & _equals(Purchase.profit_reversed_micros, before.profit_reversed_micros)
        & _equals(Purchase.profit_held_micros, before.profit_held_micros),
        error=PurchaseChanged("the purchase's refund or dispute state changed; retry"))


def dispute_op(purchase: Purchase, dispute_id: str, record: DisputeRecord,
               previous: DisputeRecord | None, now: datetime) -> Op:
    """Record a dispute's new state: created (never seen before) or closed (only from open)."""
    closed_at = now if record.status is DisputeStatus.CLOSED else None
    if previous is None:
        return save(
            Dispute(keys.purchases_pk(purchase.agency_id),
                    keys.dispute_sk(purchase.purchase_id, dispute_id),
                    agency_id=purchase.agency_id, purchase_id=purchase.purchase_id,
                    dispute_id=dispute_id, status=record.status.value, outcome=record.outcome,
                    amount_cents=record.amount_cents, held_micros=record.held_micros,
                    created_at=now, closed_at=closed_at),
            condition=Dispute.PK.does_not_exist(),
            error=DisputeChanged("the dispute was recorded meanwhile"))
    return update(
        Dispute(keys.purchases_pk(purchase.agency_id),
                keys.dispute_sk(purchase.purchase_id, dispute_id)),
        [Dispute.status.set(record.status.value),
         Dispute.outcome.set(record.outcome) if record.outcome is not None
         else Dispute.outcome.remove(),
         Dispute.held_micros.set(record.held_micros),
         Dispute.closed_at.set(closed_at) if closed_at is not None
         else Dispute.closed_at.remove()],
        condition=Dispute.status == previous.status.value,
        error=DisputeChanged("the dispute changed meanwhile"))


def get_allocation_rule(agency_id: str, subaccount_id: str) -> AutoAllocationRule | None:
    """A sub-account's monthly allocation rule, or None."""
    return _get(AutoAllocationRule, keys.agency_pk(agency_id),  # type: ignore[return-value]
                keys.auto_allocation_sk(subaccount_id))


def get_recharge_rule(agency_id: str, subaccount_id: str, tier: str) -> AutoRechargeRule | None:
    """A sub-account's auto-recharge rule of one tier, or None."""
    return _get(AutoRechargeRule, keys.agency_pk(agency_id),  # type: ignore[return-value]
                keys.auto_recharge_sk(subaccount_id, tier))


def get_plan_renewal(agency_id: str) -> PlanRenewal | None:
    """An agency's plan renewal schedule, or None."""
    return _get(PlanRenewal, keys.agency_pk(agency_id),  # type: ignore[return-value]
                keys.PLAN_RENEWAL_SK)


def due_items(job: str, as_of: datetime, limit: int | None = None) -> Iterator[TableItem]:
    """Items of GSI2 ``DUE#<job>`` due at or before ``as_of``, oldest first (no scan)."""
    upper = f"{iso_z(as_of)}#\uffff"
    yield from due_items_of(job, TableItem, upper_sk=upper, limit=limit)

"""Stripe Connect state, payouts and the payout schedule of an agency.

No banking data is stored: only Stripe ids, statuses, requirement names and failure codes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pynamodb.attributes import BooleanAttribute, JSONAttribute, UnicodeAttribute

from chalicelib.domain.errors import DomainError
from chalicelib.domain.payouts import FailureStage, PayoutStatus
from chalicelib.store import keys
from chalicelib.store.base import (
    IntegerAttribute,
    TableItem,
    UTCDateTimeText,
    sortable_time,
    string_list,
)
from chalicelib.store.transact import Op, check, save, update

#: GSI2 partitions (``keys.due_pk``) used by this feature.
SWEEP_JOB = "payout-sweep"  # schedules, by next cycle date
UNSENT_TRANSFERS = "payout-transfer"  # payouts written but whose transfer is not confirmed
PAYOUT_RECORDS = "payout-records"  # every other payout, by creation time


class ConnectAccount(TableItem, discriminator="ConnectAccount"):
    """PK: ``AGENCY#<aid>`` / SK: ``CONNECT``; GSI1 ``STRIPE#<acct id>`` / ``STRIPE``.

    The agency's Express account and what the last ``account.updated`` said of it.
    ``last_event_at`` (the event's ``created``) keeps an older event, delivered late, from
    overwriting a newer state.
    """

    agency_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    status = UnicodeAttribute()  # not_connected | initiating | connected | restricted
    details_submitted = BooleanAttribute(default=False)
    payouts_enabled = BooleanAttribute(default=False)
    requirements_due = string_list(default=list)
    disabled_reason = UnicodeAttribute(null=True)
    bank_action_needed = BooleanAttribute(default=False)
    bank_failure_code = UnicodeAttribute(null=True)
    last_event_at = IntegerAttribute(default=0)
    created_at = UTCDateTimeText()
    updated_at = UTCDateTimeText()

    @classmethod
    def key(cls, agency_id: str) -> tuple[str, str]:
        """Primary key of an agency's Connect account."""
        return keys.agency_pk(agency_id), keys.CONNECT_SK


class PayoutSchedule(TableItem, discriminator="PayoutSchedule"):
    """PK: ``AGENCY#<aid>`` / SK: ``PAYOUTSCHED``; GSI2 ``DUE#payout-sweep`` / ``<date>#<aid>``.

    When the agency is next looked at by the payout sweep: its next billing cycle date, or
    the day a refused transfer is tried again (``retry_cycle``/``retry_attempt``).
    Created when Connect onboarding starts: an agency without Connect is never due.
    The sweep moves ``DUESK`` on with a condition on its old value, so two concurrent sweeps
    never both process one cycle.
    """

    agency_id = UnicodeAttribute()
    anchor = UnicodeAttribute()  # ISO date: the agency's subscription start
    next_date = UnicodeAttribute()  # ISO date of the next cycle to pay
    last_result = UnicodeAttribute(null=True)  # paid | below_threshold | payouts_disabled …
    # What the sweep decides on, copied from the ConnectAccount by every write that changes
    # it (in the same transaction), so a due agency costs the sweep one read less. Absent on
    # schedules written before the copy existed: the sweep then reads the ConnectAccount.
    connect_account_id = UnicodeAttribute(null=True)
    connect_status = UnicodeAttribute(null=True)
    connect_payouts_enabled = BooleanAttribute(null=True)
    # A refused transfer to try again: its cycle and the attempt to make, while ``DUESK``
    # points at the retry day (before ``next_date``); cleared by the sweep that acts on it.
    retry_cycle = UnicodeAttribute(null=True)
    retry_attempt = IntegerAttribute(null=True)

    @classmethod
    def key(cls, agency_id: str) -> tuple[str, str]:
        """Primary key of an agency's payout schedule."""
        return keys.agency_pk(agency_id), keys.PAYOUT_SCHEDULE_SK


def schedule_due_sk(agency_id: str, day: date) -> str:
    """GSI2 sort key of a schedule due on ``day``."""
    return keys.due_sk(day.isoformat(), agency_id)


class Payout(TableItem, discriminator="Payout"):
    """PK: ``AGENCY#<aid>#PAYOUTS`` / SK: ``<cycle date>`` (a retry of a refused transfer:
    ``<cycle date>#<attempt>``); GSI1 ``STRIPE#<transfer id>`` once
    the transfer exists; GSI2 ``DUE#payout-transfer`` / ``<created iso>#<payout id>`` while the
    transfer is not sent yet (a crash or an outage between our write and Stripe's answer),
    then ``DUE#payout-records`` / same sort key (reconciliation reads a period of them).

    One per agency, cycle and transfer attempt (saved with ``attribute_not_exists``); a retry is
    written only while the previous attempt is ``failed`` at stage ``transfer`` (its amount
    back in the profit), so a cycle pays at most once. ``amount_micros`` was moved
    from the profit to "payouts in flight" in the same transaction that created this item,
    before Stripe was called; ``payout_id`` is the Stripe idempotency key of the transfer.
    """

    agency_id = UnicodeAttribute()
    payout_id = UnicodeAttribute()
    cycle_date = UnicodeAttribute()
    attempt = IntegerAttribute(default=1)  # 1, then 2.. for retries of a refused transfer
    amount_micros = IntegerAttribute()
    status = UnicodeAttribute()  # in_transit | paid | failed
    failure_stage = UnicodeAttribute(null=True)  # transfer | bank
    failure_code = UnicodeAttribute(null=True)
    transfer_id = UnicodeAttribute(null=True)
    stripe_payout_id = UnicodeAttribute(null=True)
    account_id = UnicodeAttribute()
    created_at = UTCDateTimeText()
    updated_at = UTCDateTimeText(null=True)

    @classmethod
    def key(cls, agency_id: str, cycle_date_iso: str, attempt: int = 1) -> tuple[str, str]:
        """Primary key of one transfer attempt of a cycle's payout."""
        return keys.payouts_pk(agency_id), keys.payout_sk(cycle_date_iso, attempt)


def payout_key_item(agency_id: str, cycle_date_iso: str, attempt: int = 1) -> Payout:
    """An unsaved payout carrying only its key (for conditional updates)."""
    return Payout(*Payout.key(agency_id, cycle_date_iso, attempt))


def get_connect_account(agency_id: str) -> ConnectAccount | None:
    """The agency's Connect account item, or None (one GetItem)."""
    try:
        return ConnectAccount.get(*ConnectAccount.key(agency_id), consistent_read=True)
    except ConnectAccount.DoesNotExist:
        return None


def find_connect_account(stripe_account_id: str) -> ConnectAccount | None:
    """The Connect item of a Stripe account id (GSI1; None for an account we do not know)."""
    # ``Model.query(index_name=…)`` rather than the shared index object: it filters on this
    # class's discriminator.
    for item in ConnectAccount.query(keys.stripe_lookup_pk(stripe_account_id),
                                     index_name="GSI1"):
        return item
    return None


def get_schedule(agency_id: str) -> PayoutSchedule | None:
    """The agency's payout schedule, or None."""
    try:
        return PayoutSchedule.get(*PayoutSchedule.key(agency_id), consistent_read=True)
    except PayoutSchedule.DoesNotExist:
        return None


def get_payout(agency_id: str, cycle_date_iso: str, attempt: int = 1) -> Payout | None:
    """One transfer attempt of a cycle's payout (the first by default), or None."""
    try:
        return Payout.get(*Payout.key(agency_id, cycle_date_iso, attempt), consistent_read=True)
    except Payout.DoesNotExist:
        return None


def transfer_retry_op(schedule: PayoutSchedule, cycle_date_iso: str, attempt: int,
                      retry_on: date, error: DomainError) -> Op:
    """Make the schedule due on ``retry_on`` for attempt ``attempt`` of a cycle's payout, on
    the condition that nothing moved it since it was read (``error`` otherwise)."""
    return update(
        PayoutSchedule(*PayoutSchedule.key(schedule.agency_id)),
        actions=[PayoutSchedule.DUESK.set(schedule_due_sk(schedule.agency_id, retry_on)),
                 PayoutSchedule.retry_cycle.set(cycle_date_iso),
                 PayoutSchedule.retry_attempt.set(attempt),
                 PayoutSchedule.last_result.set("transfer_failed")],
        condition=(PayoutSchedule.DUESK == schedule.DUESK)
        & (PayoutSchedule.next_date == schedule.next_date),
        error=error)


def previous_attempt_failed_check(agency_id: str, cycle_date_iso: str, attempt: int,
                                  error: DomainError) -> Op:
    """Guard a retry: attempt ``attempt - 1`` of the cycle failed at stage ``transfer`` (its
    amount is back in the profit), so the retry can never pay the cycle twice."""
    return check(payout_key_item(agency_id, cycle_date_iso, attempt - 1),
                 condition=(Payout.status == PayoutStatus.FAILED.value)
                 & (Payout.failure_stage == FailureStage.TRANSFER.value),
                 error=error)


def recent_payouts(agency_id: str, limit: int) -> list[Payout]:
    """The newest ``limit`` payouts of an agency (one Query, newest first)."""
    return list(Payout.query(keys.payouts_pk(agency_id), scan_index_forward=False, limit=limit,
                             consistent_read=True))


def payout_records_sk(created_iso: str, payout: str) -> str:
    """GSI2 sort key of a payout (unsent-transfer and records partitions alike)."""
    return keys.due_sk(created_iso, payout)


class ReconciliationReport(TableItem, discriminator="ReconciliationReport"):
    """PK: ``RECONCILIATION`` / SK: ``<as_of iso>#<run id>``. Written only when the ledger and
    Stripe disagree: every difference found for the period, for a person to look at.

    Two writers, one place to read: a run of the reconciliation job (``source`` absent or
    ``job``), and a webhook event whose object Stripe contradicts (``source`` ``webhook``,
    SK ``<at iso>#<event id>``, one difference, period = the moment it arrived). The platform
    partition is fine here: reports are rare, written only when something is wrong.
    """

    period_start = UTCDateTimeText()
    period_end = UTCDateTimeText()
    differences = JSONAttribute()  # [{kind, agency_id, stripe_id, expected, found, ...}]
    created_at = UTCDateTimeText()
    source = UnicodeAttribute(null=True)  # job (absent on older reports) | webhook


def webhook_finding_op(event_id: str, difference: dict[str, Any], at: datetime) -> Op:
    """Save the finding of a webhook event that did not match Stripe (commit it with the
    event's marker: a redelivered event adds no second finding)."""
    return save(ReconciliationReport(
        keys.RECONCILIATION_PK, f"{sortable_time(at)}#{event_id}", period_start=at,
        period_end=at, differences=[difference], created_at=at, source="webhook"))

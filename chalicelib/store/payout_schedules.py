"""The payout schedule of an agency: when the payout sweep next looks at it.

Created when Connect onboarding starts (an agency without Connect is never due), it sits in
the sparse due index (GSI2 ``DUE#payout-sweep``) under its next cycle date. Every move is
conditioned on the due key the sweep read, so two concurrent sweeps never both process one
cycle.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute

from chalicelib.domain.errors import DomainError
from chalicelib.store import keys
from chalicelib.store.base import IntegerAttribute, TableItem, due_items_of
from chalicelib.store.transact import Op, save, update

#: GSI2 partition (``keys.due_pk``) of the schedules, by next cycle date.
SWEEP_JOB = "payout-sweep"


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


def due_sk(agency_id: str, day: date) -> str:
    """GSI2 sort key of a schedule due on ``day``."""
    return keys.due_sk(day.isoformat(), agency_id)


def _key_item(agency_id: str) -> PayoutSchedule:
    return PayoutSchedule(*PayoutSchedule.key(agency_id))


# -- reads -----------------------------------------------------------------------------------


def get(agency_id: str) -> PayoutSchedule | None:
    """The agency's payout schedule, or None (no Connect yet): one consistent GetItem."""
    try:
        return PayoutSchedule.get(*PayoutSchedule.key(agency_id), consistent_read=True)
    except PayoutSchedule.DoesNotExist:
        return None


def due(on: date) -> Iterator[PayoutSchedule]:
    """Schedules due on or before ``on``: the due index only, never a scan (paged lazily)."""
    # "<date>#<aid>" <= "<next day>" exactly when the date is <= ``on``.
    return due_items_of(SWEEP_JOB, PayoutSchedule,
                        upper_sk=(on + timedelta(days=1)).isoformat())


# -- writes ----------------------------------------------------------------------------------


def create_op(agency_id: str, *, anchor: date, first: date, connect_account_id: str | None,
              connect_status: str | None, connect_payouts_enabled: bool | None,
              error: DomainError) -> Op:
    """Save the agency's schedule, due on ``first``, carrying the Connect state the sweep
    decides on; ``error`` when the agency has one already."""
    return save(
        PayoutSchedule(
            *PayoutSchedule.key(agency_id),
            agency_id=agency_id,
            anchor=anchor.isoformat(),
            next_date=first.isoformat(),
            DUEPK=keys.due_pk(SWEEP_JOB, agency_id),
            DUESK=due_sk(agency_id, first),
            connect_account_id=connect_account_id,
            connect_status=connect_status,
            connect_payouts_enabled=connect_payouts_enabled,
        ),
        condition=PayoutSchedule.PK.does_not_exist(),
        error=error,
    )


def copy_connect_state_op(agency_id: str, status: str, payouts_enabled: bool,
                          error: DomainError) -> Op:
    """Copy a Connect state change onto the schedule (in the transaction that changes the
    Connect account). The condition keeps a stray update from creating a partial item."""
    return update(
        _key_item(agency_id),
        actions=[PayoutSchedule.connect_status.set(status),
                 PayoutSchedule.connect_payouts_enabled.set(payouts_enabled)],
        condition=PayoutSchedule.PK.exists(),
        error=error,
    )


def advance_op(schedule: PayoutSchedule, next_date: date, result: str,
               error: DomainError) -> Op:
    """Move the schedule to ``next_date`` (whatever retry it carried is done with), on the
    condition that nothing moved it since it was read (``error`` otherwise)."""
    return update(
        _key_item(schedule.agency_id),
        actions=[
            PayoutSchedule.DUESK.set(due_sk(schedule.agency_id, next_date)),
            PayoutSchedule.next_date.set(next_date.isoformat()),
            PayoutSchedule.last_result.set(result),
            PayoutSchedule.retry_cycle.remove(),
            PayoutSchedule.retry_attempt.remove(),
        ],
        condition=PayoutSchedule.DUESK == schedule.DUESK,
        error=error,
    )


def retry_transfer_op(schedule: PayoutSchedule, cycle_date_iso: str, attempt: int,
                      retry_on: date, error: DomainError) -> Op:
    """Make the schedule due on ``retry_on`` for attempt ``attempt`` of a cycle's payout, on
    the condition that nothing moved it since it was read (``error`` otherwise)."""
    return update(
        _key_item(schedule.agency_id),
        actions=[PayoutSchedule.DUESK.set(due_sk(schedule.agency_id, retry_on)),
                 PayoutSchedule.retry_cycle.set(cycle_date_iso),
                 PayoutSchedule.retry_attempt.set(attempt),
                 PayoutSchedule.last_result.set("transfer_failed")],
        condition=(PayoutSchedule.DUESK == schedule.DUESK)
        & (PayoutSchedule.next_date == schedule.next_date),
        error=error,
    )

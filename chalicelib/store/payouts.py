"""Profit payouts: one item per agency, cycle and transfer attempt.

A payout is written (with the ledger move of its amount to "payouts in flight") before
Stripe is called, and sits in the due index's ``DUE#payout-transfer`` partition until its
transfer is confirmed; then it moves to ``DUE#payout-records``, where reconciliation reads a
period of them. Every status change is conditioned on the state it leaves, so a payout is
settled, failed or given its transfer once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from pynamodb.attributes import UnicodeAttribute

from chalicelib.domain.errors import DomainError
from chalicelib.domain.payouts import FailureStage, PayoutStatus
from chalicelib.store import keys
from chalicelib.store.base import (
    IntegerAttribute,
    TableItem,
    UTCDateTimeText,
    due_items_of,
    sortable_time,
)
from chalicelib.store.ledger import LedgerBalance
from chalicelib.store.pagination import decode_cursor, encode_cursor
from chalicelib.store.transact import Op, check, save, update

#: GSI2 partitions (``keys.due_pk``) of payouts.
UNSENT_TRANSFERS = "payout-transfer"  # payouts written but whose transfer is not confirmed
PAYOUT_RECORDS = "payout-records"  # every other payout, by creation time
#: GSI1 sort key of the Stripe-id lookup.
LOOKUP_SK = "STRIPE"


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


def records_sk(created_iso: str, payout_id: str) -> str:
    """GSI2 sort key of a payout (unsent-transfer and records partitions alike)."""
    return keys.due_sk(created_iso, payout_id)


def _key_item(payout: Payout) -> Payout:
    """An unsaved payout carrying only ``payout``'s key (for conditional updates)."""
    return Payout(*Payout.key(payout.agency_id, payout.cycle_date, payout.attempt or 1))


# -- reads -----------------------------------------------------------------------------------


def get(agency_id: str, cycle_date_iso: str, attempt: int = 1) -> Payout | None:
    """One transfer attempt of a cycle's payout (the first by default), or None: one
    consistent GetItem."""
    try:
        return Payout.get(*Payout.key(agency_id, cycle_date_iso, attempt), consistent_read=True)
    except Payout.DoesNotExist:
        return None


def fresh(indexed: Payout) -> Payout | None:
    """The payout as it is now (strongly consistent): the due index may lag behind a
    transfer just recorded. None when it is gone."""
    try:
        return Payout.get(indexed.PK, indexed.SK, consistent_read=True)
    except Payout.DoesNotExist:
        return None


def recent(agency_id: str, limit: int) -> list[Payout]:
    """The newest ``limit`` payouts of an agency (one Query, newest first)."""
    return list(Payout.query(keys.payouts_pk(agency_id), scan_index_forward=False, limit=limit,
                             consistent_read=True))


def latest(agency_id: str) -> Payout | None:
    """The newest payout of an agency, or None (one Query of one item)."""
    for payout in Payout.query(keys.payouts_pk(agency_id), scan_index_forward=False, limit=1):
        return payout
    return None


def page(agency_id: str, *, limit: int, cursor: str | None) -> tuple[list[Payout], str | None]:
    """One page of the agency's payouts, newest first, and the cursor of the next one (a
    signed cursor of this agency's payouts only; 400 for any other)."""
    partition = keys.payouts_pk(agency_id)
    query = Payout.query(partition, scan_index_forward=False, limit=limit,
                         last_evaluated_key=decode_cursor(cursor, partition))
    items = list(query)
    return items, encode_cursor(query.last_evaluated_key)


def unsent(limit: int) -> Iterator[Payout]:
    """Payouts whose transfer is not confirmed (the due index's copies: re-read each with
    ``fresh`` before acting), at most ``limit``."""
    return due_items_of(UNSENT_TRANSFERS, Payout, limit=limit)


def created_between(start: datetime, end: datetime) -> list[Payout]:
    """Payouts created in ``[start, end)`` (the due index's copies: sent and unsent alike)."""
    rows: list[Payout] = []
    for partition in (PAYOUT_RECORDS, UNSENT_TRANSFERS):
        rows += list(due_items_of(partition, Payout, lower_sk=sortable_time(start),
                                  upper_sk=sortable_time(end)))
    return rows


# -- writes ----------------------------------------------------------------------------------


def new(*, agency_id: str, payout_id: str, cycle_date_iso: str, attempt: int,
        amount_micros: int, account_id: str, at: datetime) -> Payout:
    """A payout in transit, its transfer not sent yet (unsaved: ``create_op`` writes it)."""
    return Payout(
        *Payout.key(agency_id, cycle_date_iso, attempt),
        agency_id=agency_id,
        payout_id=payout_id,
        cycle_date=cycle_date_iso,
        attempt=attempt,
        amount_micros=amount_micros,
        status=PayoutStatus.IN_TRANSIT.value,
        account_id=account_id,
        created_at=at,
        DUEPK=keys.due_pk(UNSENT_TRANSFERS, agency_id),
        DUESK=records_sk(sortable_time(at), payout_id),
    )


def create_op(payout: Payout, error: DomainError) -> Op:
    """Save a new payout; ``error`` when this attempt of the cycle exists already."""
    return save(payout, condition=Payout.PK.does_not_exist(), error=error)


def previous_attempt_failed_check(agency_id: str, cycle_date_iso: str, attempt: int,
                                  error: DomainError) -> Op:
    """Guard a retry: attempt ``attempt - 1`` of the cycle failed at stage ``transfer`` (its
    amount is back in the profit), so the retry can never pay the cycle twice."""
    return check(Payout(*Payout.key(agency_id, cycle_date_iso, attempt - 1)),
                 condition=(Payout.status == PayoutStatus.FAILED.value)
                 & (Payout.failure_stage == FailureStage.TRANSFER.value),
                 error=error)


def record_transfer_op(payout: Payout, transfer_id: str, at: datetime,
                       error: DomainError) -> Op:
    """Attach the Stripe transfer to an in-transit payout that has none yet (``error``
    otherwise); the payout leaves the unsent partition."""
    return update(
        _key_item(payout),
        actions=[
            Payout.transfer_id.set(transfer_id),
            Payout.GSI1PK.set(keys.stripe_lookup_pk(transfer_id)),
            Payout.GSI1SK.set(LOOKUP_SK),
            Payout.DUEPK.set(keys.due_pk(PAYOUT_RECORDS, payout.agency_id)),
            Payout.updated_at.set(at),
        ],
        condition=Payout.PK.exists() & Payout.transfer_id.does_not_exist()
        & (Payout.status == PayoutStatus.IN_TRANSIT.value),
        error=error,
    )


def fail_transfer_op(payout: Payout, failure_code: str, *, transfer_sent: bool, at: datetime,
                     error: DomainError) -> Op:
    """Fail an in-transit payout at stage ``transfer``: its transfer was refused (never
    sent) or, ``transfer_sent``, reversed. ``error`` when it is not in that state."""
    return update(
        _key_item(payout),
        actions=[
            Payout.status.set(PayoutStatus.FAILED.value),
            Payout.failure_stage.set(FailureStage.TRANSFER.value),
            Payout.failure_code.set(failure_code),
            Payout.DUEPK.set(keys.due_pk(PAYOUT_RECORDS, payout.agency_id)),
            Payout.updated_at.set(at),
        ],
        condition=(Payout.status == PayoutStatus.IN_TRANSIT.value)
        & (Payout.transfer_id.exists() if transfer_sent
           else Payout.transfer_id.does_not_exist()),
        error=error,
    )


def mark_paid_op(payout: Payout, stripe_payout_id: str, at: datetime,
                 error: DomainError) -> Op:
    """An in-transit payout reached the connected account's bank (``error`` otherwise)."""
    return update(
        _key_item(payout),
        actions=[Payout.status.set(PayoutStatus.PAID.value),
                 Payout.stripe_payout_id.set(stripe_payout_id),
                 Payout.updated_at.set(at)],
        condition=Payout.status == PayoutStatus.IN_TRANSIT.value,
        error=error,
    )


def mark_bank_failed_op(payout: Payout, failure_code: str, stripe_payout_id: str,
                        at: datetime, error: DomainError) -> Op:
    """The connected account's bank refused the payout: stage ``bank`` (``error`` unless the
    payout is in transit)."""
    return update(
        _key_item(payout),
        actions=[Payout.status.set(PayoutStatus.FAILED.value),
                 Payout.failure_stage.set(FailureStage.BANK.value),
                 Payout.failure_code.set(failure_code),
                 Payout.stripe_payout_id.set(stripe_payout_id),
                 Payout.updated_at.set(at)],
        condition=Payout.status == PayoutStatus.IN_TRANSIT.value,
        error=error,
    )


def guard_profit_at_least(ops: Sequence[Op], agency_id: str, account: str, amount: int,
                          error: DomainError) -> None:
    """Guard the update of the agency's ``account`` balance row among ``ops`` (a ledger
    posting's) with ``balance >= amount`` (``error`` otherwise).

    The profit account may go negative (clawbacks), so the ledger does not guard it; a
    payout, though, must never take more than was there. The guard has to sit on the update
    itself: one DynamoDB transaction may not touch an item twice.
    """
    balance_pk = keys.account_pk(agency_id, account)
    for op in ops:
        if op.kind == "update" and balance_pk == op.item.PK:
            op.condition = LedgerBalance.balance >= amount
            op.on_condition_failed = error
            return
    raise AssertionError("a payout transaction debits the profit account")

"""Profit payouts: the daily sweep, the transfer, and the effects of Stripe's payout events.

Money path of one payout of X (USD micro-dollars, whole cents), all on the agency's ledger:

1. sweep: ``payout:<aid>:<cycle>`` AGENCY_PROFIT −X → PAYOUTS_IN_FLIGHT +X, written in ONE
   transaction with the Payout item (``attribute_not_exists``: one per agency and cycle) and
   the schedule's move to the next cycle (condition on its old due key) — BEFORE Stripe is
   called, so a crash can never pay twice: the transfer's idempotency key is the payout id,
   and an unsent transfer is found again (GSI2 ``DUE#payout-transfer``) and re-sent with the
   same key;
2a. transfer refused: ``payout-reversal:<pid>`` PAYOUTS_IN_FLIGHT −X → AGENCY_PROFIT +X and the
   payout ``failed`` / stage ``transfer``, in one transaction with the schedule made due the
   next day for a retry of that cycle (``retry_cycle``/``retry_attempt``), at most
   ``MAX_TRANSFER_RETRIES`` times per cycle. A retry is a new payout record of the same cycle
   (SK ``<cycle>#<n>``, id ``pyt_<aid>_<yyyymmdd>_<n>``, ledger ``payout:<aid>:<cycle>:<n>``),
   written only while the previous attempt is failed; once retries are used up, or when the
   next cycle date comes first, the amount is paid on the next cycle date;
2b. ``payout.paid``: ``payout-settled:<pid>`` PAYOUTS_IN_FLIGHT −X → PAID_OUT +X, ``paid``;
2c. ``payout.failed`` (the bank refused the connected account's payout; it concerns the latest
   in-transit payout whose transfer reached the connected account): the money did reach
   the agency's own Stripe balance, so it is settled exactly like 2b (PAID_OUT: it left the
   platform) and nothing returns to the profit; the payout is ``failed`` / stage ``bank`` with
   Stripe's code, and the Connect item carries ``bank_action_needed`` until an
   ``account.updated`` shows a working bank account.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.domain.billing import next_cycle_date
from chalicelib.domain.errors import Conflict, DomainError
from chalicelib.domain.ledger import (
    AGENCY_PROFIT,
    PAID_OUT,
    PAYOUTS_IN_FLIGHT,
    Asset,
    Code,
    LedgerTransaction,
    transfer,
)
from chalicelib.domain.money import micros_to_cents, render_usd
from chalicelib.domain.payouts import (
    ConnectStatus,
    FailureStage,
    PayoutStatus,
    SkipReason,
    decide_payout,
    payout_id,
    payout_transaction_id,
    reversal_transaction_id,
    settled_transaction_id,
    transfer_retry_date,
)
from chalicelib.domain.roles import Action, Principal, authorize_agency
from chalicelib.observability import count
from chalicelib.services.notifications import notification_op
from chalicelib.store import keys
from chalicelib.store.base import due_items_of, sortable_time, utcnow
from chalicelib.store.connect import (
    PAYOUT_RECORDS,
    SWEEP_JOB,
    UNSENT_TRANSFERS,
    ConnectAccount,
    Payout,
    PayoutSchedule,
    get_connect_account,
    get_schedule,
    payout_key_item,
    payout_records_sk,
    previous_attempt_failed_check,
    recent_payouts,
    schedule_due_sk,
    transfer_retry_op,
)
from chalicelib.store.ledger import (
    AlreadyPosted,
    LedgerBalance,
    ledger_ops,
    read_balance,
)
from chalicelib.store.pagination import decode_cursor, encode_cursor
from chalicelib.store.transact import Op, commit, save, update
from chalicelib.stripe_gateway.client import GatewayRequestRefused

if TYPE_CHECKING:
    from chalicelib.services.sweeps import Deadline

log = logging.getLogger(__name__)

#: How many recent payouts a payout event looks through for the in-transit ones.
RECENT_PAYOUTS = 24


class PayoutAlreadyExists(Conflict):
    """This cycle's payout was written before (a rerun, or a concurrent sweep)."""

    code = "payout_already_exists"


class ScheduleMoved(Conflict):
    """Another sweep processed this cycle first."""

    code = "payout_schedule_moved"


class ProfitChanged(Conflict):
    """The profit fell below the amount read (a refund landed mid-sweep); retried next run."""

    code = "profit_changed"


class PayoutStateChanged(Conflict):
    """The payout is no longer in the state this update expects (already settled)."""

    code = "payout_state_changed"


def _iso(moment: datetime) -> str:
    return sortable_time(moment)


# -- schedule --------------------------------------------------------------------------------


def schedule_op(agency_id: str, anchor: date, today: date,
                connect: ConnectAccount | None = None) -> Op:
    """Create the agency's payout schedule (first due date: the next cycle date after today),
    carrying the Connect state the sweep decides on (``connect``: the account being saved in
    the same transaction)."""
    first = next_cycle_date(anchor, today)
    return save(
        PayoutSchedule(
            *PayoutSchedule.key(agency_id),
            agency_id=agency_id,
            anchor=anchor.isoformat(),
            next_date=first.isoformat(),
            DUEPK=keys.due_pk(SWEEP_JOB, agency_id),
            DUESK=schedule_due_sk(agency_id, first),
            connect_account_id=connect.account_id if connect else None,
            connect_status=connect.status if connect else None,
            connect_payouts_enabled=bool(connect.payouts_enabled) if connect else None,
        ),
        condition=PayoutSchedule.PK.does_not_exist(),
        error=ScheduleMoved("the payout schedule exists already"),
    )


def schedule_connect_op(agency_id: str, status: str, payouts_enabled: bool) -> Op:
    """Copy a Connect state change onto the payout schedule (put it in the same transaction
    as the ConnectAccount update). The schedule is created with the ConnectAccount, so it
    exists; the condition keeps a stray update from creating a partial item."""
    return update(
        PayoutSchedule(*PayoutSchedule.key(agency_id)),
        actions=[PayoutSchedule.connect_status.set(status),
                 PayoutSchedule.connect_payouts_enabled.set(payouts_enabled)],
        condition=PayoutSchedule.PK.exists(),
        error=Conflict("the payout schedule is missing", code="payout_schedule_missing"),
    )


@dataclass(frozen=True)
class ConnectFacts:
    """What the sweep needs to know of the agency's Connect account."""

    account_id: str | None
    status: str
    payouts_enabled: bool


def _connect_facts(schedule: PayoutSchedule) -> ConnectFacts:
    # The schedule comes from the GSI2 query, so its copy may lag a Connect change by a
    # moment. A transfer to a just-restricted account either fails at Stripe and is reversed
    # (``fail_transfer``) or waits in the agency's Stripe balance until its payouts are on
    # again; a just-enabled account is paid at the next cycle date. No money is lost.
    if schedule.connect_status is not None and schedule.connect_account_id:
        return ConnectFacts(schedule.connect_account_id, schedule.connect_status,
                            bool(schedule.connect_payouts_enabled))
    connect = get_connect_account(schedule.agency_id)  # a schedule from before the copy
    if connect is None:
        return ConnectFacts(None, ConnectStatus.NOT_CONNECTED.value, False)
    return ConnectFacts(connect.account_id, connect.status, bool(connect.payouts_enabled))


def _advance_op(schedule: PayoutSchedule, next_date: date, result: str) -> Op:
    """Move the schedule to ``next_date``; whatever retry it carried is done with."""
    return update(
        PayoutSchedule(*PayoutSchedule.key(schedule.agency_id)),
        actions=[
            PayoutSchedule.DUESK.set(schedule_due_sk(schedule.agency_id, next_date)),
            PayoutSchedule.next_date.set(next_date.isoformat()),
            PayoutSchedule.last_result.set(result),
            PayoutSchedule.retry_cycle.remove(),
            PayoutSchedule.retry_attempt.remove(),
        ],
        condition=PayoutSchedule.DUESK == schedule.DUESK,
        error=ScheduleMoved("another sweep processed this cycle"),
    )


def due_schedules(as_of: datetime) -> Any:
    """Schedules due on or before ``as_of``'s date: GSI2 only, never a scan (paged lazily)."""
    end = (as_of.astimezone(UTC).date() + timedelta(days=1)).isoformat()
    # "<date>#<aid>" <= "<next day>" exactly when the date is <= as_of's date.
    return due_items_of(SWEEP_JOB, PayoutSchedule, upper_sk=end)


# -- the sweep -------------------------------------------------------------------------------


@dataclass
class SweepOutcome:
    """What happened to one due agency."""

    result: str  # paid | transfer_failed | transfer_pending | <skip reason> | already_processed
    payout_id: str | None = None


def process_due_schedule(schedule: PayoutSchedule, as_of: datetime) -> SweepOutcome:
    """Pay one due agency if eligible, and move its schedule to the next cycle date.

    Due for its cycle date, or (before that) for the retry of a refused transfer: a retry pays
    the available profit as attempt ``retry_attempt`` of the cycle that failed and leaves the
    cycle date as it is. Reads one item (the profit balance: the Connect state rides on the
    schedule); one transaction writes the payout, its ledger transaction and the schedule's
    move together.
    """
    agency_id = schedule.agency_id
    today = as_of.astimezone(UTC).date()
    due_date = date.fromisoformat(schedule.next_date)
    anchor = date.fromisoformat(schedule.anchor)
    if schedule.retry_cycle and today < due_date:
        cycle, attempt, next_date = (date.fromisoformat(schedule.retry_cycle),
                                     schedule.retry_attempt or 2, due_date)
    else:  # a retry still pending when the cycle date comes is paid by that cycle
        # A sweep that did not run for a while catches up with one payout, not one per
        # missed cycle.
        cycle, attempt = due_date, 1
        next_date = next_cycle_date(anchor, max(due_date, today))
    connect = _connect_facts(schedule)
    profit = read_balance(agency_id, AGENCY_PROFIT, Asset.USD.value)
    decision = decide_payout(
        profit.balance,
        connected=connect.account_id is not None,
        payouts_enabled=connect.payouts_enabled
        and connect.status == ConnectStatus.CONNECTED.value,
    )
    if not decision.pay or connect.account_id is None:
        reason = decision.skip_reason or SkipReason.NOT_CONNECTED
        try:
            commit([_advance_op(schedule, next_date, reason.value)])
        except ScheduleMoved:
            return SweepOutcome("already_processed")
        return SweepOutcome(reason.value)

    now = utcnow()
    cycle_iso = cycle.isoformat()
    pid = payout_id(agency_id, cycle_iso, attempt)
    amount = decision.amount_micros
    tx = LedgerTransaction(
        agency_id=agency_id,
        transaction_id=payout_transaction_id(agency_id, cycle_iso, attempt),
        code=Code.PAYOUT.value,
        postings=transfer(AGENCY_PROFIT, PAYOUTS_IN_FLIGHT, Asset.USD.value, amount),
        memo=f"profit payout for the cycle of {cycle_iso}"
        + (f" (attempt {attempt})" if attempt > 1 else ""),
        metadata={"payout_id": pid, "account_id": connect.account_id, "attempt": attempt},
    )
    ops = ledger_ops(tx, now)
    _require_profit_at_least(ops, agency_id, amount)
    payout = Payout(
        *Payout.key(agency_id, cycle_iso, attempt),
        agency_id=agency_id,
        payout_id=pid,
        cycle_date=cycle_iso,
        attempt=attempt,
        amount_micros=amount,
        status=PayoutStatus.IN_TRANSIT.value,
        account_id=connect.account_id,
        created_at=now,
        DUEPK=keys.due_pk(UNSENT_TRANSFERS, agency_id),
        DUESK=payout_records_sk(_iso(now), pid),
    )
    ops += [
        save(payout, condition=Payout.PK.does_not_exist(),
             error=PayoutAlreadyExists("this cycle's payout exists")),
        _advance_op(schedule, next_date, "paid"),
    ]
    if attempt > 1:
        ops.append(previous_attempt_failed_check(
            agency_id, cycle_iso, attempt,
            PayoutStateChanged("the previous attempt of this cycle did not fail")))
    try:
        commit(ops)
    except (AlreadyPosted, PayoutAlreadyExists, ScheduleMoved, PayoutStateChanged):
        return SweepOutcome("already_processed", pid)
    except ProfitChanged:
        # Not advanced: tomorrow's sweep (or a rerun) finds the agency still due.
        return SweepOutcome("profit_changed", pid)
    return SweepOutcome(send_transfer(payout, as_of), pid)


def _require_profit_at_least(ops: list[Op], agency_id: str, amount: int) -> None:
    """Guard the profit row's own update with ``balance >= amount``.

    The profit account may go negative (clawbacks), so the ledger does not guard it; a
    payout, though, must never take more than was there. The guard has to sit on the update
    itself: one DynamoDB transaction may not touch an item twice.
    """
    profit_pk = keys.account_pk(agency_id, AGENCY_PROFIT)
    for op in ops:
        if op.kind == "update" and profit_pk == op.item.PK:
            op.condition = LedgerBalance.balance >= amount
            op.on_condition_failed = ProfitChanged("the profit changed during the sweep")
            return
    raise AssertionError("a payout transaction debits the profit account")


def send_transfer(payout: Payout, as_of: datetime | None = None) -> str:
    """Send the payout's Stripe transfer (same idempotency key on every retry).

    Returns ``paid`` (sent; the payout stays ``in_transit`` until ``payout.paid``),
    ``transfer_failed`` (refused: reversed into the profit, retried the day after ``as_of``)
    or ``transfer_pending`` (Stripe unreachable: the payout stays in the unsent partition and
    is sent again later).
    """
    from chalicelib.stripe_gateway.connect import create_transfer

    try:
        result = create_transfer(
            payout_id=payout.payout_id, agency_id=payout.agency_id, account_id=payout.account_id,
            amount_cents=micros_to_cents(payout.amount_micros), cycle_date=payout.cycle_date,
            attempt=payout.attempt or 1)
    except GatewayRequestRefused as refused:
        code = (refused.details or {}).get("stripe_code") or "transfer_refused"
        fail_transfer(payout, str(code), failed_at=as_of)
        return "transfer_failed"
    except DomainError as error:
        log.warning("transfer of payout %s not confirmed (%s); will retry", payout.payout_id,
                    error.code)
        return "transfer_pending"
    record_transfer(payout, str(result["id"]))
    return "paid"


def record_transfer(payout: Payout, transfer_id: str) -> bool:
    """Attach the Stripe transfer to the payout (idempotent; False if it was already set)."""
    try:
        commit([update(
            payout_key_item(payout.agency_id, payout.cycle_date, payout.attempt or 1),
            actions=[
                Payout.transfer_id.set(transfer_id),
                Payout.GSI1PK.set(keys.stripe_lookup_pk(transfer_id)),
                Payout.GSI1SK.set("STRIPE"),
                Payout.DUEPK.set(keys.due_pk(PAYOUT_RECORDS, payout.agency_id)),
                Payout.updated_at.set(utcnow()),
            ],
            condition=Payout.PK.exists() & Payout.transfer_id.does_not_exist()
            & (Payout.status == PayoutStatus.IN_TRANSIT.value),
            error=PayoutStateChanged("the payout has its transfer already"),
        )])
    except PayoutStateChanged:
        return False
    count("PayoutsSent")
    return True


def fail_transfer(payout: Payout, failure_code: str, *, transfer_sent: bool = False,
                  failed_at: datetime | None = None) -> bool:
    """A refused (or fully reversed) transfer: the amount returns to the available profit and
    the payout fails at stage ``transfer``. False when the payout was settled meanwhile.

    A refused transfer (never sent) is tried again by the next day's sweep while its cycle
    has retries left (``transfer_retry_date``): the schedule is made due that day in the same
    transaction. A reversed one (``transfer_sent``: someone took the money back on purpose)
    waits for the next cycle date.
    """
    now = utcnow()
    failed_on = (failed_at or now).astimezone(UTC).date()
    attempt = payout.attempt or 1
    tx = LedgerTransaction(
        agency_id=payout.agency_id,
        transaction_id=reversal_transaction_id(payout.payout_id),
        code=Code.PAYOUT_REVERSAL.value,
        postings=transfer(PAYOUTS_IN_FLIGHT, AGENCY_PROFIT, Asset.USD.value,
                          payout.amount_micros),
        memo=f"transfer of payout {payout.payout_id} failed ({failure_code})",
        metadata={"payout_id": payout.payout_id, "failure_code": failure_code},
    )
    failed_op = update(
        payout_key_item(payout.agency_id, payout.cycle_date, attempt),
        actions=[
            Payout.status.set(PayoutStatus.FAILED.value),
            Payout.failure_stage.set(FailureStage.TRANSFER.value),
            Payout.failure_code.set(failure_code),
            Payout.DUEPK.set(keys.due_pk(PAYOUT_RECORDS, payout.agency_id)),
            Payout.updated_at.set(now),
        ],
        condition=(Payout.status == PayoutStatus.IN_TRANSIT.value)
        & (Payout.transfer_id.exists() if transfer_sent
           else Payout.transfer_id.does_not_exist()),
        error=PayoutStateChanged("the payout was settled meanwhile"),
    )
    for try_retry in (True, True, True, False):
        schedule = get_schedule(payout.agency_id) if try_retry and not transfer_sent else None
        retry_on = None if schedule is None else transfer_retry_date(
            attempt, failed_on, date.fromisoformat(schedule.next_date))
        when = (f"tried again on {retry_on.isoformat()}" if retry_on is not None
                else "paid on your next billing cycle date")
        ops = [
            *ledger_ops(tx, now),
            failed_op,
            notification_op(
                payout.agency_id, "payout_failed",
                f"The payout of USD {render_usd(payout.amount_micros)} could not be sent "
                f"({failure_code}); the amount is back in your available profit and will be "
                f"{when}.",
                data={"payout_id": payout.payout_id, "stage": FailureStage.TRANSFER.value,
                      "failure_code": failure_code, "attempt": attempt,
                      "retry_on": retry_on.isoformat() if retry_on else None}, at=now),
        ]
        if schedule is not None and retry_on is not None:
            ops.append(transfer_retry_op(
                schedule, payout.cycle_date, attempt + 1, retry_on,
                ScheduleMoved("the payout schedule moved meanwhile")))
        try:
            commit(ops)
        except (AlreadyPosted, PayoutStateChanged):
            return False
        except ScheduleMoved:
            continue  # a sweep moved the schedule: read it again (the last try goes without)
        count("PayoutsFailed")
        return True
    return False  # pragma: no cover - the last try carries no schedule condition


def finish_unsent_transfers(limit: int = 500, as_of: datetime | None = None) -> dict[str, int]:
    """Send again the transfers of payouts written but never confirmed by Stripe.

    Reads only that GSI2 partition (normally empty). Safe to run at any time, concurrently
    with a sweep: the transfer's idempotency key is the payout id.
    """
    from chalicelib.stripe_gateway.connect import find_payout_transfer

    counts = {"unsent_seen": 0, "unsent_sent": 0, "unsent_failed": 0, "unsent_pending": 0}
    for indexed in due_items_of(UNSENT_TRANSFERS, Payout, limit=limit):
        counts["unsent_seen"] += 1
        try:
            # Strongly consistent read: the index may lag behind a transfer just recorded.
            payout = Payout.get(indexed.PK, indexed.SK, consistent_read=True)
        except Payout.DoesNotExist:
            continue
        if payout.transfer_id or payout.status != PayoutStatus.IN_TRANSIT.value:
            continue
        try:
            made = find_payout_transfer(payout.payout_id)
        except DomainError:
            counts["unsent_pending"] += 1
            continue
        if made is not None:
            record_transfer(payout, str(made["id"]))
            counts["unsent_sent"] += 1
            continue
        outcome = send_transfer(payout, as_of)
        key = {"paid": "unsent_sent", "transfer_failed": "unsent_failed"}.get(outcome,
                                                                             "unsent_pending")
        counts[key] += 1
    return counts


def run_sweep(as_of: datetime, deadline: Deadline | None = None) -> dict[str, Any]:
    """The payout sweep: every due agency, O(due). Summary counts and extras.

    ``deadline`` (``chalicelib.jobs.Deadline``): past it, the schedules not reached stay due
    for the next run, counted in ``deferred``.
    """
    counts = {"processed": 0, "succeeded": 0, "failed": 0, "skipped": 0}
    results: dict[str, int] = {}
    retried = finish_unsent_transfers(as_of=as_of)
    deferred = 0
    due = list(due_schedules(as_of))  # only what is due: O(due) items, paged by pynamodb
    for index, schedule in enumerate(due):
        if deadline is not None and deadline.passed():
            deferred = len(due) - index
            break
        counts["processed"] += 1
        try:
            outcome = process_due_schedule(schedule, as_of)
        except Exception:  # one agency's trouble must not stop everyone else's payout
            log.exception("payout sweep failed for agency %s", schedule.agency_id)
            outcome = SweepOutcome("error")
        results[outcome.result] = results.get(outcome.result, 0) + 1
        if outcome.result == "paid":
            counts["succeeded"] += 1
        elif outcome.result in ("transfer_failed", "transfer_pending", "error", "profit_changed"):
            counts["failed"] += 1
        else:
            counts["skipped"] += 1
    return {**counts, "results": results, "unsent_transfers": retried, "deferred": deferred}


# -- Stripe payout events (the connected account's bank) -------------------------------------


def in_transit_payouts(agency_id: str) -> list[Payout]:
    """In-transit payouts among the recent ones, newest first (one bounded Query)."""
    return [payout for payout in recent_payouts(agency_id, RECENT_PAYOUTS)
            if payout.status == PayoutStatus.IN_TRANSIT.value]


def _settle_tx(agency_id: str, transaction_id: str, amount: int, memo: str,
               metadata: dict[str, Any]) -> LedgerTransaction:
    return LedgerTransaction(
        agency_id=agency_id, transaction_id=transaction_id, code=Code.PAYOUT_SETTLED.value,
        postings=transfer(PAYOUTS_IN_FLIGHT, PAID_OUT, Asset.USD.value, amount), memo=memo,
        metadata=metadata)


def payout_paid_ops(connect: ConnectAccount, stripe_payout: dict[str, Any]) -> list[Op]:
    """``payout.paid``: every in-transit payout already transferred becomes ``paid``.

    Stripe pays out the connected account's balance, which holds every transfer received
    before the payout was created; those payouts settle (one ledger transaction, keyed by
    the Stripe payout id, so a redelivery cannot settle twice).
    """
    created = int(stripe_payout.get("created") or 0)
    now = utcnow()
    settled = [
        payout for payout in in_transit_payouts(connect.agency_id)
        if payout.transfer_id and (not created or payout.created_at.timestamp() <= created + 1)
    ]
    if not settled:
        return []
    total = sum(payout.amount_micros for payout in settled)
    tx = _settle_tx(connect.agency_id, f"payout-paid:{stripe_payout['id']}", total,
                    f"Stripe payout {stripe_payout['id']} paid",
                    {"payout_ids": [p.payout_id for p in settled],
                     "stripe_payout_id": stripe_payout["id"]})
    ops = ledger_ops(tx, now)
    for payout in settled:
        ops.append(update(
            payout_key_item(payout.agency_id, payout.cycle_date, payout.attempt or 1),
            actions=[Payout.status.set(PayoutStatus.PAID.value),
                     Payout.stripe_payout_id.set(str(stripe_payout["id"])),
                     Payout.updated_at.set(now)],
            condition=Payout.status == PayoutStatus.IN_TRANSIT.value,
            error=PayoutStateChanged("the payout was settled meanwhile"),
        ))
    return ops


def payout_failed_ops(connect: ConnectAccount, stripe_payout: dict[str, Any]) -> list[Op]:
    """``payout.failed``: the latest in-transit payout whose transfer reached the connected
    account fails at stage ``bank`` (one whose transfer was never sent cannot be in the
    account's payout: it stays in transit, to be sent).

    Nothing returns to the profit (the money is in the agency's Stripe balance); the
    in-flight amount is settled to PAID_OUT because it left the platform. The Connect item
    is flagged ``bank_action_needed`` and a notification is added; the caller emails.
    """
    now = utcnow()
    code = str(stripe_payout.get("failure_code") or "payout_failed")
    ops: list[Op] = []
    latest = next((payout for payout in in_transit_payouts(connect.agency_id)
                   if payout.transfer_id), None)
    if latest is not None:
        tx = _settle_tx(connect.agency_id, settled_transaction_id(latest.payout_id),
                        latest.amount_micros,
                        f"payout {latest.payout_id} reached the agency's Stripe balance; its "
                        f"bank refused the payout ({code})",
                        {"payout_id": latest.payout_id, "stripe_payout_id": stripe_payout["id"],
                         "failure_code": code})
        ops += ledger_ops(tx, now)
        ops.append(update(
            payout_key_item(latest.agency_id, latest.cycle_date, latest.attempt or 1),
            actions=[Payout.status.set(PayoutStatus.FAILED.value),
                     Payout.failure_stage.set(FailureStage.BANK.value),
                     Payout.failure_code.set(code),
                     Payout.stripe_payout_id.set(str(stripe_payout["id"])),
                     Payout.updated_at.set(now)],
            condition=Payout.status == PayoutStatus.IN_TRANSIT.value,
            error=PayoutStateChanged("the payout was settled meanwhile"),
        ))
    ops.append(update(
        ConnectAccount(*ConnectAccount.key(connect.agency_id)),
        actions=[ConnectAccount.bank_action_needed.set(True),
                 ConnectAccount.bank_failure_code.set(code),
                 ConnectAccount.updated_at.set(now)],
        condition=ConnectAccount.PK.exists(),
    ))
    amount = render_usd(latest.amount_micros) if latest is not None else None
    ops.append(notification_op(
        connect.agency_id, "payout_failed",
        f"Your bank refused the payout{f' of USD {amount}' if amount else ''} ({code}). "
        "The money is safe in your Stripe balance: update your bank details in Stripe and it "
        "will be paid out again.",
        data={"payout_id": latest.payout_id if latest else None,
              "stage": FailureStage.BANK.value, "failure_code": code,
              "stripe_payout_id": stripe_payout["id"]}, at=now))
    return ops


# -- reads -----------------------------------------------------------------------------------


def render_payout(payout: Payout) -> dict[str, Any]:
    """API shape of a payout."""
    return {
        "id": payout.payout_id,
        "amount_usd": render_usd(payout.amount_micros),
        "status": payout.status,
        "failure_stage": payout.failure_stage,
        "failure_code": payout.failure_code,
        "cycle_date": payout.cycle_date,
        "attempt": payout.attempt or 1,
        "transfer_id": payout.transfer_id,
        "created_at": payout.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def list_payouts(principal: Principal, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """The agency's payouts, newest first, paginated (Owner/Admin)."""
    authorize_agency(principal, Action.MANAGE_AGENCY)
    partition = keys.payouts_pk(principal.agency_id)
    query = Payout.query(partition, scan_index_forward=False, limit=limit,
                         last_evaluated_key=decode_cursor(cursor, partition))
    items = list(query)
    return {"payouts": [render_payout(p) for p in items],
            "next_cursor": encode_cursor(query.last_evaluated_key)}


def latest_payout(agency_id: str) -> Payout | None:
    """The newest payout of an agency, or None (one Query of one item)."""
    for payout in Payout.query(keys.payouts_pk(agency_id), scan_index_forward=False, limit=1):
        return payout
    return None

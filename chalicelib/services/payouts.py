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

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from chalicelib.domain.billing import next_cycle_date
from chalicelib.domain.errors import DomainError
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
    PayoutAlreadyExists,
    PayoutStateChanged,
    PayoutStatus,
    ProfitChanged,
    ScheduleMoved,
    SkipReason,
    decide_payout,
    payout_id,
    payout_transaction_id,
    reversal_transaction_id,
    settled_transaction_id,
    transfer_retry_date,
)
from chalicelib.domain.roles import Action, Principal, authorize_agency
from chalicelib.observability import count, logger
from chalicelib.services.notifications import notification_op
from chalicelib.services.ports import now
from chalicelib.services.sweeps import FAILED, SKIPPED, SUCCEEDED, Deadline, run_sweep
from chalicelib.store import connect_accounts, payout_schedules, payouts
from chalicelib.store.connect_accounts import ConnectAccount
from chalicelib.store.ledger import AlreadyPosted, ledger_ops, read_balance
from chalicelib.store.payout_schedules import SWEEP_JOB, PayoutSchedule
from chalicelib.store.payouts import Payout
from chalicelib.store.transact import Op, commit
from chalicelib.stripe_gateway.client import GatewayRequestRefused
from chalicelib.stripe_gateway.connect import create_transfer, find_payout_transfer

#: How many recent payouts a payout event looks through for the in-transit ones.
RECENT_PAYOUTS = 24
#: Unsent transfers looked at per run (normally none).
UNSENT_LIMIT = 500
#: Sweep outcomes counted as failed (the others but ``paid`` are skips).
FAILED_OUTCOMES = frozenset({"transfer_failed", "transfer_pending", "error", "profit_changed"})


# -- schedule --------------------------------------------------------------------------------


def schedule_op(agency_id: str, anchor: date, today: date,
                connect: ConnectAccount | None = None) -> Op:
    """Create the agency's payout schedule (first due date: the next cycle date after today),
    carrying the Connect state the sweep decides on (``connect``: the account being saved in
    the same transaction)."""
    return payout_schedules.create_op(
        agency_id, anchor=anchor, first=next_cycle_date(anchor, today),
        connect_account_id=connect.account_id if connect else None,
        connect_status=connect.status if connect else None,
        connect_payouts_enabled=bool(connect.payouts_enabled) if connect else None,
        error=ScheduleMoved("the payout schedule exists already"))


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
    connect = connect_accounts.get(schedule.agency_id)  # a schedule from before the copy
    if connect is None:
        return ConnectFacts(None, ConnectStatus.NOT_CONNECTED.value, False)
    return ConnectFacts(connect.account_id, connect.status, bool(connect.payouts_enabled))


def _advance_op(schedule: PayoutSchedule, next_date: date, result: str) -> Op:
    """Move the schedule to ``next_date``; whatever retry it carried is done with."""
    return payout_schedules.advance_op(schedule, next_date, result,
                                       ScheduleMoved("another sweep processed this cycle"))


def due_schedules(as_of: datetime) -> Iterator[PayoutSchedule]:
    """Schedules due on or before ``as_of``'s date: the due index only, never a scan."""
    return payout_schedules.due(as_of.astimezone(UTC).date())


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

    at = now()
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
    ops = ledger_ops(tx, at)
    payouts.guard_profit_at_least(ops, agency_id, AGENCY_PROFIT, amount,
                                  ProfitChanged("the profit changed during the sweep"))
    payout = payouts.new(agency_id=agency_id, payout_id=pid, cycle_date_iso=cycle_iso,
                         attempt=attempt, amount_micros=amount,
                         account_id=connect.account_id, at=at)
    ops += [
        payouts.create_op(payout, PayoutAlreadyExists("this cycle's payout exists")),
        _advance_op(schedule, next_date, "paid"),
    ]
    if attempt > 1:
        ops.append(payouts.previous_attempt_failed_check(
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


def send_transfer(payout: Payout, as_of: datetime | None = None) -> str:
    """Send the payout's Stripe transfer (same idempotency key on every retry).

    Returns ``paid`` (sent; the payout stays ``in_transit`` until ``payout.paid``),
    ``transfer_failed`` (refused: reversed into the profit, retried the day after ``as_of``)
    or ``transfer_pending`` (Stripe unreachable: the payout stays in the unsent partition and
    is sent again later).
    """
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
        logger.warning("payout transfer not confirmed; will retry",
                       extra={"payout_id": payout.payout_id, "error": error.code})
        return "transfer_pending"
    record_transfer(payout, str(result["id"]))
    return "paid"


def record_transfer(payout: Payout, transfer_id: str) -> bool:
    """Attach the Stripe transfer to the payout (idempotent; False if it was already set)."""
    try:
        commit([payouts.record_transfer_op(
            payout, transfer_id, now(),
            PayoutStateChanged("the payout has its transfer already"))])
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
    at = now()
    failed_on = (failed_at or at).astimezone(UTC).date()
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
    failed_op = payouts.fail_transfer_op(
        payout, failure_code, transfer_sent=transfer_sent, at=at,
        error=PayoutStateChanged("the payout was settled meanwhile"))
    for try_retry in (True, True, True, False):
        schedule = (payout_schedules.get(payout.agency_id)
                    if try_retry and not transfer_sent else None)
        retry_on = None if schedule is None else transfer_retry_date(
            attempt, failed_on, date.fromisoformat(schedule.next_date))
        when = (f"tried again on {retry_on.isoformat()}" if retry_on is not None
                else "paid on your next billing cycle date")
        ops = [
            *ledger_ops(tx, at),
            failed_op,
            notification_op(
                payout.agency_id, "payout_failed",
                f"The payout of USD {render_usd(payout.amount_micros)} could not be sent "
                f"({failure_code}); the amount is back in your available profit and will be "
                f"{when}.",
                data={"payout_id": payout.payout_id, "stage": FailureStage.TRANSFER.value,
                      "failure_code": failure_code, "attempt": attempt,
                      "retry_on": retry_on.isoformat() if retry_on else None}, at=at),
        ]
        if schedule is not None and retry_on is not None:
            ops.append(payout_schedules.retry_transfer_op(
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


def finish_unsent_transfers(limit: int = UNSENT_LIMIT, as_of: datetime | None = None
                            ) -> dict[str, int]:
    """Send again the transfers of payouts written but never confirmed by Stripe.

    Reads only that due-index partition (normally empty). Safe to run at any time,
    concurrently with a sweep: the transfer's idempotency key is the payout id.
    """
    counts = {"unsent_seen": 0, "unsent_sent": 0, "unsent_failed": 0, "unsent_pending": 0}
    for indexed in payouts.unsent(limit):
        counts["unsent_seen"] += 1
        payout = payouts.fresh(indexed)  # the index may lag behind a transfer just recorded
        if payout is None:
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


def _pay_due_agency(schedule: PayoutSchedule, as_of: datetime) -> str:
    """One due agency's outcome; its trouble never stops everyone else's payout."""
    try:
        return process_due_schedule(schedule, as_of).result
    except Exception:  # any failure of one agency: logged, counted as ``error``
        logger.exception("payout sweep failed for an agency",
                         extra={"agency_id": schedule.agency_id})
        return "error"


def _classify(outcome: str) -> str:
    if outcome == "paid":
        return SUCCEEDED
    return FAILED if outcome in FAILED_OUTCOMES else SKIPPED


def payout_sweep(as_of: datetime, deadline: Deadline | None = None) -> dict[str, Any]:
    """The payout sweep (``payout-sweep``): pay every due agency whose available profit is at
    least USD 100 and whose Connect account has payouts enabled; others carry their profit
    over to the next cycle date.

    First re-sends the transfers never confirmed, then reads only the due schedules (the due
    index), so its cost is O(due agencies); a rerun finds the schedules already moved on and
    pays nobody twice. Past the ``deadline`` the rest stays due for the next run
    (``deferred``).
    """
    retried = finish_unsent_transfers(as_of=as_of)
    summary = run_sweep(SWEEP_JOB, as_of, due_schedules(as_of), _pay_due_agency,
                        deadline=deadline, classify=_classify)
    deferred = summary.pop("deferred")
    return {**summary, "unsent_transfers": retried, "deferred": deferred}


# -- Stripe payout events (the connected account's bank) -------------------------------------


def in_transit_payouts(agency_id: str) -> list[Payout]:
    """In-transit payouts among the recent ones, newest first (one bounded Query)."""
    return [payout for payout in payouts.recent(agency_id, RECENT_PAYOUTS)
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
    at = now()
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
    ops = ledger_ops(tx, at)
    for payout in settled:
        ops.append(payouts.mark_paid_op(
            payout, str(stripe_payout["id"]), at,
            PayoutStateChanged("the payout was settled meanwhile")))
    return ops


def payout_failed_ops(connect: ConnectAccount, stripe_payout: dict[str, Any]) -> list[Op]:
    """``payout.failed``: the latest in-transit payout whose transfer reached the connected
    account fails at stage ``bank`` (one whose transfer was never sent cannot be in the
    account's payout: it stays in transit, to be sent).

    Nothing returns to the profit (the money is in the agency's Stripe balance); the
    in-flight amount is settled to PAID_OUT because it left the platform. The Connect item
    is flagged ``bank_action_needed`` and a notification is added; the caller emails.
    """
    at = now()
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
        ops += ledger_ops(tx, at)
        ops.append(payouts.mark_bank_failed_op(
            latest, code, str(stripe_payout["id"]), at,
            PayoutStateChanged("the payout was settled meanwhile")))
    ops.append(connect_accounts.flag_bank_failure_op(connect.agency_id, code, at))
    amount = render_usd(latest.amount_micros) if latest is not None else None
    ops.append(notification_op(
        connect.agency_id, "payout_failed",
        f"Your bank refused the payout{f' of USD {amount}' if amount else ''} ({code}). "
        "The money is safe in your Stripe balance: update your bank details in Stripe and it "
        "will be paid out again.",
        data={"payout_id": latest.payout_id if latest else None,
              "stage": FailureStage.BANK.value, "failure_code": code,
              "stripe_payout_id": stripe_payout["id"]}, at=at))
    return ops


# -- reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutPage:
    """One page of an agency's payouts, newest first."""

    payouts: list[Payout]
    next_cursor: str | None


def list_payouts(principal: Principal, *, limit: int, cursor: str | None) -> PayoutPage:
    """The agency's payouts, newest first, paginated (Owner/Admin)."""
    authorize_agency(principal, Action.MANAGE_AGENCY)
    items, next_cursor = payouts.page(principal.agency_id, limit=limit, cursor=cursor)
    return PayoutPage(items, next_cursor)

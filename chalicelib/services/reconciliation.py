"""Reconciliation (the ``reconciliation`` job): the ledger's cash and transfer entries
against Stripe.

For the period ``[as_of - WINDOW, as_of)`` it first finishes what was left half-done (pending
purchases, payouts whose transfer was never confirmed), then compares:

- every Stripe transfer created in the period with its payout (found from the transfer's
  metadata) and the payout's ledger transaction: missing payout, amount, transfer id, a
  transfer that exists although we returned the money to the profit, a reversal;
- every payout created in the period (GSI2 ``DUE#payout-records`` / ``DUE#payout-transfer``)
  with Stripe's transfers: a recorded transfer Stripe does not have, a transfer never sent;
- every succeeded Stripe charge created in the period with its purchase (GSI1 on the
  PaymentIntent id) and the purchase's ledger transaction: missing purchase or ledger
  transaction, cash amount, refunded amount.

Every difference is reported (summary and a ``ReconciliationReport`` item); when everything
agrees nothing is written. Reads are bounded by the period's Stripe objects and payouts,
never a table scan. A ledger purchase whose charge Stripe does not know cannot be found
without a scan (purchases are indexed per agency): that direction is left to the payments
feature's pending-purchase index.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.errors import DomainError
from chalicelib.domain.ledger import PAYOUTS_IN_FLIGHT
from chalicelib.domain.money import micros_to_cents
from chalicelib.domain.payouts import (
    FailureStage,
    PayoutStatus,
    payout_transaction_id,
    transfer_attempt,
)
from chalicelib.observability import count, logger
from chalicelib.services.payments import finish_pending_purchases
from chalicelib.services.payouts import finish_unsent_transfers
from chalicelib.services.ports import now
from chalicelib.services.sweeps import Deadline, job_summary
from chalicelib.store import findings, payouts
from chalicelib.store.ledger import get_transaction
from chalicelib.store.payments import find_purchase_by_intent
from chalicelib.store.payouts import Payout
from chalicelib.stripe_gateway.connect import list_charges, list_transfers

#: The period each run compares (runs every 6 hours: consecutive periods overlap on purpose).
WINDOW = timedelta(days=2)
#: Stripe creates a transfer after we record its payout; list a little past the period end.
TRANSFER_MARGIN = timedelta(hours=1)
#: Differences listed in the job's answer (the report item holds them all).
SUMMARY_LIMIT = 50


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _posted_amount(agency_id: str, transaction_id: str, account_prefix: str) -> int | None:
    """The sum a posted transaction put on accounts starting with ``account_prefix``."""
    record = get_transaction(agency_id, transaction_id)
    if record is None:
        return None
    return sum(int(amount) for account, _asset, amount in record.postings
               if str(account).startswith(account_prefix))


def compare_transfers(transfers: list[dict[str, Any]], recorded: list[Payout]
                      ) -> tuple[list[dict[str, Any]], int]:
    """Differences between Stripe's transfers and the payouts ``recorded`` in the period;
    also how many matched."""
    differences: list[dict[str, Any]] = []
    matched = 0
    by_id = {str(t["id"]): t for t in transfers}
    for transfer in transfers:
        metadata = transfer.get("metadata") or {}
        agency_id, cycle = metadata.get("agency_id"), metadata.get("cycle_date")
        attempt = transfer_attempt(metadata)
        base = {"stripe_id": transfer["id"], "agency_id": agency_id,
                "payout_id": metadata.get("payout_id")}
        payout = (payouts.get(agency_id, cycle, attempt)
                  if agency_id and cycle and attempt else None)
        if payout is None or payout.payout_id != metadata.get("payout_id"):
            differences.append({**base, "kind": "transfer_without_payout",
                                "found_cents": transfer.get("amount")})
            continue
        before = len(differences)
        expected_cents = micros_to_cents(payout.amount_micros)
        if int(transfer.get("amount") or 0) != expected_cents:
            differences.append({**base, "kind": "transfer_amount_mismatch",
                                "expected_cents": expected_cents,
                                "found_cents": transfer.get("amount")})
        if (payout.status == PayoutStatus.FAILED.value
                and payout.failure_stage == FailureStage.TRANSFER.value):
            differences.append({**base, "kind": "transfer_exists_for_failed_payout",
                                "found_cents": transfer.get("amount")})
        elif payout.transfer_id != transfer["id"]:
            differences.append({**base, "kind": "transfer_not_recorded",
                                "expected": payout.transfer_id, "found": transfer["id"]})
        if int(transfer.get("amount_reversed") or 0) and payout.status != PayoutStatus.FAILED:
            differences.append({**base, "kind": "transfer_reversed",
                                "found_cents": transfer.get("amount_reversed")})
        in_flight = _posted_amount(payout.agency_id,
                                   payout_transaction_id(payout.agency_id, payout.cycle_date,
                                                         payout.attempt or 1),
                                   PAYOUTS_IN_FLIGHT)
        if in_flight != payout.amount_micros:
            differences.append({**base, "kind": "payout_ledger_mismatch",
                                "expected_micros": payout.amount_micros,
                                "found_micros": in_flight})
        matched += len(differences) == before
    for payout in recorded:
        base = {"agency_id": payout.agency_id, "payout_id": payout.payout_id}
        if payout.transfer_id and payout.transfer_id not in by_id:
            differences.append({**base, "kind": "transfer_missing_at_stripe",
                                "expected": payout.transfer_id})
        elif (not payout.transfer_id and payout.status == PayoutStatus.IN_TRANSIT.value
              and not any((t.get("metadata") or {}).get("payout_id") == payout.payout_id
                          for t in transfers)):
            differences.append({**base, "kind": "transfer_not_sent",
                                "expected_cents": micros_to_cents(payout.amount_micros)})
    return differences, matched


def compare_charges(charges: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Differences between Stripe's succeeded charges and the ledger's cash entries."""
    differences: list[dict[str, Any]] = []
    matched = 0
    for charge in charges:
        if charge.get("status") != "succeeded":
            continue
        intent_id = charge.get("payment_intent")
        base = {"stripe_id": charge["id"], "payment_intent_id": intent_id}
        purchase = find_purchase_by_intent(str(intent_id)) if intent_id else None
        if purchase is None:
            differences.append({**base, "kind": "charge_without_purchase",
                                "found_cents": charge.get("amount")})
            continue
        base["agency_id"] = purchase.agency_id
        base["purchase_id"] = purchase.purchase_id
        before = len(differences)
        cash = _posted_amount(purchase.agency_id, purchase.transaction_id, "cardpay:")
        if cash is None:
            differences.append({**base, "kind": "charge_not_in_ledger",
                                "found_cents": charge.get("amount")})
            continue
        if micros_to_cents(-cash) != int(charge.get("amount") or 0):
            differences.append({**base, "kind": "charge_amount_mismatch",
                                "expected_cents": micros_to_cents(-cash),
                                "found_cents": charge.get("amount")})
        refunded = int(charge.get("amount_refunded") or 0)
        if refunded != (purchase.refunded_cents or 0):
            differences.append({**base, "kind": "refund_mismatch",
                                "expected_cents": purchase.refunded_cents,
                                "found_cents": refunded})
        matched += len(differences) == before
    return differences, matched


def _payouts_created(start: datetime, end: datetime) -> list[Payout]:
    rows = payouts.created_between(start, end)
    # The index may lag: read each payout itself (strongly consistent) before judging it.
    fresh = [payouts.get(p.agency_id, p.cycle_date, p.attempt or 1) for p in rows]
    return [p for p in fresh if p is not None]


def _guarded(step: str, run: Callable[[], Any], notes: dict[str, Any]) -> Any:
    try:
        return run()
    except DomainError as error:
        logger.warning("reconciliation step failed", extra={"step": step, "error": error.code})
        notes[step] = f"failed: {error.code}"
        return None


def reconciliation_run(as_of: datetime, deadline: Deadline | None = None) -> dict[str, Any]:
    """The ``reconciliation`` job: finish half-done work, compare the period, report every
    difference (see the module docstring)."""
    start, end = as_of - WINDOW, as_of
    notes: dict[str, Any] = {}
    notes["pending_purchases"] = _guarded(
        "pending_purchases", lambda: finish_pending_purchases(as_of), notes)
    notes["unsent_transfers"] = _guarded(
        "unsent_transfers", lambda: finish_unsent_transfers(as_of=as_of), notes)

    differences: list[dict[str, Any]] = []
    matched = 0
    transfers = _guarded("list_transfers", lambda: list_transfers(
        _epoch(start), _epoch(end + TRANSFER_MARGIN)), notes)
    if transfers is not None:
        found, ok = compare_transfers(transfers, _payouts_created(start, end))
        differences += found
        matched += ok
    charges = _guarded("list_charges", lambda: list_charges(_epoch(start), _epoch(end)), notes)
    if charges is not None:
        found, ok = compare_charges(charges)
        differences += found
        matched += ok

    if differences:
        findings.save_report(as_of=as_of, period_start=start, period_end=end,
                             differences=differences, at=now())
        logger.warning("reconciliation found differences",
                       extra={"differences": len(differences)})
        count("ReconciliationFindings", len(differences))
    failed_steps = sum(1 for value in notes.values() if isinstance(value, str))
    return job_summary(
        "reconciliation", as_of,
        processed=matched + len(differences), succeeded=matched,
        failed=len(differences) + failed_steps, skipped=0,
        period_start=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        period_end=end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        differences=differences[:SUMMARY_LIMIT], differences_total=len(differences),
        **notes,
    )

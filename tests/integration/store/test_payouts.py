"""The payout repository against DynamoDB (moto): one payout per cycle and attempt, status
changes that apply once, the due-index partitions, newest-first pages, and the profit guard
a payout's ledger posting carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.errors import Conflict, MalformedRequest
from chalicelib.domain.ledger import (
    AGENCY_PROFIT,
    PAYOUTS_IN_FLIGHT,
    Asset,
    Code,
    LedgerTransaction,
    card_payments,
    transfer,
)
from chalicelib.domain.payouts import payout_id
from chalicelib.store import payouts
from chalicelib.store.ledger import ledger_ops, post_transaction, read_balance
from chalicelib.store.payouts import Payout
from chalicelib.store.transact import commit

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
CHANGED = Conflict("changed", code="payout_state_changed")


def written(cycle: str = "2026-02-28", attempt: int = 1, *, agency_id: str = "agy_1",
            amount: int = 150_000_000, at: datetime = AT) -> Payout:
    payout = payouts.new(agency_id=agency_id, payout_id=payout_id(agency_id, cycle, attempt),
                         cycle_date_iso=cycle, attempt=attempt, amount_micros=amount,
                         account_id="acct_1", at=at)
    commit([payouts.create_op(payout, Conflict("exists", code="payout_already_exists"))])
    return payout


def current(cycle: str = "2026-02-28", attempt: int = 1) -> Payout:
    found = payouts.get("agy_1", cycle, attempt)
    assert found is not None
    return found


class TestWriteOnce:
    def test_a_payout_is_in_transit_and_unsent_once_written(self, table) -> None:
        assert payouts.get("agy_1", "2026-02-28") is None
        written()
        found = current()
        assert (found.payout_id, found.status, found.amount_micros, found.transfer_id) == (
            "pyt_agy_1_20260228", "in_transit", 150_000_000, None)
        assert [p.payout_id for p in payouts.unsent(10)] == ["pyt_agy_1_20260228"]

    def test_a_cycle_attempt_is_written_once(self, table) -> None:
        written()
        with pytest.raises(Conflict) as refused:
            written(amount=1)
        assert refused.value.code == "payout_already_exists"
        assert current().amount_micros == 150_000_000

    def test_a_retry_needs_the_previous_attempt_failed_at_the_transfer(self, table) -> None:
        first = written()
        retry = payouts.new(agency_id="agy_1", payout_id=payout_id("agy_1", "2026-02-28", 2),
                            cycle_date_iso="2026-02-28", attempt=2, amount_micros=150_000_000,
                            account_id="acct_1", at=AT)
        guarded = [payouts.create_op(retry, Conflict("exists")),
                   payouts.previous_attempt_failed_check("agy_1", "2026-02-28", 2, CHANGED)]
        with pytest.raises(Conflict) as refused:
            commit(guarded)
        assert refused.value.code == "payout_state_changed"
        assert payouts.get("agy_1", "2026-02-28", 2) is None
        commit([payouts.fail_transfer_op(first, "insufficient_funds", transfer_sent=False,
                                         at=AT, error=CHANGED)])
        commit(guarded)
        assert current(attempt=2).payout_id == "pyt_agy_1_20260228_2"


class TestStatusChanges:
    def test_the_transfer_is_recorded_once_and_leaves_the_unsent_partition(self, table) -> None:
        payout = written()
        commit([payouts.record_transfer_op(payout, "tr_1", AT, CHANGED)])
        assert current().transfer_id == "tr_1"
        assert list(payouts.unsent(10)) == []
        around = payouts.created_between(AT - timedelta(seconds=1), AT + timedelta(seconds=1))
        assert [p.payout_id for p in around] == [payout.payout_id]
        with pytest.raises(Conflict):
            commit([payouts.record_transfer_op(payout, "tr_2", AT, CHANGED)])
        assert current().transfer_id == "tr_1"

    def test_a_refusal_fails_only_an_unsent_transfer_and_a_reversal_only_a_sent_one(
            self, table) -> None:
        payout = written()
        with pytest.raises(Conflict):
            commit([payouts.fail_transfer_op(payout, "transfer_reversed", transfer_sent=True,
                                             at=AT, error=CHANGED)])
        commit([payouts.record_transfer_op(payout, "tr_1", AT, CHANGED)])
        with pytest.raises(Conflict):
            commit([payouts.fail_transfer_op(payout, "insufficient_funds", transfer_sent=False,
                                             at=AT, error=CHANGED)])
        commit([payouts.fail_transfer_op(payout, "transfer_reversed", transfer_sent=True,
                                         at=AT, error=CHANGED)])
        failed = current()
        assert (failed.status, failed.failure_stage, failed.failure_code) == (
            "failed", "transfer", "transfer_reversed")

    def test_paid_and_bank_failed_apply_only_to_a_payout_in_transit(self, table) -> None:
        paid, bank = written("2026-01-31"), written("2026-02-28")
        commit([payouts.mark_paid_op(paid, "po_1", AT, CHANGED)])
        commit([payouts.mark_bank_failed_op(bank, "account_closed", "po_2", AT, CHANGED)])
        assert (current("2026-01-31").status, current("2026-01-31").stripe_payout_id) == (
            "paid", "po_1")
        failed = current("2026-02-28")
        assert (failed.status, failed.failure_stage, failed.failure_code) == (
            "failed", "bank", "account_closed")
        for again in (payouts.mark_paid_op(failed, "po_3", AT, CHANGED),
                      payouts.mark_bank_failed_op(paid, "no_account", "po_3", AT, CHANGED)):
            with pytest.raises(Conflict):
                commit([again])


class TestListing:
    def test_pages_are_newest_first_and_their_cursor_is_this_agencys(self, table) -> None:
        cycles = ["2025-12-31", "2026-01-31", "2026-02-28"]
        for cycle in cycles:
            written(cycle)
        written("2026-02-28", agency_id="agy_other")
        first, cursor = payouts.page("agy_1", limit=2, cursor=None)
        assert [p.cycle_date for p in first] == ["2026-02-28", "2026-01-31"]
        assert cursor is not None
        rest, _ = payouts.page("agy_1", limit=2, cursor=cursor)
        assert [p.cycle_date for p in rest] == ["2025-12-31"]
        with pytest.raises(MalformedRequest):
            payouts.page("agy_other", limit=2, cursor=cursor)
        assert payouts.latest("agy_1").cycle_date == "2026-02-28"
        assert [p.cycle_date for p in payouts.recent("agy_1", 5)] == cycles[::-1]
        assert payouts.latest("agy_none") is None

    def test_created_between_reads_the_period_of_both_partitions(self, table) -> None:
        sent = written("2026-01-31", at=AT - timedelta(days=1))
        commit([payouts.record_transfer_op(sent, "tr_1", AT, CHANGED)])
        written("2026-02-28", at=AT - timedelta(hours=1))
        written("2025-12-31", at=AT - timedelta(days=40))
        written("2026-03-31", at=AT)  # the period's end is not in it
        found = payouts.created_between(AT - timedelta(days=2), AT)
        assert sorted(p.cycle_date for p in found) == ["2026-01-31", "2026-02-28"]


class TestProfitGuard:
    def payout_ops(self, amount: int) -> list:
        tx = LedgerTransaction(
            agency_id="agy_1", transaction_id=f"payout:test:{amount}", code=Code.PAYOUT,
            postings=transfer(AGENCY_PROFIT, PAYOUTS_IN_FLIGHT, Asset.USD, amount))
        ops = ledger_ops(tx, AT)
        payouts.guard_profit_at_least(ops, "agy_1", AGENCY_PROFIT, amount,
                                      Conflict("changed", code="profit_changed"))
        return ops

    def test_a_payout_never_takes_more_profit_than_there_is(self, table) -> None:
        post_transaction(LedgerTransaction(
            agency_id="agy_1", transaction_id="profit:1", code=Code.PURCHASE,
            postings=transfer(card_payments("sub_1"), AGENCY_PROFIT, Asset.USD,
                              120_000_000)))
        with pytest.raises(Conflict) as refused:
            commit(self.payout_ops(120_000_001))
        assert refused.value.code == "profit_changed"
        commit(self.payout_ops(120_000_000))
        assert read_balance("agy_1", AGENCY_PROFIT, Asset.USD).balance == 0
        assert read_balance("agy_1", PAYOUTS_IN_FLIGHT, Asset.USD).balance == 120_000_000

    def test_ops_without_the_profit_row_are_a_bug(self, table) -> None:
        with pytest.raises(AssertionError):
            payouts.guard_profit_at_least([], "agy_1", AGENCY_PROFIT, 1, Conflict("x"))

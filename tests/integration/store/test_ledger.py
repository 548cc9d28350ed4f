"""store.ledger against the local DynamoDB: posting, its guards, balances and entry pages."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.domain.errors import Conflict, MalformedRequest
from chalicelib.domain.ledger import LedgerTransaction, supply, transfer, usage_sink, wallet
from chalicelib.store import ledger
from chalicelib.store.ledger import AlreadyPosted, InsufficientBalance
from chalicelib.store.transact import commit

AGENCY = "agy_store_ledger"
AT = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def grant(tx_id: str, seconds: int, *, sid: str = "sub_1", at: datetime = AT
          ) -> LedgerTransaction:
    return LedgerTransaction(agency_id=AGENCY, transaction_id=tx_id, code="adjustment",
                             postings=transfer(supply(sid), wallet(sid), "basic_minutes",
                                               seconds), subaccount_id=sid, memo="grant",
                             metadata={"reason": "test"})


def spend(tx_id: str, seconds: int, *, sid: str = "sub_1") -> LedgerTransaction:
    return LedgerTransaction(agency_id=AGENCY, transaction_id=tx_id, code="usage",
                             postings=transfer(wallet(sid), usage_sink(sid), "basic_minutes",
                                               seconds), subaccount_id=sid)


def basic(sid: str = "sub_1") -> ledger.BalanceView:
    return ledger.balance(AGENCY, wallet(sid), "basic_minutes")


class TestPost:
    def test_the_record_answered_is_the_record_stored(self, table) -> None:
        written = ledger.post(grant("tx-1", 90))
        stored = ledger.transaction(AGENCY, "tx-1")
        assert stored is not None
        assert written.attribute_values == stored.attribute_values
        assert stored.postings == [[supply("sub_1"), "basic_minutes", -90],
                                   [wallet("sub_1"), "basic_minutes", 90]]

    def test_each_posting_is_an_entry_and_each_row_moves_by_its_sum(self, table) -> None:
        ledger.post(grant("tx-1", 90))
        ledger.post(spend("tx-2", 30))
        assert basic() == ledger.BalanceView(wallet("sub_1"), "basic_minutes", 60, 2)
        assert ledger.balance(AGENCY, supply("sub_1"), "basic_minutes").balance == -90
        entries, _ = ledger.newest_entries(AGENCY, wallet("sub_1"), start=None, end=None,
                                           limit=10, cursor=None)
        assert [(e.transaction_id, e.amount) for e in entries] == [("tx-2", -30), ("tx-1", 90)]

    def test_an_id_is_posted_once(self, table) -> None:
        ledger.post(grant("tx-1", 90))
        with pytest.raises(AlreadyPosted):
            ledger.post(grant("tx-1", 90))
        assert basic().balance == 90

    def test_a_wallet_never_goes_below_zero_a_system_account_may(self, table) -> None:
        ledger.post(grant("tx-1", 10))
        with pytest.raises(InsufficientBalance):
            ledger.post(spend("tx-2", 11))
        assert basic() == ledger.BalanceView(wallet("sub_1"), "basic_minutes", 10, 1)
        assert ledger.transaction(AGENCY, "tx-2") is None

    def test_an_expected_version_refuses_a_row_that_moved(self, table) -> None:
        ledger.post(grant("tx-1", 10))
        stale = Conflict("moved", code="moved")
        with pytest.raises(Conflict) as refused:
            ledger.post(spend("tx-2", 5), expected_versions={(wallet("sub_1"),
                                                              "basic_minutes"): 0},
                        stale_error=stale)
        assert refused.value is stale
        ledger.post(spend("tx-3", 5), expected_versions={(wallet("sub_1"), "basic_minutes"): 1},
                    stale_error=stale)
        assert basic() == ledger.BalanceView(wallet("sub_1"), "basic_minutes", 5, 2)

    def test_unchanged_checks_a_row_without_writing_it(self, table) -> None:
        moved = Conflict("moved", code="moved")
        commit([ledger.unchanged(AGENCY, wallet("sub_1"), "basic_minutes", 0, moved)])
        ledger.post(grant("tx-1", 10))
        with pytest.raises(Conflict) as refused:
            commit([ledger.unchanged(AGENCY, wallet("sub_1"), "basic_minutes", 0, moved)])
        assert refused.value is moved
        commit([ledger.unchanged(AGENCY, wallet("sub_1"), "basic_minutes", 1, moved)])

    def test_the_old_names_still_post(self, table) -> None:
        ledger.post_transaction(grant("tx-1", 10), now=AT)
        ops = ledger.ledger_ops(grant("tx-2", 5), AT)
        commit(ops)
        assert ledger.read_balance(AGENCY, wallet("sub_1"), "basic_minutes").balance == 15


class TestReads:
    def test_rows_never_written_read_zero(self, table) -> None:
        ledger.post(grant("tx-1", 10))
        found = ledger.balances(AGENCY, [wallet("sub_1"), wallet("sub_2")],
                                ["basic_minutes", "kp_credits"])
        assert found[wallet("sub_1")]["basic_minutes"].balance == 10
        assert found[wallet("sub_1")]["kp_credits"].balance == 0
        assert found[wallet("sub_2")]["basic_minutes"] == ledger.BalanceView(
            wallet("sub_2"), "basic_minutes", 0, 0)
        assert set(ledger.balances_of(AGENCY, wallet("sub_1"))) == {"basic_minutes"}
        assert basic("sub_2").balance == 0
        assert ledger.transaction(AGENCY, "nope") is None

    def test_entries_page_newest_first_within_dates(self, table) -> None:
        for day in (1, 2, 3):
            ledger.post(grant(f"tx-{day}", day, at=datetime(2026, 3, day, tzinfo=UTC)),
                        at=datetime(2026, 3, day, 9, tzinfo=UTC))
        first, cursor = ledger.newest_entries(AGENCY, wallet("sub_1"), start=None, end=None,
                                              limit=2, cursor=None)
        assert [e.transaction_id for e in first] == ["tx-3", "tx-2"]
        assert cursor is not None
        rest, end = ledger.newest_entries(AGENCY, wallet("sub_1"), start=None, end=None,
                                          limit=2, cursor=cursor)
        assert [e.transaction_id for e in rest] == ["tx-1"]
        assert end is None
        within, _ = ledger.newest_entries(AGENCY, wallet("sub_1"), start=date(2026, 3, 2),
                                          end=date(2026, 3, 2), limit=10, cursor=None)
        assert [e.transaction_id for e in within] == ["tx-2"]

    def test_a_cursor_of_another_account_is_refused(self, table) -> None:
        for n in (1, 2):
            ledger.post(grant(f"tx-{n}", n))
            ledger.post(grant(f"tx-other-{n}", n, sid="sub_2"))
        _, cursor = ledger.newest_entries(AGENCY, wallet("sub_2"), start=None, end=None,
                                          limit=1, cursor=None)
        with pytest.raises(MalformedRequest):
            ledger.newest_entries(AGENCY, wallet("sub_1"), start=None, end=None, limit=1,
                                  cursor=cursor)


def refund(tx_id: str, seconds: int, *, sid: str = "sub_1") -> LedgerTransaction:
    return LedgerTransaction(agency_id=AGENCY, transaction_id=tx_id, code="usage",
                             postings=transfer(usage_sink(sid), wallet(sid), "basic_minutes",
                                               seconds), subaccount_id=sid)


class TestBatchOps:
    def test_several_transactions_one_update_per_row_as_if_posted_one_by_one(self, table
                                                                               ) -> None:
        ledger.post(grant("tx-0", 100))
        batch = ledger.batch_ops(AGENCY, [spend("tx-1", 30), spend("tx-2", 50)], at=AT)
        assert set(batch.records) == {"tx-1", "tx-2"}
        commit(batch.ops)
        assert basic() == ledger.BalanceView(wallet("sub_1"), "basic_minutes", 20, 3)
        assert ledger.balance(AGENCY, usage_sink("sub_1"), "basic_minutes").balance == 80
        assert ledger.transaction(AGENCY, "tx-2") is not None

    def test_the_guard_asks_for_the_deepest_running_debit_not_the_net(self, table) -> None:
        ledger.post(grant("tx-0", 8))
        # -8, then +5, then -6: never below zero from 9 seconds on, though the net is -9
        txs = [spend("tx-1", 8), refund("tx-2", 5), spend("tx-3", 6)]
        with pytest.raises(InsufficientBalance):
            commit(ledger.batch_ops(AGENCY, txs, at=AT).ops)
        ledger.post(grant("tx-4", 1))
        commit(ledger.batch_ops(AGENCY, txs, at=AT).ops)
        assert basic().balance == 0

    def test_a_refusal_names_every_transaction_posted_before(self, table) -> None:
        from chalicelib.store.transact import ConditionsFailed

        ledger.post(grant("tx-0", 100))
        ledger.post(spend("tx-1", 1))
        ledger.post(spend("tx-3", 1))
        batch = ledger.batch_ops(AGENCY, [spend(f"tx-{n}", 1) for n in (1, 2, 3)], at=AT)
        with pytest.raises(ConditionsFailed) as refused:
            commit(batch.ops, every_refusal=True)
        assert {id(op) for op in refused.value.ops} == {id(batch.records["tx-1"]),
                                                        id(batch.records["tx-3"])}
        assert basic().balance == 98

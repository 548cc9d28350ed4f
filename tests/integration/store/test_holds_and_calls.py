"""store.holds and store.calls against the local DynamoDB: one hold and one call record per
call id platform-wide, the conditions that refuse, and the reads usage starts from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.domain.ledger import LedgerTransaction, supply, transfer, wallet
from chalicelib.store import calls, holds, ledger
from chalicelib.store.accounts import Subaccount
from chalicelib.store.holds import HoldChanged
from chalicelib.store.transact import commit

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
TAKEN = Conflict("taken", code="taken")


def hold(call_id: str, *, agency_id: str = "agy_1", sid: str = "sub_1", minutes: int = 5
         ) -> holds.CallHold:
    return holds.new(agency_id=agency_id, subaccount_id=sid, call_id=call_id, tier="basic",
                     seconds=60, created_at=AT, hold_until=AT + timedelta(minutes=minutes))


def call_record(call_id: str, sid: str = "sub_1") -> calls.CallRecord:
    return calls.new(agency_id="agy_1", call_id=call_id, subaccount_id=sid, tier="basic",
                     direction="outbound", status="completed", duration_seconds=30,
                     debited_seconds=30, shortfall_seconds=0, spent_micros=3000,
                     started_at=AT, recorded_at=AT)


class TestHolds:
    def test_one_hold_per_call_id(self, table) -> None:
        commit([holds.place(hold("c1"), TAKEN)])
        with pytest.raises(Conflict) as refused:
            commit([holds.place(hold("c1", agency_id="agy_2"), TAKEN)])
        assert refused.value is TAKEN
        found = holds.get("c1")
        assert found is not None and (found.agency_id, found.status) == ("agy_1", "held")
        assert holds.get("c2") is None

    def test_free_or_of_refuses_only_another_subaccounts_hold(self, table) -> None:
        commit([holds.free_or_of("c1", "sub_1", TAKEN)])  # no hold at all
        commit([holds.place(hold("c1"), TAKEN)])
        commit([holds.free_or_of("c1", "sub_1", TAKEN)])
        with pytest.raises(Conflict):
            commit([holds.free_or_of("c1", "sub_2", TAKEN)])

    def test_a_closed_hold_leaves_the_open_list_and_the_due_index(self, table) -> None:
        commit([holds.place(hold("c1"), TAKEN), holds.place(hold("c2", minutes=50), TAKEN)])
        assert [h.call_id for h in holds.open_of("agy_1", "sub_1")] == ["c1", "c2"]
        assert [h.call_id for h in holds.due(AT + timedelta(minutes=10))] == ["c1"]
        first = holds.get("c1")
        assert first is not None
        commit([holds.close(first, "settled")])
        with pytest.raises(HoldChanged):
            commit([holds.close(first, "released")])
        assert [h.call_id for h in holds.open_of("agy_1", "sub_1")] == ["c2"]
        assert [h.call_id for h in holds.due(AT + timedelta(hours=1))] == ["c2"]
        closed = holds.get("c1")
        assert closed is not None and closed.status == "settled" and closed.DUEPK is None


class TestCalls:
    def test_one_record_per_call_id_and_absent_refuses_after_it(self, table) -> None:
        commit([calls.absent("c1", TAKEN)])
        commit([calls.record(call_record("c1"), TAKEN)])
        with pytest.raises(Conflict):
            commit([calls.record(call_record("c1", sid="sub_2"), TAKEN)])
        with pytest.raises(Conflict):
            commit([calls.absent("c1", TAKEN)])
        assert calls.get_many(["c1"])["c1"].subaccount_id == "sub_1"
        commit([calls.record(call_record("c2"), TAKEN)])
        assert sorted(calls.get_many(["c1", "c2", "c3"])) == ["c1", "c2"]
        assert calls.get_many(["c3"]) == {}

    def test_read_for_usage_reads_balances_holds_and_extra_items_at_once(
            self, table, dynamodb_calls) -> None:
        sub = Subaccount("AGENCY#agy_1", "SUB#sub_1", agency_id="agy_1", subaccount_id="sub_1")
        ledger.post(LedgerTransaction(agency_id="agy_1", transaction_id="grant", code="grant",
                                      postings=transfer(supply("sub_1"), wallet("sub_1"),
                                                        "basic_minutes", 120)))
        commit([holds.place(hold("c1"), TAKEN)])
        wallets = [(sub, wallet("sub_1"), "basic_minutes"),
                   (sub, wallet("sub_1"), "premium_minutes")]
        dynamodb_calls.reset()
        reads = calls.read_for_usage(wallets, ["c1", "c2"], [("TX#agy_1#grant", "TX"),
                                                             ("NOPE", "NOPE")])
        assert dict(dynamodb_calls.calls) == {"BatchGetItem": 1}
        assert reads.balances[("sub_1", "basic_minutes")].balance == 120
        assert reads.balances[("sub_1", "basic_minutes")].version == 1
        assert reads.balances[("sub_1", "premium_minutes")].balance == 0
        assert set(reads.holds) == {"c1"}
        assert set(reads.extra) == {("TX#agy_1#grant", "TX")}

"""The payout schedule repository against DynamoDB (moto): one schedule per agency, the due
index read by date, and moves that refuse a schedule changed since it was read."""

from __future__ import annotations

from datetime import date

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.store import keys, payout_schedules
from chalicelib.store.payout_schedules import PayoutSchedule
from chalicelib.store.transact import commit

MOVED = Conflict("moved", code="payout_schedule_moved")


def scheduled(agency_id: str, first: date, *, account: str | None = "acct_1") -> None:
    commit([payout_schedules.create_op(
        agency_id, anchor=date(2026, 1, 31), first=first, connect_account_id=account,
        connect_status="connected" if account else None,
        connect_payouts_enabled=True if account else None, error=MOVED)])


def schedule(agency_id: str = "agy_1") -> PayoutSchedule:
    found = payout_schedules.get(agency_id)
    assert found is not None
    return found


class TestReads:
    def test_an_agency_without_connect_has_no_schedule(self, table) -> None:
        assert payout_schedules.get("agy_none") is None

    def test_the_schedule_carries_its_date_and_the_connect_state(self, table) -> None:
        scheduled("agy_1", date(2026, 2, 28))
        found = schedule()
        assert (found.next_date, found.anchor, found.connect_account_id, found.connect_status,
                found.connect_payouts_enabled) == ("2026-02-28", "2026-01-31", "acct_1",
                                                   "connected", True)

    def test_due_reads_every_shard_up_to_the_day_and_nothing_later(self, table) -> None:
        # Enough agencies to land in several shards of the due index.
        agencies = [f"agy_{n}" for n in range(12)]
        assert len({keys.due_pk(payout_schedules.SWEEP_JOB, a) for a in agencies}) > 1
        for n, agency_id in enumerate(agencies):
            scheduled(agency_id, date(2026, 3, 1 + n % 3))  # due on the 1st, 2nd or 3rd
        due_on_2nd = {s.agency_id for s in payout_schedules.due(date(2026, 3, 2))}
        assert due_on_2nd == {a for n, a in enumerate(agencies) if n % 3 < 2}
        assert list(payout_schedules.due(date(2026, 2, 28))) == []
        assert len(list(payout_schedules.due(date(2026, 3, 31)))) == 12


class TestConditions:
    def test_an_agency_gets_one_schedule(self, table) -> None:
        scheduled("agy_1", date(2026, 2, 28))
        with pytest.raises(Conflict) as refused:
            scheduled("agy_1", date(2026, 3, 31))
        assert refused.value.code == "payout_schedule_moved"
        assert schedule().next_date == "2026-02-28"

    def test_advancing_moves_the_due_date_once(self, table) -> None:
        scheduled("agy_1", date(2026, 2, 28))
        read = schedule()
        commit([payout_schedules.advance_op(read, date(2026, 3, 31), "paid", MOVED)])
        moved = schedule()
        assert (moved.next_date, moved.last_result) == ("2026-03-31", "paid")
        assert [s.agency_id for s in payout_schedules.due(date(2026, 3, 1))] == []
        with pytest.raises(Conflict):  # a second sweep that read the old date
            commit([payout_schedules.advance_op(read, date(2026, 3, 31), "paid", MOVED)])

    def test_a_retry_makes_it_due_earlier_and_advancing_clears_the_retry(self, table) -> None:
        scheduled("agy_1", date(2026, 3, 31))
        read = schedule()
        commit([payout_schedules.retry_transfer_op(read, "2026-02-28", 2, date(2026, 3, 2),
                                                   MOVED)])
        retry = schedule()
        assert (retry.next_date, retry.retry_cycle, retry.retry_attempt, retry.last_result) == (
            "2026-03-31", "2026-02-28", 2, "transfer_failed")
        assert [s.agency_id for s in payout_schedules.due(date(2026, 3, 2))] == ["agy_1"]
        with pytest.raises(Conflict):  # built from the read before the retry was set
            commit([payout_schedules.retry_transfer_op(read, "2026-02-28", 2,
                                                       date(2026, 3, 3), MOVED)])
        commit([payout_schedules.advance_op(retry, date(2026, 3, 31), "paid", MOVED)])
        done = schedule()
        assert (done.retry_cycle, done.retry_attempt) == (None, None)

    def test_the_connect_state_is_copied_only_onto_an_existing_schedule(self, table) -> None:
        scheduled("agy_1", date(2026, 2, 28))
        missing = Conflict("missing", code="payout_schedule_missing")
        commit([payout_schedules.copy_connect_state_op("agy_1", "restricted", False, missing)])
        assert (schedule().connect_status, schedule().connect_payouts_enabled) == (
            "restricted", False)
        with pytest.raises(Conflict) as refused:
            commit([payout_schedules.copy_connect_state_op("agy_none", "connected", True,
                                                           missing)])
        assert refused.value.code == "payout_schedule_missing"
        assert payout_schedules.get("agy_none") is None

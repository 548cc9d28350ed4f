"""The plan renewal repository against DynamoDB (moto): one schedule per agency, the due
index read up to a moment, a cycle moved on once, a stopped schedule resumed once."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.store import plan_renewals
from chalicelib.store.plan_renewals import PlanRenewal
from chalicelib.store.transact import ConditionFailed, commit

CHANGED = Conflict("changed", code="concurrent_update")


def scheduled(agency_id: str, first: date) -> None:
    commit([plan_renewals.schedule_op(agency_id=agency_id, primary_subaccount_id=f"{agency_id}_p",
                                      anchor="2026-01-31", first_cycle=first)])


def renewal(agency_id: str = "agy_1") -> PlanRenewal:
    found = plan_renewals.get(agency_id)
    assert found is not None
    return found


def due_at(moment: datetime) -> set[str]:
    return {r.agency_id for r in plan_renewals.due(moment)}


class TestReads:
    def test_an_agency_without_included_minutes_has_no_schedule(self, table) -> None:
        assert plan_renewals.get("agy_none") is None

    def test_a_schedule_is_due_from_the_start_of_its_cycle_date(self, table) -> None:
        scheduled("agy_1", date(2026, 3, 31))
        scheduled("agy_2", date(2026, 4, 30))
        found = renewal()
        assert (found.next_cycle, found.anchor, found.primary_subaccount_id,
                found.is_scheduled) == ("2026-03-31", "2026-01-31", "agy_1_p", True)
        assert due_at(datetime(2026, 3, 30, 23, 59, tzinfo=UTC)) == set()
        assert due_at(datetime(2026, 3, 31, tzinfo=UTC)) == {"agy_1"}
        assert due_at(datetime(2026, 5, 1, tzinfo=UTC)) == {"agy_1", "agy_2"}


class TestWrites:
    def test_an_agency_gets_one_schedule(self, table) -> None:
        scheduled("agy_1", date(2026, 3, 31))
        with pytest.raises(ConditionFailed):
            scheduled("agy_1", date(2026, 4, 30))
        assert renewal().next_cycle == "2026-03-31"

    def test_a_cycle_moves_on_once(self, table) -> None:
        scheduled("agy_1", date(2026, 3, 31))
        read = renewal()
        commit([plan_renewals.move_on_op(read, date(2026, 4, 30))])
        moved = renewal()
        assert (moved.next_cycle, moved.last_cycle) == ("2026-04-30", "2026-03-31")
        assert due_at(datetime(2026, 4, 1, tzinfo=UTC)) == set()
        with pytest.raises(ConditionFailed):  # a concurrent run read the same cycle
            commit([plan_renewals.move_on_op(read, date(2026, 4, 30))])

    def test_a_stopped_schedule_leaves_the_due_index_and_resumes_once(self, table) -> None:
        scheduled("agy_1", date(2026, 3, 31))
        commit([plan_renewals.stop_op(renewal())])
        stopped = renewal()
        assert stopped.is_scheduled is False
        assert due_at(datetime(2027, 1, 1, tzinfo=UTC)) == set()
        commit([plan_renewals.resume_op(stopped, date(2026, 5, 31), CHANGED)])
        assert renewal().next_cycle == "2026-05-31"
        assert due_at(datetime(2026, 6, 1, tzinfo=UTC)) == {"agy_1"}
        with pytest.raises(Conflict) as refused:
            commit([plan_renewals.resume_op(stopped, date(2026, 6, 30), CHANGED)])
        assert refused.value is CHANGED
        assert renewal().next_cycle == "2026-05-31"

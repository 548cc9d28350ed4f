"""The auto-allocation rule repository against DynamoDB (moto): one rule per sub-account,
due only while active and enabled, and moves refused once the rule changed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.store import auto_allocation_rules as rules
from chalicelib.store import keys
from chalicelib.store.accounts import Agency, Subaccount
from chalicelib.store.auto_allocation_rules import AutoAllocationRule
from chalicelib.store.transact import ConditionFailed, Op, commit, update
from tests.integration.store.support import add_subaccount, new_agency
from tests.integration.store.support import stored as sub_stored

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
CHANGED = Conflict("changed", code="concurrent_update")
STALE = Conflict("stale copies", code="concurrent_update")


def saved(agency_id: str = "agy_1", sid: str = "sub_1", *, period: date = date(2026, 3, 15),
          enabled: bool = True) -> AutoAllocationRule:
    existing = rules.get(agency_id, sid)
    rule = rules.new(agency_id=agency_id, subaccount_id=sid, basic_minutes=100,
                     premium_minutes=0, enabled=enabled, period=period, existing=existing,
                     at=AT)
    commit([rules.replace_op(rule, existing, CHANGED)])
    return stored(agency_id, sid)


def stored(agency_id: str = "agy_1", sid: str = "sub_1") -> AutoAllocationRule:
    found = rules.get(agency_id, sid)
    assert found is not None
    return found


def due_at(moment: datetime) -> set[str]:
    return {rule.subaccount_id for rule in rules.due(moment)}


class TestSaving:
    def test_a_new_rule_is_due_on_its_period_and_a_disabled_one_never(self, table) -> None:
        rule = saved()
        assert (rule.period, rule.attempt, rule.version, rule.next_run_at) == (
            "2026-03-15", 0, 1, "2026-03-15T00:00:00Z")
        saved(sid="sub_2", enabled=False)
        assert stored(sid="sub_2").next_run_at is None
        assert due_at(datetime(2026, 3, 14, 23, tzinfo=UTC)) == set()
        assert due_at(datetime(2026, 3, 15, tzinfo=UTC)) == {"sub_1"}

    def test_replacing_keeps_counting_attempts_and_versions(self, table) -> None:
        saved()
        again = saved(period=date(2026, 4, 15))
        assert (again.attempt, again.version, again.period) == (1, 2, "2026-04-15")

    def test_a_rule_replaced_meanwhile_refuses_the_stale_save(self, table) -> None:
        first = saved()
        saved(period=date(2026, 4, 15))  # another request won
        late = rules.new(agency_id="agy_1", subaccount_id="sub_1", basic_minutes=5,
                         premium_minutes=0, enabled=True, period=date(2026, 5, 15),
                         existing=first, at=AT)
        with pytest.raises(Conflict) as refused:
            commit([rules.replace_op(late, first, CHANGED)])
        assert refused.value is CHANGED
        with pytest.raises(Conflict):  # a second "first" rule is refused too
            commit([rules.replace_op(late, None, CHANGED)])
        assert stored().period == "2026-04-15"

    def test_deleting_takes_the_rule_out_of_the_due_index(self, table) -> None:
        commit([rules.delete_op(saved())])
        assert rules.get("agy_1", "sub_1") is None
        assert due_at(datetime(2027, 1, 1, tzinfo=UTC)) == set()


class TestSweepMoves:
    def test_advancing_moves_to_the_next_period_once(self, table) -> None:
        read = saved()
        commit([rules.advance_op(read, date(2026, 4, 15), AT)])
        moved = stored()
        assert (moved.period, moved.last_period_done, moved.attempt, moved.failures,
                moved.next_run_at) == ("2026-04-15", "2026-03-15", 1, 0,
                                       "2026-04-15T00:00:00Z")
        with pytest.raises(ConditionFailed):  # a concurrent sweep read the same version
            commit([rules.advance_op(read, date(2026, 4, 15), AT)])

    def test_a_failure_is_retried_on_the_day_given(self, table) -> None:
        commit([rules.failure_op(saved(), code="card_declined", failures=1, at=AT,
                                 retry_on=date(2026, 3, 16))])
        failed = stored()
        assert (failed.failures, failed.last_failure_code, failed.attempt, failed.status,
                failed.next_run_at) == (1, "card_declined", 1, "active",
                                        "2026-03-16T00:00:00Z")

    def test_a_pausing_failure_leaves_the_due_index(self, table) -> None:
        read = saved()
        commit([rules.failure_op(read, code="card_declined", failures=4, at=AT,
                                 paused_reason="payment failed 4 times (card_declined)")])
        paused = stored()
        assert (paused.status, paused.paused_reason, paused.next_run_at) == (
            "paused", "payment failed 4 times (card_declined)", None)
        assert due_at(datetime(2027, 1, 1, tzinfo=UTC)) == set()
        with pytest.raises(ConditionFailed):
            commit([rules.failure_op(read, code="card_declined", failures=1, at=AT,
                                     retry_on=date(2026, 3, 16))])


class TestLoad:
    def test_the_rule_comes_with_its_subaccount_and_agency(self, table) -> None:
        created = new_agency()
        agency_id = created.agency.agency_id
        sub = add_subaccount(created)
        assert rules.load(agency_id, sub.subaccount_id)[0] is None
        saved(agency_id, sub.subaccount_id)
        rule, found_sub, agency = rules.load(agency_id, sub.subaccount_id)
        assert rule is not None and rule.subaccount_id == sub.subaccount_id
        assert found_sub is not None and found_sub.subaccount_id == sub.subaccount_id
        assert agency is not None and agency.agency_id == agency_id
        rule, found_sub, agency = rules.load(agency_id, "sub_missing")
        assert (rule, found_sub) == (None, None)
        assert agency is not None and agency.agency_id == agency_id


class TestCopies:
    def test_a_rule_is_read_with_its_agency(self, table) -> None:
        created = new_agency()
        agency_id = created.agency.agency_id
        sub = add_subaccount(created)
        rule, agency = rules.get_with_agency(agency_id, sub.subaccount_id)
        assert rule is None and agency is not None and agency.agency_id == agency_id
        saved(agency_id, sub.subaccount_id)
        rule, agency = rules.get_with_agency(agency_id, sub.subaccount_id)
        assert rule is not None and rule.subaccount_id == sub.subaccount_id
        assert agency is not None and agency.agency_id == agency_id

    def test_refreshing_the_copies_is_refused_once_the_rule_changed(self, table) -> None:
        read = saved()
        fresh, op = rules.with_copies(read, primary_subaccount_id="sub_p", anchor="2026-02-20",
                                      timezone="Europe/Paris", at=AT)
        commit([op])
        now = stored()
        assert (now.primary_subaccount_id, now.anchor, now.timezone, now.version) == (
            "sub_p", "2026-02-20", "Europe/Paris", read.version + 1)
        assert (fresh.primary_subaccount_id, fresh.anchor, fresh.timezone, fresh.version) == (
            "sub_p", "2026-02-20", "Europe/Paris", now.version)
        assert read.anchor is None  # the rule read is left as it was
        with pytest.raises(ConditionFailed):
            commit([rules.with_copies(read, primary_subaccount_id="sub_p", anchor="2026-03-01",
                                      timezone="UTC", at=AT)[1]])


class TestGuardPending:
    """``guard_pending`` on a transaction that writes the sub-account (as recording a
    purchase does): it commits only while the rule's copies hold."""

    def setup_rule(self) -> tuple[AutoAllocationRule, Subaccount]:
        created = new_agency()
        sub = add_subaccount(created)
        agency = created.agency
        rule = rules.new(agency_id=agency.agency_id, subaccount_id=sub.subaccount_id,
                         basic_minutes=1, premium_minutes=0, enabled=True,
                         period=date(2026, 3, 15), existing=None, at=AT,
                         primary_subaccount_id=agency.primary_subaccount_id,
                         anchor=sub.subscription_start, timezone=agency.timezone)
        commit([rules.replace_op(rule, None, CHANGED)])
        return stored(agency.agency_id, sub.subaccount_id), sub

    @staticmethod
    def mark(sub: Subaccount) -> list[Op]:
        key = Subaccount(sub.PK, sub.SK)
        return [update(key, actions=[Subaccount.pending_purchase_ids.add({"p1"})],
                       condition=Subaccount.status.is_in("active", "suspended"))]

    def test_it_commits_while_the_copies_hold(self, table) -> None:
        rule, sub = self.setup_rule()
        commit(rules.guard_pending(rule, STALE)(self.mark(sub)))
        assert sub_stored(sub).pending_purchase_ids == {"p1"}

    def test_an_agency_saved_before_timezones_holds_for_a_utc_rule(self, table) -> None:
        """An agency item without ``timezone`` reads as UTC: its rules must not be refused
        (and skipped) forever."""
        rule, sub = self.setup_rule()
        assert rule.timezone == "UTC"
        Agency(sub.PK, keys.AGENCY_SK).update(actions=[Agency.timezone.remove()])
        commit(rules.guard_pending(rule, STALE)(self.mark(sub)))
        assert sub_stored(sub).pending_purchase_ids == {"p1"}

    @pytest.mark.parametrize("change", ["rule", "suspended", "anchor", "timezone", "closed"])
    def test_it_is_refused_once_a_copy_no_longer_holds(self, table, change: str) -> None:
        rule, sub = self.setup_rule()
        key = Subaccount(sub.PK, sub.SK)
        agency_key = Agency(sub.PK, keys.AGENCY_SK)
        if change == "rule":
            saved(rule.agency_id, rule.subaccount_id)
        elif change == "suspended":
            key.update(actions=[Subaccount.status.set("suspended")])
        elif change == "anchor":
            key.update(actions=[Subaccount.subscription_start.set("2026-02-20")])
        elif change == "timezone":
            agency_key.update(actions=[Agency.timezone.set("Europe/Paris")])
        else:
            agency_key.update(actions=[Agency.status.set("closed")])
        with pytest.raises(Conflict) as refused:
            commit(rules.guard_pending(rule, STALE)(self.mark(sub)))
        assert refused.value is STALE
        assert sub_stored(sub).pending_purchase_ids is None

    def test_it_needs_an_op_on_the_subaccount(self, table) -> None:
        rule, _ = self.setup_rule()
        with pytest.raises(ValueError):
            rules.guard_pending(rule, STALE)([])

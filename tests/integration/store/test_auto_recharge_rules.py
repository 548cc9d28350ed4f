"""The auto-recharge rule repository against DynamoDB (moto): one top-up claimed at a time,
the month's spend reserved as read, the due mark set by a crossing and cleared once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.store import auto_recharge_rules as rules
from chalicelib.store.accounts import Agency
from chalicelib.store.auto_recharge_rules import AutoRechargeRule
from chalicelib.store.transact import ConditionFailed, commit
from tests.integration.store.support import new_agency

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
CHANGED = Conflict("changed", code="concurrent_update")


def saved(sid: str = "sub_1", *, tier: str = "basic", enabled: bool = True,
          at: datetime = AT) -> AutoRechargeRule:
    existing = rules.get("agy_1", sid, tier)
    rule = rules.new(agency_id="agy_1", subaccount_id=sid, tier=tier, threshold_seconds=600,
                     recharge_minutes=30, enabled=enabled, monthly_cap_micros=50_000_000,
                     existing=existing, at=at)
    commit([rules.replace_op(rule, existing, CHANGED)])
    return stored(sid, tier)


def stored(sid: str = "sub_1", tier: str = "basic") -> AutoRechargeRule:
    found = rules.get("agy_1", sid, tier)
    assert found is not None
    return found


def due_at(moment: datetime) -> set[str]:
    return {f"{rule.subaccount_id}:{rule.tier}" for rule in rules.due(moment)}


def claimed(rule: AutoRechargeRule, purchase_id: str, spent: int = 1_000_000) -> None:
    commit([rules.claim_op(rule, purchase_id=purchase_id, charge_micros=1_000_000,
                           month="2026-03", month_spent_micros=spent)])


class TestSaving:
    def test_one_rule_per_tier_and_a_stale_save_is_refused(self, table) -> None:
        first = saved()
        saved(tier="premium")
        assert {stored().tier, stored(tier="premium").tier} == {"basic", "premium"}
        saved(at=AT + timedelta(seconds=1))  # another request won
        late = rules.new(agency_id="agy_1", subaccount_id="sub_1", tier="basic",
                         threshold_seconds=60, recharge_minutes=5, enabled=True,
                         monthly_cap_micros=None, existing=first, at=AT + timedelta(seconds=2))
        with pytest.raises(Conflict) as refused:
            commit([rules.replace_op(late, first, CHANGED)])
        assert refused.value is CHANGED
        with pytest.raises(Conflict):
            commit([rules.replace_op(late, None, CHANGED)])
        assert stored().threshold_seconds == 600

    def test_a_new_save_keeps_the_claim_the_spend_and_the_due_mark(self, table) -> None:
        rule = saved()
        commit([rules.mark_due_op(rule, AT, CHANGED)])
        claimed(stored(), "rch_1", spent=7_000_000)
        commit([rules.mark_due_op(stored(), AT, CHANGED)])
        again = saved(at=AT + timedelta(minutes=1))
        assert (again.in_flight, again.in_flight_micros, again.month, again.month_spent_micros,
                again.last_purchase_id, again.recharge_due) == (
            "rch_1", 1_000_000, "2026-03", 7_000_000, "rch_1", True)

    def test_deleting_removes_the_rule(self, table) -> None:
        commit([rules.delete_op(saved())])
        assert rules.get("agy_1", "sub_1", "basic") is None


class TestDueMark:
    def test_a_crossing_marks_the_rule_due_unless_it_changed(self, table) -> None:
        read = saved()
        assert read.recharge_due is False
        commit([rules.mark_due_op(read, AT, CHANGED)])
        assert stored().recharge_due is True
        assert due_at(AT - timedelta(seconds=1)) == set()
        assert due_at(AT) == {"sub_1:basic"}
        saved(at=AT + timedelta(seconds=1))  # edited since ``read``
        with pytest.raises(Conflict) as refused:
            commit([rules.mark_due_op(read, AT, CHANGED)])
        assert refused.value is CHANGED

    def test_a_disabled_rule_is_never_marked(self, table) -> None:
        with pytest.raises(Conflict):
            commit([rules.mark_due_op(saved(enabled=False), AT, CHANGED)])
        assert stored().recharge_due is False

    def test_clearing_drops_the_mark_read_but_not_a_newer_one(self, table) -> None:
        commit([rules.mark_due_op(saved(), AT, CHANGED)])
        read = stored()
        commit([rules.mark_due_op(read, AT + timedelta(minutes=5), CHANGED)])  # newer
        with pytest.raises(ConditionFailed):
            commit([rules.clear_due_op(read)])
        commit([rules.clear_due_op(stored())])
        assert stored().recharge_due is False
        assert due_at(AT + timedelta(days=1)) == set()


class TestClaims:
    def test_one_top_up_claims_the_rule_and_clears_its_due_mark(self, table) -> None:
        commit([rules.mark_due_op(saved(), AT, CHANGED)])
        read = stored()
        claimed(read, "rch_1")
        rule = stored()
        assert (rule.in_flight, rule.month_spent_micros, rule.last_purchase_id,
                rule.recharge_due) == ("rch_1", 1_000_000, "rch_1", False)
        with pytest.raises(ConditionFailed):  # a concurrent debit read the same rule
            claimed(read, "rch_2")

    def test_a_claim_read_before_it_was_released_is_refused(self, table) -> None:
        claimed(saved(), "rch_1")
        stale = stored()  # claimed by rch_1, spend unchanged from here on
        commit([rules.release_op(stale, "rch_1")])
        with pytest.raises(ConditionFailed):
            claimed(stale, "rch_2", spent=2_000_000)
        assert stored().in_flight is None

    def test_a_success_releases_only_its_own_claim(self, table) -> None:
        claimed(saved(), "rch_1")
        with pytest.raises(ConditionFailed):
            commit([rules.release_op(stored(), "rch_other")])
        commit([rules.release_op(stored(), "rch_1")])
        rule = stored()
        assert (rule.in_flight, rule.in_flight_micros, rule.failures,
                rule.month_spent_micros) == (None, None, 0, 1_000_000)

    def test_a_failed_top_up_releases_its_claim_and_its_reservation(self, table) -> None:
        claimed(saved(), "rch_1")
        with pytest.raises(ConditionFailed):
            commit([rules.failure_op(stored(), code="card_declined", at=AT,
                                     failed_purchase_id="rch_other",
                                     unreserve_micros=1_000_000)])
        commit([rules.failure_op(stored(), code="card_declined", at=AT,
                                 failed_purchase_id="rch_1", unreserve_micros=1_000_000)])
        rule = stored()
        assert (rule.in_flight, rule.month_spent_micros, rule.failures,
                rule.last_failure_code, rule.last_failure_at) == (
            None, 0, 1, "card_declined", AT)

    def test_a_failure_before_any_charge_needs_the_rule_to_exist(self, table) -> None:
        read = saved()
        commit([rules.failure_op(read, code="no_payment_method", at=AT)])
        assert (stored().failures, stored().last_failure_code) == (1, "no_payment_method")
        commit([rules.delete_op(read)])
        with pytest.raises(ConditionFailed):
            commit([rules.failure_op(read, code="no_payment_method", at=AT)])
        assert rules.get("agy_1", "sub_1", "basic") is None


class TestSettings:
    def test_the_agency_and_the_tiers_rule_come_in_one_read(self, table) -> None:
        created = new_agency()
        agency_id, sid = created.agency.agency_id, created.primary.subaccount_id
        found = rules.read_settings(agency_id, sid, "basic")
        assert [type(item) for item in found] == [Agency]
        rule = rules.new(agency_id=agency_id, subaccount_id=sid, tier="basic",
                         threshold_seconds=60, recharge_minutes=5, enabled=True,
                         monthly_cap_micros=None, existing=None, at=AT)
        commit([rules.replace_op(rule, None, CHANGED)])
        found = rules.read_settings(agency_id, sid, "basic")
        assert sorted(type(item).__name__ for item in found) == ["Agency", "AutoRechargeRule"]
        assert rules.read_settings(agency_id, sid, "premium")[0].agency_id == agency_id

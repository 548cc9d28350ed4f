"""The sub-account repository against DynamoDB (moto): reads, the conditions that refuse,
pagination, and the due index of unfinished suspension batches."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.errors import Conflict, MalformedRequest, NotFound, SubaccountSuspended
from chalicelib.services.ports import now
from chalicelib.store import subaccounts
from chalicelib.store.subaccounts import (
    PAUSE,
    REACTIVATE,
    Subaccount,
    SubaccountChanged,
    WorkReplaced,
)
from chalicelib.store.transact import commit, update
from tests.integration.store.support import add_subaccount, new_agency, stored


@pytest.fixture
def agency(table: None):
    return new_agency()


def _suspend(sub, *, at=None, suspension_id: str = "susp_1"):
    at = at or now()
    op, written = subaccounts.suspend_op(sub, suspension_id=suspension_id, at=at, by="usr_1",
                                         note="Invoice overdue", due_at=at + timedelta(minutes=2))
    commit([op])
    return written


class TestCreate:
    def test_a_created_sub_account_is_found_with_what_was_given(self, agency) -> None:
        sub = add_subaccount(agency, "Acme")
        found = stored(sub)
        assert (found.name, found.status, found.price_version, found.is_primary) == (
            "Acme", "active", 1, False)
        assert (found.price_basic, found.price_premium) == (150_000, 250_000)
        assert found.subscription_start == "2026-02-15"

    def test_an_unknown_id_is_none(self, agency) -> None:
        assert subaccounts.find(agency.agency.agency_id, "sub_never") is None

    def test_the_slot_counter_refuses_past_the_cap(self, agency) -> None:
        add_subaccount(agency, cap=2)
        add_subaccount(agency, cap=2)
        with pytest.raises(Conflict) as refused:
            add_subaccount(agency, cap=2)
        assert refused.value.code == "plan_limit_reached"
        assert refused.value.details == {"plan": "agency_pro", "cap": 2}
        assert len(subaccounts.live_of(agency.agency.agency_id)) == 3  # primary + 2

    def test_a_plan_read_before_a_change_is_refused(self, agency) -> None:
        sub = subaccounts.new(agency_id=agency.agency.agency_id, subaccount_id="sub_late",
                              name="Late", login_email="late@x.test", price_basic=150_000,
                              price_premium=250_000, subscription_start=now().date(), at=now())
        with pytest.raises(Conflict) as refused:
            commit(subaccounts.create_ops(sub, plan="agency_lite", cap=10))
        assert refused.value.code == "concurrent_update"
        assert subaccounts.find(agency.agency.agency_id, "sub_late") is None

    def test_a_freed_slot_is_taken_again_but_the_counter_never_goes_below_zero(
            self, agency) -> None:
        add_subaccount(agency, cap=1)
        commit([subaccounts.free_slot_op(agency.agency.agency_id)])
        add_subaccount(agency, cap=1)
        commit([subaccounts.free_slot_op(agency.agency.agency_id)])
        with pytest.raises(Conflict) as refused:
            commit([subaccounts.free_slot_op(agency.agency.agency_id)])
        assert refused.value.code == "slot_counter_inconsistent"


class TestListing:
    def test_pages_follow_one_another_and_leave_removed_ones_out(self, agency) -> None:
        aid = agency.agency.agency_id
        created = [add_subaccount(agency, f"Client {n}") for n in range(4)]
        commit([subaccounts.remove_op(created[0], at=now())])
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            page, cursor = subaccounts.page_of(aid, limit=2, cursor=cursor)
            seen += [sub.subaccount_id for sub in page]
            if cursor is None:
                break
        expected = {agency.primary.subaccount_id, *(s.subaccount_id for s in created[1:])}
        assert set(seen) == expected and len(seen) == len(expected)

    def test_a_cursor_of_another_agency_is_refused(self, agency) -> None:
        add_subaccount(agency)
        add_subaccount(agency)
        _, cursor = subaccounts.page_of(agency.agency.agency_id, limit=1, cursor=None)
        assert cursor is not None
        other = new_agency()
        with pytest.raises(MalformedRequest) as refused:
            subaccounts.page_of(other.agency.agency_id, limit=1, cursor=cursor)
        assert refused.value.code == "invalid_cursor"

    def test_live_ones_are_active_or_suspended(self, agency) -> None:
        suspended, removed = add_subaccount(agency), add_subaccount(agency)
        _suspend(suspended)
        commit([subaccounts.remove_op(removed, at=now())])
        live = {sub.subaccount_id: sub.status
                for sub in subaccounts.live_of(agency.agency.agency_id)}
        assert live == {agency.primary.subaccount_id: "active",
                        suspended.subaccount_id: "suspended"}


class TestEdit:
    def test_an_edit_applies_and_bumps_the_price_version(self, agency) -> None:
        sub = add_subaccount(agency)
        commit([subaccounts.update_op(sub, name="Renamed", login_email="new@x.test",
                                      prices=(160_000, 260_000))])
        found = stored(sub)
        assert (found.name, found.login_email, found.price_version) == (
            "Renamed", "new@x.test", 2)
        assert (found.price_basic, found.price_premium) == (160_000, 260_000)

    def test_an_edit_of_what_changed_meanwhile_is_refused(self, agency) -> None:
        sub = add_subaccount(agency)
        commit([subaccounts.update_op(sub, prices=(160_000, 260_000))])
        with pytest.raises(SubaccountChanged):
            commit([subaccounts.update_op(sub, name="Stale")])  # read at price version 1
        assert stored(sub).name == "Client"

    def test_a_removed_sub_account_is_not_edited(self, agency) -> None:
        sub = add_subaccount(agency)
        commit([subaccounts.remove_op(sub, at=now())])
        with pytest.raises(SubaccountChanged):
            commit([subaccounts.update_op(sub, name="Ghost")])


class TestResourceWrites:
    def test_a_resource_write_bumps_the_generation(self, agency) -> None:
        sub = add_subaccount(agency)
        commit([subaccounts.resource_write_op(sub, refused_while_suspended=True)])
        assert stored(sub).resource_generation == 1

    def test_its_own_users_are_refused_once_it_is_suspended_staff_are_not(
            self, agency) -> None:
        sub = add_subaccount(agency)
        _suspend(sub)
        with pytest.raises(SubaccountSuspended):
            commit([subaccounts.resource_write_op(sub, refused_while_suspended=True)])
        commit([subaccounts.resource_write_op(sub, refused_while_suspended=False)])
        assert stored(sub).resource_generation == 1

    def test_nobody_writes_resources_of_a_removed_sub_account(self, agency) -> None:
        sub = add_subaccount(agency)
        commit([subaccounts.remove_op(sub, at=now())])
        with pytest.raises(NotFound):
            commit([subaccounts.resource_write_op(sub, refused_while_suspended=False)])


class TestSuspension:
    def test_the_flip_writes_what_it_says(self, agency) -> None:
        sub = add_subaccount(agency)
        written = _suspend(sub)
        found = stored(sub)
        for name in ("status", "suspended_at", "suspended_by", "suspension_note",
                     "suspension_id", "resource_work"):
            assert getattr(found, name) == getattr(written, name), name
        assert (found.status, found.resource_work) == ("suspended", PAUSE)
        assert sub.status == "active"  # what was read stays as read

    def test_a_second_suspension_is_refused(self, agency) -> None:
        sub = add_subaccount(agency)
        _suspend(sub)
        with pytest.raises(SubaccountChanged):
            _suspend(sub, suspension_id="susp_2")

    def test_the_work_is_due_for_the_job_after_the_grace_and_gone_once_done(
            self, agency) -> None:
        sub = add_subaccount(agency)
        at = now()
        written = _suspend(sub, at=at)

        def due(moment) -> set[str]:
            return {item.subaccount_id for item in subaccounts.with_work_due(moment)}

        assert sub.subaccount_id not in due(at + timedelta(minutes=1))
        assert sub.subaccount_id in due(at + timedelta(minutes=3))
        commit([subaccounts.work_done_op(written)])
        assert sub.subaccount_id not in due(at + timedelta(minutes=3))
        assert stored(sub).resource_work is None

    def test_a_restore_replaces_the_suspensions_work(self, agency) -> None:
        sub = add_subaccount(agency)
        suspended = _suspend(sub)
        op, restored = subaccounts.restore_op(suspended, due_at=now())
        commit([op])
        assert (stored(sub).status, stored(sub).resource_work) == ("active", REACTIVATE)
        assert restored.resource_work == REACTIVATE
        with pytest.raises(WorkReplaced):
            commit([subaccounts.work_guard(suspended)])
        with pytest.raises(WorkReplaced):
            commit([subaccounts.work_done_op(suspended)])
        commit([subaccounts.work_guard(restored)])

    def test_a_restore_of_another_suspension_is_refused(self, agency) -> None:
        sub = add_subaccount(agency)
        first = _suspend(sub)
        op, _ = subaccounts.restore_op(first, due_at=now())
        commit([op])
        _suspend(stored(sub), suspension_id="susp_2")
        stale, _ = subaccounts.restore_op(first, due_at=now())
        with pytest.raises(SubaccountChanged):
            commit([stale])

    def test_a_meaningless_due_mark_is_dropped_unless_the_sub_account_moved_on(
            self, agency) -> None:
        sub = add_subaccount(agency)
        suspended = _suspend(sub)
        commit([subaccounts.remove_op(stored(sub), at=now())])
        with pytest.raises(WorkReplaced):  # read while suspended: it is removed now
            commit([subaccounts.drop_work_op(suspended)])
        commit([subaccounts.drop_work_op(stored(sub))])
        found = stored(sub)
        assert (found.resource_work, found.DUEPK) == (None, None)


class TestRemoval:
    def test_removal_refuses_what_changed_since_it_read(self, agency) -> None:
        sub = add_subaccount(agency)
        commit([subaccounts.resource_write_op(sub, refused_while_suspended=False)])
        with pytest.raises(SubaccountChanged):  # a resource was written since
            commit([subaccounts.remove_op(sub, at=now())])
        fresh = stored(sub)
        commit([subaccounts.update_op(fresh, prices=(170_000, 270_000))])
        with pytest.raises(SubaccountChanged):  # and re-priced
            commit([subaccounts.remove_op(fresh, at=now())])
        commit([subaccounts.remove_op(stored(sub), at=now())])
        assert stored(sub).status == "removed"

    def test_removal_waits_for_a_charge_in_flight(self, agency) -> None:
        sub = add_subaccount(agency)
        commit([update(Subaccount(sub.PK, sub.SK),
                       actions=[Subaccount.pending_purchase_ids.add({"pur_1"})])])
        with pytest.raises(SubaccountChanged):
            commit([subaccounts.remove_op(stored(sub), at=now())])
        assert stored(sub).status == "active"

    def test_a_destination_must_keep_its_prices(self, agency) -> None:
        destination = add_subaccount(agency)
        commit([subaccounts.destination_check(destination)])
        commit([subaccounts.update_op(destination, prices=(170_000, 270_000))])
        with pytest.raises(SubaccountChanged):
            commit([subaccounts.destination_check(destination)])

    def test_a_primary_from_before_the_generation_counter_can_be_guarded(
            self, agency) -> None:
        primary = agency.primary
        assert primary.resource_generation is None
        commit([subaccounts.remove_op(primary, at=now())])  # no counter yet counts as 0
        assert stored(primary).status == "removed"

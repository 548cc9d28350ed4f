"""``store.agencies`` against the emulator: creation, settings, ownership, closing."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.store import agencies, keys
from chalicelib.store.accounts import SlotCounter
from chalicelib.store.transact import ConditionFailed, commit
from tests.integration.store.identity_support import NOW, make_agency, new_id


class TestReading:
    def test_an_unknown_agency_is_none(self, table: None) -> None:
        assert agencies.get(new_id("agy")) is None
        assert agencies.with_slots_used(new_id("agy")) == (None, 0)

    def test_a_new_agency_reads_back_with_no_slot_used(self, table: None) -> None:
        agency, owner = make_agency()
        read = agencies.get(agency.agency_id)
        assert read is not None
        assert (read.name, read.status, read.owner_user_id) == ("Agency", "active",
                                                                 owner.user_id)
        found, used = agencies.with_slots_used(agency.agency_id)
        assert found is not None and found.agency_id == agency.agency_id
        assert used == 0

    def test_slots_used_follow_the_counter(self, table: None) -> None:
        agency, _ = make_agency()
        SlotCounter(keys.agency_pk(agency.agency_id), keys.SLOTS_SK, used=3).save()
        assert agencies.with_slots_used(agency.agency_id)[1] == 3


class TestCreation:
    def test_an_agency_id_is_never_written_twice(self, table: None) -> None:
        agency, owner = make_agency()
        primary = agencies.new_primary(agency, login_email=owner.email, price_basic=1,
                                       price_premium=1)
        with pytest.raises(ConditionFailed):
            commit(agencies.creation_ops(agency, primary, owner))


class TestSettings:
    def test_settings_change_only_what_is_given(self, table: None) -> None:
        agency, _ = make_agency()
        commit([agencies.change_settings(agency, agencies.SettingsChange(
            timezone="Europe/Paris", threshold_changed=True, threshold_seconds=600))])
        read = agencies.get(agency.agency_id)
        assert read is not None
        assert (read.name, read.plan, read.timezone, read.low_balance_threshold_seconds) == (
            "Agency", "agency_lite", "Europe/Paris", 600)
        commit([agencies.change_settings(agency, agencies.SettingsChange(
            threshold_changed=True, threshold_seconds=None))])
        read = agencies.get(agency.agency_id)
        assert read is not None and read.low_balance_threshold_seconds is None

    def test_a_closed_agency_refuses_settings_with_404(self, table: None) -> None:
        agency, owner = make_agency()
        commit([agencies.close(agency, by_user_id=owner.user_id, at=NOW, error=Conflict("x"))])
        with pytest.raises(NotFound):
            commit([agencies.change_settings(agency, agencies.SettingsChange(name="New"))])

    def test_a_plan_cap_below_the_slots_used_is_refused(self, table: None) -> None:
        agency, _ = make_agency()
        SlotCounter(keys.agency_pk(agency.agency_id), keys.SLOTS_SK, used=11).save()
        limit = Conflict("too many", code="plan_limit_reached")
        with pytest.raises(Conflict) as refused:
            commit([agencies.slots_within(agency.agency_id, 10, limit)])
        assert refused.value is limit
        commit([agencies.slots_within(agency.agency_id, 11, limit)])

    def test_with_plan_is_a_copy_that_writes_nothing(self, table: None) -> None:
        agency, _ = make_agency()
        copy = agencies.with_plan(agency, "partner_legacy")
        assert (copy.plan, copy.agency_id, copy.name) == ("partner_legacy", agency.agency_id,
                                                          agency.name)
        read = agencies.get(agency.agency_id)
        assert read is not None and read.plan == "agency_lite"


class TestOwnershipAndClosing:
    def test_only_the_current_owner_hands_the_agency_over(self, table: None) -> None:
        agency, owner = make_agency()
        stale = Conflict("stale", code="concurrent_update")
        with pytest.raises(Conflict):
            commit([agencies.transfer_owner(agency, from_user_id="usr_other",
                                            to_user_id="usr_new", error=stale)])
        commit([agencies.transfer_owner(agency, from_user_id=owner.user_id,
                                        to_user_id="usr_new", error=stale)])
        read = agencies.get(agency.agency_id)
        assert read is not None and read.owner_user_id == "usr_new"

    def test_closing_needs_the_owner_and_makes_the_agency_inactive(self, table: None) -> None:
        agency, owner = make_agency()
        not_owner = Conflict("not the owner")
        with pytest.raises(Conflict):
            commit([agencies.close(agency, by_user_id="usr_other", at=NOW, error=not_owner)])
        commit([agencies.check_active(agency.agency_id, Conflict("closed"))])
        commit([agencies.close(agency, by_user_id=owner.user_id, at=NOW, error=not_owner)])
        read = agencies.get(agency.agency_id)
        assert read is not None and (read.status, read.closed_at) == ("closed", NOW)
        closed = Conflict("closed", code="agency_closed")
        with pytest.raises(Conflict) as refused:
            commit([agencies.check_active(agency.agency_id, closed)])
        assert refused.value is closed

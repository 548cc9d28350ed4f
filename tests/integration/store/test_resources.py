"""The resource repository against DynamoDB (moto): reads by type, status and mark, the
conditions that refuse, pagination, and the phone-number claims of an agency."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from chalicelib.domain.errors import Conflict, MalformedRequest, NotFound
from chalicelib.services.ports import now
from chalicelib.store import resources
from chalicelib.store.resources import Resource, ResourceMoved
from chalicelib.store.transact import commit
from tests.integration.store.support import add_subaccount, new_agency


@pytest.fixture
def agency(table: None):
    return new_agency()


@pytest.fixture
def sub(agency):
    return add_subaccount(agency)


def _add(sub, kind: str = "campaign", status: str = "active", *, number: str | None = None,
         at=None) -> Resource:
    rid = f"pn_{number[1:]}" if number else f"{kind[:3]}_{uuid.uuid4().hex[:10]}"
    item = resources.new(agency_id=sub.agency_id, subaccount_id=sub.subaccount_id,
                         resource_type=kind, resource_id=rid,
                         name=None if number else f"{kind} {rid}", number=number,
                         status=status, at=at or now())
    commit([resources.add_op(item)])
    return item


def _stored(item: Resource) -> Resource | None:
    return resources.get_resource(item.agency_id, item.subaccount_id, item.type,
                                  item.resource_id)


class TestReads:
    def test_a_resource_is_read_back_and_an_absent_one_is_none(self, sub) -> None:
        item = _add(sub)
        found = _stored(item)
        assert found is not None and (found.name, found.status) == (item.name, "active")
        assert resources.get_resource(sub.agency_id, sub.subaccount_id, "campaign",
                                      "cmp_never") is None

    def test_reads_by_type_status_and_mark(self, sub) -> None:
        campaign, agent = _add(sub, "campaign"), _add(sub, "agent", "inactive")
        _add(sub, "phone_number", number="+14155550100")
        assert {i.resource_id for i in resources.all_resources(
            sub.agency_id, sub.subaccount_id, types=("campaign", "agent"))} == {
            campaign.resource_id, agent.resource_id}
        assert [i.resource_id for i in resources.resources_in_status(
            sub.agency_id, sub.subaccount_id, {"inactive"})] == [agent.resource_id]
        assert resources.marked_resources(sub.agency_id, sub.subaccount_id) == []
        commit([resources.pause_op(campaign, "paused", "susp_1", now())])
        assert [i.resource_id for i in resources.marked_resources(
            sub.agency_id, sub.subaccount_id)] == [campaign.resource_id]

    def test_pages_of_one_type_follow_one_another(self, sub) -> None:
        ids = {_add(sub, "agent").resource_id for _ in range(5)}
        _add(sub, "campaign")
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            page, cursor = resources.page_of(sub.agency_id, sub.subaccount_id, "agent",
                                             limit=2, cursor=cursor)
            seen += [item.resource_id for item in page]
            if cursor is None:
                break
        assert sorted(seen) == sorted(ids)

    def test_a_cursor_of_another_sub_account_is_refused(self, agency, sub) -> None:
        _add(sub, "agent"), _add(sub, "agent")
        other = add_subaccount(agency)
        _, cursor = resources.page_of(sub.agency_id, sub.subaccount_id, "agent", limit=1,
                                      cursor=None)
        with pytest.raises(MalformedRequest):
            resources.page_of(other.agency_id, other.subaccount_id, "agent", limit=1,
                              cursor=cursor)


class TestWrites:
    def test_the_same_number_twice_on_one_sub_account_is_refused(self, sub) -> None:
        _add(sub, "phone_number", number="+14155550101")
        with pytest.raises(Conflict) as refused:
            _add(sub, "phone_number", number="+14155550101")
        assert refused.value.code == "phone_number_exists"

    def test_a_persons_status_change_drops_the_suspension_mark(self, sub) -> None:
        item = _add(sub)
        commit([resources.pause_op(item, "paused", "susp_1", now())])
        marked = _stored(item)
        assert marked is not None and marked.suspension_mark == "susp_1"
        at = now()
        op, written = resources.set_status_op(marked, "active", at=at)
        commit([op])
        found = _stored(item)
        assert found is not None
        assert (found.status, found.suspension_mark, found.updated_at) == ("active", None, at)
        assert (written.status, written.suspension_mark) == ("active", None)

    def test_a_deleted_resource_is_not_changed_nor_deleted_again(self, sub) -> None:
        item = _add(sub)
        commit([resources.delete_op(item)])
        assert _stored(item) is None
        with pytest.raises(NotFound):
            commit([resources.set_status_op(item, "paused", at=now())[0]])
        with pytest.raises(NotFound):
            commit([resources.delete_op(item)])

    def test_removal_stops_only_what_it_read(self, sub) -> None:
        item = _add(sub)
        commit([resources.set_status_op(item, "paused", at=now())[0]])
        with pytest.raises(Conflict) as refused:
            commit([resources.stop_op(item, "paused", at=now())])  # read while active
        assert refused.value.code == "concurrent_update"


class TestSuspensionBatches:
    def test_what_people_switched_on_after_the_flip_is_not_paused(self, sub) -> None:
        flipped_at = now()
        started_later = _add(sub, at=flipped_at + timedelta(seconds=1))
        with pytest.raises(ResourceMoved):
            commit([resources.pause_op(started_later, "paused", "susp_1", flipped_at)])
        before = _add(sub, at=flipped_at - timedelta(seconds=1))
        commit([resources.set_status_op(before, "active", at=flipped_at + timedelta(seconds=1))
                [0]])
        with pytest.raises(ResourceMoved):
            commit([resources.pause_op(before, "paused", "susp_1", flipped_at)])

    def test_each_refusal_names_its_own_op(self, sub) -> None:
        flipped_at = now()
        items = [_add(sub, at=flipped_at - timedelta(seconds=1)) for _ in range(2)]
        ops = [resources.pause_op(item, "paused", "susp_1", flipped_at) for item in items]
        commit([resources.delete_op(items[1])])
        with pytest.raises(ResourceMoved) as refused:
            commit(ops)
        assert refused.value is ops[1].on_condition_failed
        assert refused.value is not ops[0].on_condition_failed

    def test_only_a_resource_still_paused_by_that_suspension_is_reactivated(self, sub) -> None:
        item = _add(sub)
        commit([resources.pause_op(item, "paused", "susp_1", now())])
        paused = _stored(item)
        assert paused is not None
        commit([resources.pause_op(paused, "paused", "susp_2", now())])  # marked again
        with pytest.raises(ResourceMoved):
            commit([resources.reactivate_op(paused, "active")])  # read with susp_1's mark
        again = _stored(item)
        assert again is not None
        commit([resources.reactivate_op(again, "active")])
        found = _stored(item)
        assert found is not None and (found.status, found.suspension_mark) == ("active", None)


class TestPhoneNumberClaims:
    def test_a_number_is_claimed_by_one_sub_account_of_the_agency(self, agency, sub) -> None:
        other = add_subaccount(agency)
        number = "+14155550102"
        commit([resources.claim_number_op(sub.agency_id, sub.subaccount_id, number)])
        assert resources.number_holder(sub.agency_id, number) == sub.subaccount_id
        with pytest.raises(Conflict) as refused:
            commit([resources.claim_number_op(other.agency_id, other.subaccount_id, number)])
        assert refused.value.code == "phone_number_in_use"
        assert other.subaccount_id not in str(refused.value.details)

    def test_another_agency_claims_the_same_number_freely(self, sub) -> None:
        number = "+14155550103"
        commit([resources.claim_number_op(sub.agency_id, sub.subaccount_id, number)])
        elsewhere = add_subaccount(new_agency())
        commit([resources.claim_number_op(elsewhere.agency_id, elsewhere.subaccount_id,
                                          number)])
        assert resources.number_holder(sub.agency_id, number) == sub.subaccount_id

    def test_a_stale_claim_is_taken_over_only_from_its_holder(self, agency, sub) -> None:
        other, third = add_subaccount(agency), add_subaccount(agency)
        number = "+14155550104"
        commit([resources.claim_number_op(sub.agency_id, sub.subaccount_id, number)])
        with pytest.raises(Conflict):
            commit([resources.claim_number_op(other.agency_id, other.subaccount_id, number,
                                              taking_over_from=third.subaccount_id)])
        commit([resources.claim_number_op(other.agency_id, other.subaccount_id, number,
                                          taking_over_from=sub.subaccount_id)])
        assert resources.number_holder(sub.agency_id, number) == other.subaccount_id

    def test_only_the_holder_gives_a_number_back(self, agency, sub) -> None:
        other = add_subaccount(agency)
        number = "+14155550105"
        commit([resources.release_number_op(sub.agency_id, sub.subaccount_id, number)])  # none
        commit([resources.claim_number_op(sub.agency_id, sub.subaccount_id, number)])
        with pytest.raises(Conflict):
            commit([resources.release_number_op(other.agency_id, other.subaccount_id, number)])
        commit([resources.release_number_op(sub.agency_id, sub.subaccount_id, number)])
        assert resources.number_holder(sub.agency_id, number) is None

"""``store.users`` against the emulator: reads, the users tab's pages, guarded changes."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import Conflict, MalformedRequest
from chalicelib.store import users
from chalicelib.store.transact import ConditionFailed, commit
from tests.integration.store.identity_support import make_agency, make_user, new_id


class TestReading:
    def test_an_unknown_user_is_none(self, table: None) -> None:
        agency, _ = make_agency()
        assert users.get(agency.agency_id, new_id("usr")) is None

    def test_a_user_of_another_agency_is_none(self, table: None) -> None:
        agency, _ = make_agency()
        other, _ = make_agency()
        user = make_user(agency)
        assert users.get(other.agency_id, user.user_id) is None
        read = users.get(agency.agency_id, user.user_id)
        assert read is not None and (read.email, read.status) == (user.email, "active")


class TestActivePages:
    def test_pages_list_every_active_user_once_and_no_removed_one(self, table: None) -> None:
        agency, owner = make_agency()
        active = {owner.user_id} | {make_user(agency).user_id for _ in range(4)}
        removed = make_user(agency, status="removed")
        seen: list[str] = []
        cursor = None
        for _ in range(5):
            page, cursor = users.active_page(agency.agency_id, limit=2, cursor=cursor)
            assert len(page) <= 2
            seen += [user.user_id for user in page]
            if cursor is None:
                break
        assert sorted(seen) == sorted(active)
        assert removed.user_id not in seen

    def test_a_cursor_of_another_agency_is_refused(self, table: None) -> None:
        agency, _ = make_agency()
        other, _ = make_agency()
        make_user(agency)
        _, cursor = users.active_page(agency.agency_id, limit=1, cursor=None)
        assert cursor is not None
        with pytest.raises(MalformedRequest):
            users.active_page(other.agency_id, limit=1, cursor=cursor)


class TestGuardedChanges:
    def test_a_user_id_is_never_written_twice(self, table: None) -> None:
        agency, _ = make_agency()
        user = make_user(agency)
        with pytest.raises(ConditionFailed):
            commit([users.insert(user)])

    def test_access_changes_only_from_the_role_read_and_end_sessions(self, table: None) -> None:
        agency, _ = make_agency()
        user = make_user(agency, role="subaccount_member")
        stale = Conflict("stale", code="concurrent_update")
        commit([users.change_access(user, role="subaccount_admin", access_all=False,
                                    subaccount_ids=["sub_1"], error=stale)])
        read = users.get(agency.agency_id, user.user_id)
        assert read is not None
        assert (read.role, read.access_all, read.subaccount_ids, read.token_generation) == (
            "subaccount_admin", False, ["sub_1"], 1)
        with pytest.raises(Conflict) as refused:  # ``user`` still says subaccount_member
            commit([users.change_access(user, role="agency_member", access_all=True,
                                        subaccount_ids=[], error=stale)])
        assert refused.value is stale

    def test_with_access_reads_as_the_committed_change(self, table: None) -> None:
        agency, _ = make_agency()
        user = make_user(agency, role="subaccount_member")
        commit([users.change_access(user, role="agency_admin", access_all=True,
                                    subaccount_ids=[], error=Conflict("x"))])
        copy = users.with_access(user, role="agency_admin", access_all=True, subaccount_ids=[])
        read = users.get(agency.agency_id, user.user_id)
        assert read is not None
        assert copy.attribute_values == read.attribute_values

    def test_the_owner_is_never_removed(self, table: None) -> None:
        agency, owner = make_agency()
        protected = Conflict("owner", code="concurrent_update")
        with pytest.raises(Conflict):
            commit([users.remove(owner, protected)])
        member = make_user(agency)
        commit([users.remove(member, protected)])
        read = users.get(agency.agency_id, member.user_id)
        assert read is not None and (read.status, read.token_generation) == ("removed", 1)
        with pytest.raises(Conflict):  # removing twice
            commit([users.remove(member, protected)])

    def test_a_role_is_handed_only_from_the_role_named(self, table: None) -> None:
        agency, owner = make_agency()
        admin = make_user(agency, role="agency_admin")
        stale = Conflict("stale")
        with pytest.raises(Conflict):
            commit([users.hand_role(admin, role="agency_owner", from_role="agency_member",
                                    error=stale)])
        commit([users.hand_role(owner, role="agency_admin", from_role="agency_owner",
                                error=stale),
                users.hand_role(admin, role="agency_owner", from_role="agency_admin",
                                error=stale)])
        new_owner = users.get(agency.agency_id, admin.user_id)
        old_owner = users.get(agency.agency_id, owner.user_id)
        assert new_owner is not None and old_owner is not None
        assert (new_owner.role, old_owner.role) == ("agency_owner", "agency_admin")

    def test_check_active_refuses_a_removed_user(self, table: None) -> None:
        agency, _ = make_agency()
        gone = Conflict("gone", code="invitation_not_found")
        member = make_user(agency)
        commit([users.check_active(agency.agency_id, member.user_id, gone)])
        removed = make_user(agency, status="removed")
        with pytest.raises(Conflict) as refused:
            commit([users.check_active(agency.agency_id, removed.user_id, gone)])
        assert refused.value is gone

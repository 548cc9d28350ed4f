"""The permission module against SPEC's role matrix, cell by cell (no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import Forbidden, NotFound
from chalicelib.domain.roles import (
    INVITABLE_ROLES,
    Action,
    Principal,
    Role,
    SubaccountRef,
    authorize,
    authorize_agency,
    can_see,
    may_assign_role,
    refuses_while_suspended,
)

OWNER, ADMIN, MEMBER = Role.AGENCY_OWNER, Role.AGENCY_ADMIN, Role.AGENCY_MEMBER
SUB_ADMIN, SUB_MEMBER = Role.SUBACCOUNT_ADMIN, Role.SUBACCOUNT_MEMBER
ALL_ROLES = (OWNER, ADMIN, MEMBER, SUB_ADMIN, SUB_MEMBER)

#: Agency-level rows of SPEC's matrix: the roles that may act.
AGENCY_MATRIX: dict[Action, set[Role]] = {
    Action.VIEW_AGENCY: {OWNER, ADMIN, MEMBER},  # SPEC: sub-account roles get 403
    Action.VIEW_OVERVIEW: {OWNER, ADMIN, MEMBER},
    Action.MANAGE_AGENCY: {OWNER, ADMIN},
    Action.TRANSFER_OWNERSHIP: {OWNER},
    Action.DELETE_AGENCY: {OWNER},
    Action.MANAGE_USERS: {OWNER, ADMIN},
    Action.READ_AUDIT_LOG: {OWNER, ADMIN},
    Action.CREATE_SUBACCOUNT: {OWNER, ADMIN},
}

#: Sub-account rows, on a secondary sub-account the user can see.
SUBACCOUNT_MATRIX: dict[Action, set[Role]] = {
    Action.VIEW_SUBACCOUNT: set(ALL_ROLES),
    Action.MANAGE_SUBACCOUNT: {OWNER, ADMIN},
    Action.MOVE_MINUTES: {OWNER, ADMIN, MEMBER},
    Action.MANAGE_AUTO_ALLOCATION: {OWNER, ADMIN},
    Action.READ_RESOURCES: set(ALL_ROLES),
    Action.WRITE_RESOURCES: {OWNER, ADMIN, MEMBER, SUB_ADMIN},
    Action.PAYMENTS: set(ALL_ROLES),
    Action.READ_REPORTS: set(ALL_ROLES),
}

SECONDARY = SubaccountRef("sub_client", "agy_a", is_primary=False)
OTHER_SECONDARY = SubaccountRef("sub_other", "agy_a", is_primary=False)
PRIMARY = SubaccountRef("sub_primary", "agy_a", is_primary=True)
FOREIGN = SubaccountRef("sub_foreign", "agy_b", is_primary=False)


def principal(role: Role, *, access_all: bool = True, ids: tuple[str, ...] = ()) -> Principal:
    """A user of agency A."""
    return Principal("usr_1", "agy_a", role, access_all=access_all, subaccount_ids=frozenset(ids))


CELLS = [(action, role) for action in AGENCY_MATRIX for role in ALL_ROLES]


class TestAgencyActions:
    @pytest.mark.parametrize(("action", "role"), CELLS)
    def test_matrix_cell(self, action: Action, role: Role) -> None:
        if role in AGENCY_MATRIX[action]:
            authorize_agency(principal(role), action)
        else:
            with pytest.raises(Forbidden):
                authorize_agency(principal(role), action)

    def test_every_agency_action_is_in_the_table(self) -> None:
        from chalicelib.domain.roles import _AGENCY_ACTIONS

        assert set(_AGENCY_ACTIONS) == set(AGENCY_MATRIX)


class TestSubaccountActions:
    @pytest.mark.parametrize(("action", "role"),
                             [(a, r) for a in SUBACCOUNT_MATRIX for r in ALL_ROLES])
    def test_matrix_cell_on_a_visible_secondary(self, action: Action, role: Role) -> None:
        if role in SUBACCOUNT_MATRIX[action]:
            authorize(principal(role), action, SECONDARY)
        else:
            with pytest.raises(Forbidden):
                authorize(principal(role), action, SECONDARY)

    @pytest.mark.parametrize("role", ALL_ROLES)
    @pytest.mark.parametrize("action", list(SUBACCOUNT_MATRIX))
    def test_another_agency_is_not_found_never_forbidden(self, role: Role,
                                                         action: Action) -> None:
        with pytest.raises(NotFound):
            authorize(principal(role), action, FOREIGN)


class TestVisibility:
    @pytest.mark.parametrize(("role", "sees_primary"), [
        (OWNER, True), (ADMIN, True), (MEMBER, True), (SUB_ADMIN, False), (SUB_MEMBER, False)])
    def test_primary_is_for_agency_staff_only(self, role: Role, sees_primary: bool) -> None:
        assert can_see(principal(role), PRIMARY) is sees_primary

    @pytest.mark.parametrize("role", [MEMBER, SUB_ADMIN, SUB_MEMBER])
    def test_specific_access_sees_only_the_granted(self, role: Role) -> None:
        user = principal(role, access_all=False, ids=("sub_client",))
        assert can_see(user, SECONDARY)
        assert not can_see(user, OTHER_SECONDARY)
        with pytest.raises(NotFound):
            authorize(user, Action.READ_REPORTS, OTHER_SECONDARY)

    @pytest.mark.parametrize("role", [OWNER, ADMIN])
    def test_managers_see_everything_whatever_the_access_list(self, role: Role) -> None:
        assert can_see(principal(role, access_all=False, ids=()), OTHER_SECONDARY)

    @given(role=st.sampled_from(ALL_ROLES), access_all=st.booleans(),
           ids=st.sets(st.sampled_from(["sub_client", "sub_other", "sub_foreign"])))
    def test_nobody_ever_sees_another_agency(self, role: Role, access_all: bool,
                                             ids: set[str]) -> None:
        assert not can_see(principal(role, access_all=access_all, ids=tuple(ids)), FOREIGN)


class TestRoleRules:
    def test_owner_is_never_assignable(self) -> None:
        assert Role.AGENCY_OWNER not in INVITABLE_ROLES
        assert {ADMIN, MEMBER, SUB_ADMIN, SUB_MEMBER} == INVITABLE_ROLES
        for role in ALL_ROLES:
            assert not may_assign_role(principal(role), OWNER)

    @pytest.mark.parametrize("assigner", ALL_ROLES)
    def test_only_managers_assign_roles(self, assigner: Role) -> None:
        expected = assigner in (OWNER, ADMIN)
        assert all(may_assign_role(principal(assigner), role) is expected
                   for role in INVITABLE_ROLES)

    @pytest.mark.parametrize("role", ALL_ROLES)
    def test_only_subaccount_users_are_stopped_by_a_suspension(self, role: Role) -> None:
        refused = refuses_while_suspended(principal(role), Action.WRITE_RESOURCES)
        assert refused is (role in (SUB_ADMIN, SUB_MEMBER))
        assert not refuses_while_suspended(principal(role), Action.READ_RESOURCES)

"""Sub-account roles are the agency's clients: no agency settings, only its name for branding.

SPEC "Users and roles": agency settings are "no" for Sub Admin and Sub Member; "They get 403
on ``GET /v1/agency`` (agency settings); ``GET /v1/me`` carries the agency's ``{id, name}``
for branding."
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.identity.support import Member, join
from tests.helpers import AgencyFixture, call, create_agency

AGENCY_NAME = "Brightline Voice"


def _client_of(client: Any, agency: AgencyFixture) -> str:
    """A secondary sub-account of the agency (the one sub-account users are granted)."""
    made = call(client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
        "name": "Dental clinic", "login_email": "clinic@clients.example.com",
        "prices": {"basic": "0.15", "premium": "0.25"}})
    assert made.status == 201, made.body
    return made.body["id"]


def _user(client: Any, agency: AgencyFixture, role: str, sid: str) -> Member:
    if role == "agency_admin":
        return join(client, agency.owner_token, role)
    return join(client, agency.owner_token, role, access="specific", subaccount_ids=[sid])


class TestSubaccountRolesAndAgencySettings:
    @pytest.mark.parametrize("role", ["subaccount_admin", "subaccount_member"])
    def test_subaccount_roles_get_403_on_agency_settings(self, app_client, role: str) -> None:
        agency = create_agency(app_client, name=AGENCY_NAME)
        user = _user(app_client, agency, role, _client_of(app_client, agency))
        answer = call(app_client, "GET", "/v1/agency", token=user.token)
        assert (answer.status, answer.error_code) == (403, "forbidden"), answer.body
        for field in ("plan", "subaccount_cap", "slots_used", "owner_user_id"):
            assert field not in str(answer.body), answer.body

    @pytest.mark.parametrize("role", ["agency_admin", "agency_member"])
    def test_agency_roles_still_read_agency_settings(self, app_client, role: str) -> None:
        agency = create_agency(app_client, name=AGENCY_NAME, plan="agency_lite")
        user = _user(app_client, agency, role, _client_of(app_client, agency))
        answer = call(app_client, "GET", "/v1/agency", token=user.token)
        assert answer.status == 200, answer.body
        assert (answer.body["id"], answer.body["name"], answer.body["plan"]) == (
            agency.agency_id, AGENCY_NAME, "agency_lite")


class TestMeCarriesTheAgencyForBranding:
    @pytest.mark.parametrize("role", ["agency_owner", "agency_admin", "agency_member",
                                      "subaccount_admin", "subaccount_member"])
    def test_me_carries_the_agency_id_and_name(self, app_client, role: str) -> None:
        agency = create_agency(app_client, name=AGENCY_NAME)
        token = (agency.owner_token if role == "agency_owner"
                 else _user(app_client, agency, role, _client_of(app_client, agency)).token)
        me = call(app_client, "GET", "/v1/me", token=token)
        assert me.status == 200, me.body
        assert me.body["agency"] == {"id": agency.agency_id, "name": AGENCY_NAME}
        assert me.body["agency_id"] == agency.agency_id

    def test_a_renamed_agency_shows_its_new_name_to_its_clients(self, app_client) -> None:
        agency = create_agency(app_client, name=AGENCY_NAME)
        client_user = _user(app_client, agency, "subaccount_member",
                            _client_of(app_client, agency))
        renamed = call(app_client, "PATCH", "/v1/agency", token=agency.owner_token,
                       body={"name": "Brightline AI"})
        assert renamed.status == 200, renamed.body
        me = call(app_client, "GET", "/v1/me", token=client_user.token)
        assert me.body["agency"] == {"id": agency.agency_id, "name": "Brightline AI"}

"""Creating an agency through the platform route, then signing in as its owner."""

from __future__ import annotations

from tests.helpers import call, create_agency


class TestCreateAgency:
    def test_platform_creates_agency_with_primary_and_owner(self, app_client) -> None:
        answer = call(app_client, "POST", "/v1/platform/agencies", platform=True, body={
            "name": "Acme", "owner_email": "Boss@Acme.example.com",
            "owner_password": "owner-password-1", "plan": "agency_lite",
            "subscription_start": "2026-01-31",
        })
        assert answer.status == 201
        assert answer.body["agency"]["plan"] == "agency_lite"
        assert answer.body["agency"]["subaccount_cap"] == 10
        assert answer.body["primary_subaccount"]["is_primary"] is True
        assert answer.body["primary_subaccount"]["prices"] == {"basic": "0.10", "premium": "0.16"}
        assert answer.body["owner"]["role"] == "agency_owner"
        assert answer.body["owner"]["email"] == "boss@acme.example.com"

    def test_without_platform_key_is_401(self, app_client) -> None:
        answer = call(app_client, "POST", "/v1/platform/agencies", token="nope", body={})
        assert answer.status == 401
        assert answer.error_code == "unauthenticated"

    def test_duplicate_owner_email_is_409_email_taken(self, app_client) -> None:
        body = {"name": "A", "owner_email": "dup@x.example.com", "owner_password": "password-123",
                "plan": "agency_pro", "subscription_start": "2026-01-01"}
        assert call(app_client, "POST", "/v1/platform/agencies", platform=True,
                    body=body).status == 201
        again = call(app_client, "POST", "/v1/platform/agencies", platform=True, body=body)
        assert again.status == 409
        assert again.error_code == "email_taken"

    def test_unknown_plan_is_422_and_malformed_json_is_400(self, app_client) -> None:
        bad_plan = call(app_client, "POST", "/v1/platform/agencies", platform=True, body={
            "name": "A", "owner_email": "p@x.example.com", "owner_password": "password-123",
            "plan": "gold", "subscription_start": "2026-01-01"})
        assert bad_plan.status == 422
        malformed = call(app_client, "POST", "/v1/platform/agencies", platform=True,
                         raw=b"{not json")
        assert malformed.status == 400
        assert malformed.error_code == "malformed_request"


class TestLogin:
    def test_owner_signs_in_and_sees_itself(self, app_client) -> None:
        agency = create_agency(app_client)
        me = call(app_client, "GET", "/v1/me", token=agency.owner_token)
        assert me.status == 200
        assert me.body["role"] == "agency_owner"
        assert me.body["agency_id"] == agency.agency_id
        assert me.body["accessible_subaccount_ids"] == [agency.primary_id]

    def test_wrong_password_and_unknown_email_answer_the_same_401(self, app_client) -> None:
        agency = create_agency(app_client)
        wrong = call(app_client, "POST", "/v1/auth/login",
                     body={"email": agency.owner_email, "password": "wrong-password"})
        unknown = call(app_client, "POST", "/v1/auth/login",
                       body={"email": "ghost@nowhere.example.com", "password": "wrong-password"})
        assert wrong.status == unknown.status == 401
        assert wrong.error_without_request_id == unknown.error_without_request_id

    def test_forged_token_is_401(self, app_client) -> None:
        assert call(app_client, "GET", "/v1/me", token="a.b.c").status == 401

"""The agency: settings, plan cap, ownership transfer, closing."""

from __future__ import annotations

from tests.e2e.identity.support import join
from tests.helpers import call, create_agency, login


def set_slots_used(agency_id: str, used: int) -> None:
    """Pretend ``used`` secondary sub-accounts exist (the counter their route maintains)."""
    from chalicelib.store import keys
    from chalicelib.store.accounts import SlotCounter

    SlotCounter(keys.agency_pk(agency_id), keys.SLOTS_SK, used=used).save()


class TestAgencySettings:
    def test_agency_roles_read_the_agency_with_cap_and_slots(self, app_client) -> None:
        agency = create_agency(app_client, plan="agency_lite")
        set_slots_used(agency.agency_id, 3)
        member = join(app_client, agency.owner_token, "agency_member")
        answer = call(app_client, "GET", "/v1/agency", token=member.token)
        assert answer.status == 200
        assert answer.body["id"] == agency.agency_id
        assert (answer.body["plan"], answer.body["subaccount_cap"], answer.body["slots_used"]) \
            == ("agency_lite", 10, 3)

    def test_admin_patches_name_timezone_threshold(self, app_client) -> None:
        agency = create_agency(app_client)
        admin = join(app_client, agency.owner_token, "agency_admin")
        answer = call(app_client, "PATCH", "/v1/agency", token=admin.token, body={
            "name": "Renamed", "timezone": "Europe/Paris",
            "low_balance_threshold_minutes": "12.5"})
        assert answer.status == 200
        assert answer.body["name"] == "Renamed"
        assert answer.body["timezone"] == "Europe/Paris"
        assert answer.body["low_balance_threshold_minutes"] == "12.50"
        cleared = call(app_client, "PATCH", "/v1/agency", token=admin.token,
                       body={"low_balance_threshold_minutes": None})
        assert cleared.body["low_balance_threshold_minutes"] is None
        assert cleared.body["name"] == "Renamed"

    def test_bad_settings_are_422_and_change_nothing(self, app_client) -> None:
        agency = create_agency(app_client)
        for body in ({"plan": "gold"}, {"timezone": "Mars/Base"}, {"name": ""},
                     {"name": None}, {"low_balance_threshold_minutes": 1.5},
                     {"low_balance_threshold_minutes": 2.0},
                     {"low_balance_threshold_minutes": "0.001"}, {}, {"owner": "x"},
                     {"name": "New", "plan": "gold"}):
            answer = call(app_client, "PATCH", "/v1/agency", token=agency.owner_token, body=body)
            assert answer.status == 422, body
        current = call(app_client, "GET", "/v1/agency", token=agency.owner_token).body
        assert (current["name"], current["plan"]) == ("Acme Agency", "agency_pro")

    def test_plan_below_slots_used_is_409_plan_limit_reached(self, app_client) -> None:
        agency = create_agency(app_client, plan="agency_pro")
        set_slots_used(agency.agency_id, 11)
        down = call(app_client, "PATCH", "/v1/agency", token=agency.owner_token,
                    body={"plan": "agency_lite"})
        assert (down.status, down.error_code) == (409, "plan_limit_reached")
        set_slots_used(agency.agency_id, 10)
        assert call(app_client, "PATCH", "/v1/agency", token=agency.owner_token,
                    body={"plan": "agency_lite"}).body["plan"] == "agency_lite"
        up = call(app_client, "PATCH", "/v1/agency", token=agency.owner_token,
                  body={"plan": "agency_unlimited"})
        assert (up.status, up.body["subaccount_cap"]) == (200, None)


class TestOwnershipTransfer:
    def test_owner_hands_over_and_becomes_agency_admin(self, app_client) -> None:
        agency = create_agency(app_client)
        member = join(app_client, agency.owner_token, "agency_member")
        answer = call(app_client, "POST", "/v1/agency/ownership-transfer",
                      token=agency.owner_token, body={"user_id": member.user_id})
        assert answer.status == 200
        assert answer.body["agency"]["owner_user_id"] == member.user_id
        assert answer.body["owner"]["role"] == "agency_owner"
        assert answer.body["previous_owner"]["role"] == "agency_admin"
        # SPEC "Sessions": the transfer ends both users' sessions; they sign in again.
        for token in (agency.owner_token, member.token):
            assert call(app_client, "GET", "/v1/me", token=token).status == 401
        old_owner = login(app_client, agency.owner_email, agency.owner_password)
        new_owner = login(app_client, member.email, member.password)
        assert call(app_client, "GET", "/v1/me", token=old_owner).body["role"] \
            == "agency_admin"
        assert call(app_client, "GET", "/v1/me", token=new_owner).body["role"] \
            == "agency_owner"
        roles = {u["id"]: u["role"] for u in call(app_client, "GET", "/v1/users",
                                                   token=new_owner).body["users"]}
        assert roles == {agency.owner_id: "agency_admin", member.user_id: "agency_owner"}
        # the former owner is now an admin: no second transfer, no closing
        again = call(app_client, "POST", "/v1/agency/ownership-transfer",
                     token=old_owner, body={"user_id": member.user_id})
        assert again.status == 403
        assert call(app_client, "DELETE", "/v1/agency", token=old_owner).status == 403
        # and the new owner is protected from the admin
        assert call(app_client, "DELETE", f"/v1/users/{member.user_id}",
                    token=old_owner).error_code == "owner_protected"

    def test_only_to_an_active_agency_staff_member_other_than_self(self, app_client) -> None:
        agency = create_agency(app_client)
        sub_user = join(app_client, agency.owner_token, "subaccount_admin")
        removed = join(app_client, agency.owner_token, "agency_admin")
        call(app_client, "DELETE", f"/v1/users/{removed.user_id}", token=agency.owner_token)
        cases = [(sub_user.user_id, 422), (agency.owner_id, 422), (removed.user_id, 404),
                 ("usr_ghost", 404)]
        for user_id, status in cases:
            answer = call(app_client, "POST", "/v1/agency/ownership-transfer",
                          token=agency.owner_token, body={"user_id": user_id})
            assert answer.status == status, (user_id, answer.body)
        assert call(app_client, "GET", "/v1/agency",
                    token=agency.owner_token).body["owner_user_id"] == agency.owner_id


class TestCloseAgency:
    def test_owner_closes_and_every_login_and_token_is_refused(self, app_client) -> None:
        agency = create_agency(app_client)
        admin = join(app_client, agency.owner_token, "agency_admin")
        assert call(app_client, "DELETE", "/v1/agency", token=admin.token).status == 403
        closed = call(app_client, "DELETE", "/v1/agency", token=agency.owner_token)
        assert closed.status == 204
        for token in (agency.owner_token, admin.token):
            assert call(app_client, "GET", "/v1/me", token=token).status == 401
        for email, password in ((agency.owner_email, agency.owner_password),
                                (admin.email, admin.password)):
            answer = call(app_client, "POST", "/v1/auth/login",
                          body={"email": email, "password": password})
            assert (answer.status, answer.error_code) == (401, "invalid_credentials")

    def test_other_agencies_keep_working(self, app_client) -> None:
        agency = create_agency(app_client)
        other = create_agency(app_client)
        call(app_client, "DELETE", "/v1/agency", token=agency.owner_token)
        assert login(app_client, other.owner_email, other.owner_password)


class TestBoundedReads:
    def test_get_agency_is_two_batch_reads(self, app_client, dynamodb_calls) -> None:
        agency = create_agency(app_client)
        dynamodb_calls.reset()
        assert call(app_client, "GET", "/v1/agency", token=agency.owner_token).status == 200
        assert dict(dynamodb_calls.calls) == {"BatchGetItem": 2}  # session + agency/slots

    def test_login_is_three_reads_and_four_throttle_writes(self, app_client,
                                                           dynamodb_calls) -> None:
        agency = create_agency(app_client)
        dynamodb_calls.reset()
        login(app_client, agency.owner_email, agency.owner_password)
        reads = sum(dynamodb_calls.calls[op] for op in ("GetItem", "BatchGetItem", "Query"))
        assert reads == 3  # the source IP's counter is read in the same BatchGetItem
        # the attempt is reserved before the password check, per email and per source IP;
        # the success clears the email's count and gives the address its attempt back
        writes = sum(dynamodb_calls.calls[op] for op in ("PutItem", "DeleteItem", "UpdateItem"))
        assert writes == 4
        assert dynamodb_calls.total == 7


class TestPlanChangeSchedulesIncludedMinutes:
    def test_moving_to_partner_legacy_schedules_the_plan_renewal(self, app_client) -> None:
        from chalicelib.store.payments import get_plan_renewal

        agency = create_agency(app_client, plan="agency_pro")
        assert get_plan_renewal(agency.agency_id) is None
        answer = call(app_client, "PATCH", "/v1/agency", token=agency.owner_token,
                      body={"plan": "partner_legacy"})
        assert answer.status == 200
        renewal = get_plan_renewal(agency.agency_id)
        assert renewal is not None
        assert renewal.DUESK is not None
        assert renewal.primary_subaccount_id == agency.primary_id

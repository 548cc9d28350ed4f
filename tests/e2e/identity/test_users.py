"""The users tab: list, change role/access, remove; the owner is out of reach; tenants apart."""

from __future__ import annotations

from tests.e2e.identity.support import (
    PASSWORD,
    accept,
    add_secondary_subaccount,
    fresh_email,
    invite,
    join,
    token_from_outbox,
)
from tests.helpers import call, create_agency, login


class TestListUsers:
    def test_lists_active_users_of_the_agency_only(self, app_client) -> None:
        agency = create_agency(app_client)
        other = create_agency(app_client)
        admin = join(app_client, agency.owner_token, "agency_admin")
        join(app_client, other.owner_token, "agency_member")
        listed = call(app_client, "GET", "/v1/users", token=admin.token)
        assert listed.status == 200
        assert {u["id"] for u in listed.body["users"]} == {agency.owner_id, admin.user_id}
        assert all("password" not in str(u) for u in listed.body["users"])
        assert listed.body["next_cursor"] is None

    def test_paginates(self, app_client) -> None:
        agency = create_agency(app_client)
        for _ in range(2):
            join(app_client, agency.owner_token, "agency_member")
        first = call(app_client, "GET", "/v1/users?limit=2", token=agency.owner_token)
        assert len(first.body["users"]) == 2 and first.body["next_cursor"]
        rest = call(app_client, "GET", f"/v1/users?limit=2&cursor={first.body['next_cursor']}",
                    token=agency.owner_token)
        ids = {u["id"] for u in first.body["users"] + rest.body["users"]}
        assert len(ids) == 3


class TestChangeUser:
    def test_admin_changes_a_member_to_a_subaccount_role_with_specific_access(
            self, app_client) -> None:
        agency = create_agency(app_client)
        sid = add_secondary_subaccount(agency.agency_id)
        admin = join(app_client, agency.owner_token, "agency_admin")
        member = join(app_client, agency.owner_token, "agency_member")
        changed = call(app_client, "PATCH", f"/v1/users/{member.user_id}", token=admin.token,
                       body={"role": "subaccount_member", "subaccount_access": "specific",
                             "subaccount_ids": [sid]})
        assert changed.status == 200
        assert changed.body["role"] == "subaccount_member"
        assert changed.body["subaccount_ids"] == [sid]
        # SPEC "Sessions": the change ends the member's sessions; signed in again, new role.
        assert call(app_client, "GET", "/v1/me", token=member.token).status == 401
        fresh = login(app_client, member.email, member.password)
        me = call(app_client, "GET", "/v1/me", token=fresh)
        assert me.body["role"] == "subaccount_member"
        assert me.body["accessible_subaccount_ids"] == [sid]
        back = call(app_client, "PATCH", f"/v1/users/{member.user_id}", token=admin.token,
                    body={"subaccount_access": "all"})
        assert (back.body["subaccount_access"], back.body["subaccount_ids"]) == ("all", [])

    def test_nobody_changes_the_owner_or_makes_an_owner(self, app_client) -> None:
        agency = create_agency(app_client)
        admin = join(app_client, agency.owner_token, "agency_admin")
        for token in (admin.token, agency.owner_token):
            answer = call(app_client, "PATCH", f"/v1/users/{agency.owner_id}", token=token,
                          body={"role": "agency_member"})
            assert (answer.status, answer.error_code) == (403, "owner_protected")
        promote = call(app_client, "PATCH", f"/v1/users/{admin.user_id}",
                       token=agency.owner_token, body={"role": "agency_owner"})
        assert promote.status == 422
        empty = call(app_client, "PATCH", f"/v1/users/{admin.user_id}",
                     token=agency.owner_token, body={})
        assert empty.status == 422
        bad_ids = call(app_client, "PATCH", f"/v1/users/{admin.user_id}",
                       token=agency.owner_token,
                       body={"role": "subaccount_admin", "subaccount_access": "specific",
                             "subaccount_ids": ["sub_ghost"]})
        assert bad_ids.status == 422
        me = call(app_client, "GET", "/v1/me", token=admin.token)
        assert me.body["role"] == "agency_admin"

    def test_role_change_is_audited_with_before_and_after(self, app_client) -> None:
        from chalicelib.store import keys
        from chalicelib.store.activity import AuditEvent

        agency = create_agency(app_client)
        member = join(app_client, agency.owner_token, "agency_member")
        call(app_client, "PATCH", f"/v1/users/{member.user_id}", token=agency.owner_token,
             body={"role": "agency_admin"})
        events = [e for e in AuditEvent.query(keys.audit_pk(agency.agency_id))
                  if e.action == "user.access_changed"]
        assert len(events) == 1
        assert events[0].before["role"] == "agency_member"
        assert events[0].after["role"] == "agency_admin"
        assert events[0].target == member.user_id


class TestRemoveUser:
    def test_removed_user_loses_tokens_and_login_and_the_email_is_free(self, app_client) -> None:
        agency = create_agency(app_client)
        admin = join(app_client, agency.owner_token, "agency_admin")
        member = join(app_client, agency.owner_token, "agency_member")
        removed = call(app_client, "DELETE", f"/v1/users/{member.user_id}", token=admin.token)
        assert removed.status == 204
        assert call(app_client, "GET", "/v1/me", token=member.token).status == 401
        relogin = call(app_client, "POST", "/v1/auth/login",
                       body={"email": member.email, "password": PASSWORD})
        assert relogin.status == 401
        listed = call(app_client, "GET", "/v1/users", token=admin.token).body["users"]
        assert member.user_id not in {u["id"] for u in listed}
        again = call(app_client, "DELETE", f"/v1/users/{member.user_id}", token=admin.token)
        assert (again.status, again.error_code) == (404, "user_not_found")
        assert invite(app_client, agency.owner_token, member.email, "agency_member").status \
            == 201
        rejoined = accept(app_client, token_from_outbox(app_client, member.email))
        assert rejoined.status == 200
        assert rejoined.body["user"]["id"] != member.user_id

    def test_the_owner_cannot_be_removed(self, app_client) -> None:
        agency = create_agency(app_client)
        admin = join(app_client, agency.owner_token, "agency_admin")
        for token in (admin.token, agency.owner_token):
            answer = call(app_client, "DELETE", f"/v1/users/{agency.owner_id}", token=token)
            assert (answer.status, answer.error_code) == (403, "owner_protected")
        assert call(app_client, "GET", "/v1/me", token=agency.owner_token).status == 200


class TestTenancy:
    def test_ids_of_another_agency_answer_404(self, app_client) -> None:
        agency = create_agency(app_client)
        other = create_agency(app_client)
        theirs = join(app_client, other.owner_token, "agency_member")
        email = fresh_email()
        their_invite = invite(app_client, other.owner_token, email, "agency_member").body["id"]
        attempts = [
            ("PATCH", f"/v1/users/{theirs.user_id}", {"role": "agency_admin"}),
            ("DELETE", f"/v1/users/{theirs.user_id}", None),
            ("DELETE", f"/v1/users/{other.owner_id}", None),
            ("POST", f"/v1/invitations/{their_invite}/resend", None),
            ("DELETE", f"/v1/invitations/{their_invite}", None),
            ("POST", "/v1/agency/ownership-transfer", {"user_id": theirs.user_id}),
        ]
        for method, path, body in attempts:
            answer = call(app_client, method, path, token=agency.owner_token, body=body)
            assert answer.status == 404, (method, path, answer.body)
        me = call(app_client, "GET", "/v1/me", token=theirs.token)
        assert me.body["role"] == "agency_member"
        assert accept(app_client, token_from_outbox(app_client, email)).status == 200

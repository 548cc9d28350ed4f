"""Issue 18, defects 8 and 9: sessions end when SPEC says, and a removed user's pending
invitations die with it.

SPEC "Sessions": ``POST /v1/auth/logout`` ends the caller's session at once (204). Removing a
user, changing its role or access, an ownership transfer and a password change end that
user's sessions: its next request answers 401. Session checks read strongly consistent.
SPEC "Invitations": removing a user revokes the invitations it sent that are still pending.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.e2e.identity.support import (
    accept,
    add_secondary_subaccount,
    fresh_email,
    invite,
    join,
    token_from_outbox,
)
from tests.helpers import call, create_agency, login


def me(client: Any, token: str) -> int:
    return call(client, "GET", "/v1/me", token=token).status


class TestLogout:
    def test_logout_ends_the_session_used_at_once(self, app_client: Any) -> None:
        agency = create_agency(app_client)
        laptop = agency.owner_token
        phone = login(app_client, agency.owner_email, agency.owner_password)
        out = call(app_client, "POST", "/v1/auth/logout", token=laptop)
        assert out.status == 204, out.body
        assert me(app_client, laptop) == 401
        again = call(app_client, "POST", "/v1/auth/logout", token=laptop)
        assert again.status == 401
        # Decision (README): logout ends the session used; the user's other sessions stay.
        assert me(app_client, phone) == 200
        assert me(app_client, login(app_client, agency.owner_email,
                                    agency.owner_password)) == 200

    def test_logout_needs_a_session(self, app_client: Any) -> None:
        assert call(app_client, "POST", "/v1/auth/logout").status == 401

    def test_logout_is_in_the_openapi_document(self, app_client: Any) -> None:
        document = call(app_client, "GET", "/v1/openapi.json").body
        operation = document["paths"]["/v1/auth/logout"]["post"]
        assert operation["security"] == [{"bearer": []}]
        assert "204" in operation["responses"]


class TestChangesEndSessions:
    def test_a_role_change_ends_the_users_sessions(self, app_client: Any) -> None:
        agency = create_agency(app_client)
        member = join(app_client, agency.owner_token, "agency_member")
        changed = call(app_client, "PATCH", f"/v1/users/{member.user_id}",
                       token=agency.owner_token, body={"role": "agency_admin"})
        assert changed.status == 200, changed.body
        assert me(app_client, member.token) == 401
        fresh = login(app_client, member.email, member.password)
        assert call(app_client, "GET", "/v1/me", token=fresh).body["role"] == "agency_admin"
        assert me(app_client, agency.owner_token) == 200  # the one who changed it stays in

    def test_an_access_change_ends_the_users_sessions(self, app_client: Any) -> None:
        agency = create_agency(app_client)
        first = add_secondary_subaccount(agency.agency_id, "First")
        second = add_secondary_subaccount(agency.agency_id, "Second")
        client_admin = join(app_client, agency.owner_token, "subaccount_admin",
                            access="specific", subaccount_ids=[first])
        changed = call(app_client, "PATCH", f"/v1/users/{client_admin.user_id}",
                       token=agency.owner_token,
                       body={"subaccount_access": "specific", "subaccount_ids": [second]})
        assert changed.status == 200, changed.body
        assert me(app_client, client_admin.token) == 401
        fresh = login(app_client, client_admin.email, client_admin.password)
        reach = call(app_client, "GET", "/v1/me", token=fresh).body
        assert reach["accessible_subaccount_ids"] == [second]

    def test_an_unchanged_patch_keeps_the_session(self, app_client: Any) -> None:
        agency = create_agency(app_client)
        member = join(app_client, agency.owner_token, "agency_member")
        same = call(app_client, "PATCH", f"/v1/users/{member.user_id}",
                    token=agency.owner_token, body={"role": "agency_member"})
        assert same.status == 200, same.body
        assert me(app_client, member.token) == 200

    def test_an_ownership_transfer_ends_both_users_sessions(self, app_client: Any) -> None:
        agency = create_agency(app_client)
        admin = join(app_client, agency.owner_token, "agency_admin")
        bystander = join(app_client, agency.owner_token, "agency_member")
        done = call(app_client, "POST", "/v1/agency/ownership-transfer",
                    token=agency.owner_token, body={"user_id": admin.user_id})
        assert done.status == 200, done.body
        assert me(app_client, agency.owner_token) == 401
        assert me(app_client, admin.token) == 401
        assert me(app_client, bystander.token) == 200
        new_owner = login(app_client, admin.email, admin.password)
        assert call(app_client, "GET", "/v1/me", token=new_owner).body["role"] == "agency_owner"
        old_owner = login(app_client, agency.owner_email, agency.owner_password)
        assert call(app_client, "GET", "/v1/me", token=old_owner).body["role"] == "agency_admin"


def test_session_checks_read_strongly_consistent(app_client: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Every DynamoDB read of sign-in and of the per-request session check is consistent."""
    from botocore.client import BaseClient

    agency = create_agency(app_client)
    reads: list[tuple[str, bool]] = []
    original = BaseClient._make_api_call
    me_thread = threading.get_ident()

    def recording(self: BaseClient, operation: str, params: dict) -> Any:
        if threading.get_ident() == me_thread:
            if operation == "GetItem":
                reads.append((operation, bool(params.get("ConsistentRead"))))
            elif operation == "BatchGetItem":
                for table in params["RequestItems"].values():
                    reads.append((operation, bool(table.get("ConsistentRead"))))
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    token = login(app_client, agency.owner_email, agency.owner_password)
    assert me(app_client, token) == 200
    assert call(app_client, "POST", "/v1/auth/logout", token=token).status == 204
    assert me(app_client, token) == 401
    assert reads, "the auth path reads something"
    assert all(consistent for _, consistent in reads), reads


class TestInvitationsOfARemovedUser:
    def test_removing_a_user_revokes_the_invitations_it_sent(self, app_client: Any) -> None:
        agency = create_agency(app_client)
        admin = join(app_client, agency.owner_token, "agency_admin")
        email = fresh_email("invitee")
        sent = invite(app_client, admin.token, email, "agency_member")
        assert sent.status == 201, sent.body
        owners = invite(app_client, agency.owner_token, fresh_email("kept"), "agency_member")
        assert owners.status == 201
        removed = call(app_client, "DELETE", f"/v1/users/{admin.user_id}",
                       token=agency.owner_token)
        assert removed.status == 204, removed.body
        answer = accept(app_client, token_from_outbox(app_client, email))
        assert (answer.status, answer.error_code) == (404, "invitation_not_found"), answer.body
        pending = call(app_client, "GET", "/v1/invitations", token=agency.owner_token).body
        ids = [i["id"] for i in pending["invitations"]]
        assert sent.body["id"] not in ids and owners.body["id"] in ids
        # The email is free again: the owner may invite that person itself.
        assert invite(app_client, agency.owner_token, email, "agency_member").status == 201

    def test_an_invitation_whose_inviter_is_gone_opens_nothing(self, app_client: Any) -> None:
        """Even if the revocation was cut short, accepting checks the inviter is active."""
        from chalicelib.store import keys
        from chalicelib.store.accounts import User

        agency = create_agency(app_client)
        admin = join(app_client, agency.owner_token, "agency_admin")
        email = fresh_email("orphan")
        assert invite(app_client, admin.token, email, "agency_member").status == 201
        user = User.get(keys.agency_pk(agency.agency_id), keys.user_sk(admin.user_id))
        user.update(actions=[User.status.set("removed")])  # removal without its revocations
        answer = accept(app_client, token_from_outbox(app_client, email))
        assert answer.status == 404, answer.body
        assert call(app_client, "POST", "/v1/auth/login",
                    body={"email": email, "password": "member-password-1"}).status == 401

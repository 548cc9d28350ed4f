"""Invitations through HTTP: invite → outbox → accept → login, and every way a token dies."""

from __future__ import annotations

from datetime import timedelta

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


class TestInviteAcceptLogin:
    def test_invitation_email_accept_and_login_end_to_end(self, app_client) -> None:
        agency = create_agency(app_client)
        email = fresh_email()
        invited = invite(app_client, agency.owner_token, email.upper(), "agency_member")
        assert invited.status == 201
        assert invited.body["email"] == email
        assert invited.body["status"] == "pending"
        assert invited.body["role"] == "agency_member"
        assert invited.body["invited_by"] == agency.owner_id
        assert set(invited.body) == {"id", "email", "role", "subaccount_access",
                                     "subaccount_ids", "status", "expires_at", "invited_by",
                                     "created_at"}

        outbox = call(app_client, "GET", f"/v1/platform/outbox?to={email}", platform=True)
        message = outbox.body["messages"][0]
        assert message["to"] == email
        assert "http://127.0.0.1:8080/accept-invite?token=" in message["body"]

        accepted = accept(app_client, token_from_outbox(app_client, email))
        assert accepted.status == 200
        assert accepted.body["token_type"] == "Bearer"
        assert accepted.body["user"]["email"] == email
        assert accepted.body["user"]["role"] == "agency_member"

        me = call(app_client, "GET", "/v1/me", token=accepted.body["access_token"])
        assert me.status == 200
        assert me.body["role"] == "agency_member"
        assert me.body["agency_id"] == agency.agency_id

        token = login(app_client, email, PASSWORD)
        assert call(app_client, "GET", "/v1/me", token=token).body["user"]["email"] == email
        assert call(app_client, "GET", "/v1/invitations",
                    token=agency.owner_token).body["invitations"] == []

    def test_token_is_stored_only_as_its_hash(self, app_client) -> None:
        from chalicelib.services.identity import hash_token
        from chalicelib.store.identity import get_invitation

        agency = create_agency(app_client)
        email = fresh_email()
        invitation_id = invite(app_client, agency.owner_token, email, "agency_admin").body["id"]
        token = token_from_outbox(app_client, email)
        stored = get_invitation(agency.agency_id, invitation_id)
        assert stored is not None
        assert stored.token_hash == hash_token(token)
        assert token not in str(stored.attribute_values)

    def test_specific_access_reaches_only_the_granted_subaccount(self, app_client) -> None:
        agency = create_agency(app_client)
        granted = add_secondary_subaccount(agency.agency_id, "Granted")
        add_secondary_subaccount(agency.agency_id, "Other")
        member = join(app_client, agency.owner_token, "subaccount_admin", access="specific",
                      subaccount_ids=[granted, granted])
        me = call(app_client, "GET", "/v1/me", token=member.token)
        assert me.body["subaccount_access"] == "specific"
        assert me.body["accessible_subaccount_ids"] == [granted]

    def test_post_users_is_an_invitation_too(self, app_client) -> None:
        agency = create_agency(app_client)
        email = fresh_email()
        answer = invite(app_client, agency.owner_token, email, "subaccount_member",
                        path="/v1/users")
        assert answer.status == 201
        assert answer.body["status"] == "pending"
        assert accept(app_client, token_from_outbox(app_client, email)).status == 200

    def test_accept_is_recorded_in_the_audit_log(self, app_client) -> None:
        from chalicelib.store import keys
        from chalicelib.store.activity import AuditEvent

        agency = create_agency(app_client)
        member = join(app_client, agency.owner_token, "agency_admin")
        actions = [(e.action, e.actor_user_id)
                   for e in AuditEvent.query(keys.audit_pk(agency.agency_id))]
        assert ("invitation.created", agency.owner_id) in actions
        assert ("invitation.accepted", member.user_id) in actions


class TestInvitationValidation:
    def test_email_of_a_user_or_pending_invite_anywhere_is_409(self, app_client) -> None:
        agency = create_agency(app_client)
        other = create_agency(app_client)
        owner_email = invite(app_client, agency.owner_token, agency.owner_email, "agency_member")
        assert owner_email.status == 409
        assert owner_email.error_code == "email_taken"
        email = fresh_email()
        assert invite(app_client, agency.owner_token, email, "agency_member").status == 201
        again = invite(app_client, agency.owner_token, email.title(), "agency_admin")
        assert (again.status, again.error_code) == (409, "email_taken")
        elsewhere = invite(app_client, other.owner_token, email, "agency_member")
        assert (elsewhere.status, elsewhere.error_code) == (409, "email_taken")
        other_owner = invite(app_client, agency.owner_token, other.owner_email, "agency_member")
        assert other_owner.error_code == "email_taken"

    def test_owner_role_and_unknown_roles_are_422(self, app_client) -> None:
        agency = create_agency(app_client)
        for role in ("agency_owner", "superuser", ""):
            answer = invite(app_client, agency.owner_token, fresh_email(), role)
            assert answer.status == 422, role

    def test_access_must_name_live_secondary_subaccounts(self, app_client) -> None:
        agency = create_agency(app_client)
        other = create_agency(app_client)
        foreign = add_secondary_subaccount(other.agency_id)
        for ids in ([], ["sub_nope"], [agency.primary_id], [foreign]):
            answer = invite(app_client, agency.owner_token, fresh_email(), "subaccount_member",
                            access="specific", subaccount_ids=ids)
            assert answer.status == 422, ids
        missing = invite(app_client, agency.owner_token, fresh_email(), "subaccount_member",
                         access=None)
        assert missing.status == 422
        extra = call(app_client, "POST", "/v1/invitations", token=agency.owner_token,
                     body={"email": fresh_email(), "role": "agency_member",
                           "subaccount_access": "all", "admin": True})
        assert extra.status == 422
        assert call(app_client, "GET", "/v1/invitations",
                    token=agency.owner_token).body["invitations"] == []

    def test_admin_access_is_always_all(self, app_client) -> None:
        agency = create_agency(app_client)
        answer = invite(app_client, agency.owner_token, fresh_email(), "agency_admin",
                        access="specific", subaccount_ids=["sub_whatever"])
        assert answer.status == 201
        assert (answer.body["subaccount_access"], answer.body["subaccount_ids"]) == ("all", [])

    def test_malformed_email_is_422(self, app_client) -> None:
        agency = create_agency(app_client)
        assert invite(app_client, agency.owner_token, "not-an-email", "agency_member").status \
            == 422


class TestTokenLifecycle:
    def test_unknown_token_is_404(self, app_client) -> None:
        create_agency(app_client)
        answer = accept(app_client, "made-up-token")
        assert (answer.status, answer.error_code) == (404, "invitation_not_found")

    def test_used_token_is_404_the_second_time(self, app_client) -> None:
        agency = create_agency(app_client)
        email = fresh_email()
        invite(app_client, agency.owner_token, email, "agency_member")
        token = token_from_outbox(app_client, email)
        assert accept(app_client, token).status == 200
        again = accept(app_client, token, "another-password-1")
        assert (again.status, again.error_code) == (404, "invitation_not_found")
        login(app_client, email, PASSWORD)  # the first password still holds

    def test_expired_token_is_410_and_listed_as_expired(self, app_client, clock) -> None:
        agency = create_agency(app_client)
        email = fresh_email()
        invite(app_client, agency.owner_token, email, "agency_member")
        token = token_from_outbox(app_client, email)
        clock.advance(timedelta(days=7, seconds=1))
        answer = accept(app_client, token)
        assert (answer.status, answer.error_code) == (410, "invitation_expired")
        listed = call(app_client, "GET", "/v1/invitations", token=agency.owner_token)
        assert [i["status"] for i in listed.body["invitations"]] == ["expired"]

    def test_token_still_valid_just_before_seven_days(self, app_client, clock) -> None:
        agency = create_agency(app_client)
        email = fresh_email()
        invite(app_client, agency.owner_token, email, "agency_member")
        clock.advance(timedelta(days=6, hours=23, minutes=59))
        assert accept(app_client, token_from_outbox(app_client, email)).status == 200

    def test_resend_kills_the_old_token_and_restarts_seven_days(self, app_client, clock) -> None:
        agency = create_agency(app_client)
        email = fresh_email()
        created = invite(app_client, agency.owner_token, email, "agency_member")
        old_token = token_from_outbox(app_client, email)
        clock.advance(timedelta(days=8))
        resent = call(app_client, "POST", f"/v1/invitations/{created.body['id']}/resend",
                      token=agency.owner_token)
        assert resent.status == 200
        assert resent.body["status"] == "pending"
        assert resent.body["expires_at"] > created.body["expires_at"]
        new_token = token_from_outbox(app_client, email)
        assert new_token != old_token
        dead = accept(app_client, old_token)
        assert (dead.status, dead.error_code) == (404, "invitation_not_found")
        clock.advance(timedelta(days=6))
        assert accept(app_client, new_token).status == 200

    def test_revoke_kills_the_token_and_frees_the_email(self, app_client) -> None:
        agency = create_agency(app_client)
        email = fresh_email()
        created = invite(app_client, agency.owner_token, email, "agency_member")
        token = token_from_outbox(app_client, email)
        revoked = call(app_client, "DELETE", f"/v1/invitations/{created.body['id']}",
                       token=agency.owner_token)
        assert revoked.status == 204
        assert accept(app_client, token).error_code == "invitation_not_found"
        twice = call(app_client, "DELETE", f"/v1/invitations/{created.body['id']}",
                     token=agency.owner_token)
        assert (twice.status, twice.error_code) == (409, "invitation_not_pending")
        resend = call(app_client, "POST", f"/v1/invitations/{created.body['id']}/resend",
                      token=agency.owner_token)
        assert resend.status == 409
        assert invite(app_client, agency.owner_token, email, "agency_admin").status == 201

    def test_short_password_is_422_and_the_invitation_stays_usable(self, app_client) -> None:
        agency = create_agency(app_client)
        email = fresh_email()
        invite(app_client, agency.owner_token, email, "agency_member")
        token = token_from_outbox(app_client, email)
        short = accept(app_client, token, "short")
        assert short.status == 422
        assert accept(app_client, token).status == 200

    def test_accepting_into_a_closed_agency_is_410(self, app_client) -> None:
        agency = create_agency(app_client)
        email = fresh_email()
        invite(app_client, agency.owner_token, email, "agency_member")
        assert call(app_client, "DELETE", "/v1/agency", token=agency.owner_token).status == 204
        answer = accept(app_client, token_from_outbox(app_client, email))
        assert (answer.status, answer.error_code) == (410, "agency_closed")


class TestPendingList:
    def test_pending_list_paginates_and_hides_accepted_and_revoked(self, app_client) -> None:
        agency = create_agency(app_client)
        emails = [fresh_email() for _ in range(5)]
        ids = [invite(app_client, agency.owner_token, e, "agency_member").body["id"]
               for e in emails]
        accept(app_client, token_from_outbox(app_client, emails[0]))
        call(app_client, "DELETE", f"/v1/invitations/{ids[1]}", token=agency.owner_token)
        first = call(app_client, "GET", "/v1/invitations?limit=2", token=agency.owner_token)
        assert first.status == 200
        assert len(first.body["invitations"]) == 2
        assert first.body["next_cursor"]
        second = call(app_client, "GET",
                      f"/v1/invitations?limit=2&cursor={first.body['next_cursor']}",
                      token=agency.owner_token)
        seen = [i["id"] for i in first.body["invitations"] + second.body["invitations"]]
        assert sorted(seen) == sorted(ids[2:])
        assert second.body["next_cursor"] is None

    def test_bad_limit_is_422_and_forged_cursor_is_400(self, app_client) -> None:
        agency = create_agency(app_client)
        assert call(app_client, "GET", "/v1/invitations?limit=0",
                    token=agency.owner_token).status == 422
        # SPEC section 3: cursors are opaque and signed; a changed one → 400.
        assert call(app_client, "GET", "/v1/invitations?cursor=garbage",
                    token=agency.owner_token).status == 400


class TestSubaccountLoginInvitation:
    """The interface the sub-account area calls when a sub-account has a login email."""

    def _invite_login(self, agency) -> tuple[str, str]:
        from chalicelib.services.identity import create_invitation_ops, send_invitation_email
        from chalicelib.store.transact import commit

        sid = add_secondary_subaccount(agency.agency_id)
        email = fresh_email("client")
        ops, invitation, token = create_invitation_ops(
            agency.agency_id, agency.owner_id, email, "subaccount_admin", False, [sid],
            claim_owner_type="subaccount_login")
        commit(ops)
        send_invitation_email(invitation, token)
        return sid, email

    def test_accepting_turns_the_login_claim_into_a_user(self, app_client) -> None:
        from chalicelib.store import keys
        from chalicelib.store.accounts import EmailClaim

        agency = create_agency(app_client)
        sid, email = self._invite_login(agency)
        claim = EmailClaim.get(keys.email_pk(email), "EMAIL")
        assert claim.owner_type == "subaccount_login"
        taken = invite(app_client, agency.owner_token, email, "agency_member")
        assert taken.error_code == "email_taken"
        accepted = accept(app_client, token_from_outbox(app_client, email))
        assert accepted.status == 200
        assert accepted.body["user"]["role"] == "subaccount_admin"
        assert accepted.body["user"]["subaccount_ids"] == [sid]
        assert EmailClaim.get(keys.email_pk(email), "EMAIL").owner_type == "user"
        login(app_client, email, PASSWORD)

    def test_revoking_releases_the_login_email(self, app_client) -> None:
        agency = create_agency(app_client)
        _, email = self._invite_login(agency)
        pending = call(app_client, "GET", "/v1/invitations", token=agency.owner_token)
        [invitation] = pending.body["invitations"]
        assert invitation["subaccount_access"] == "specific"
        assert call(app_client, "DELETE", f"/v1/invitations/{invitation['id']}",
                    token=agency.owner_token).status == 204
        assert invite(app_client, agency.owner_token, email, "subaccount_member").status == 201

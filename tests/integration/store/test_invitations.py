"""``store.invitations`` against the emulator: tokens by hash, the pending tab, and the
guarded resend, revoke and accept."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.store import invitations
from chalicelib.store.accounts import Agency
from chalicelib.store.identity import Invitation
from chalicelib.store.transact import commit
from tests.integration.store.identity_support import NOW, make_agency, new_id

LATER = NOW + timedelta(days=7)


def pending(agency: Agency, *, invited_by: str = "usr_inviter") -> Invitation:
    """A pending invitation of ``agency``, written."""
    invitation = invitations.new(
        agency_id=agency.agency_id, invitation_id=new_id("inv"), email="a@b.example.com",
        role="agency_member", access_all=True, subaccount_ids=[],
        token_hash=new_id("hash"), valid_until=LATER, invited_by=invited_by,
        claim_owner_type="invitation", created_at=NOW)
    commit(invitations.insert(invitation))
    return invitation


def stale() -> Conflict:
    return Conflict("stale", code="concurrent_update")


class TestReading:
    def test_an_invitation_and_its_token_read_back(self, table: None) -> None:
        agency, _ = make_agency()
        invitation = pending(agency)
        read = invitations.get(agency.agency_id, invitation.invitation_id)
        assert read is not None and (read.status, read.valid_until) == ("pending", LATER)
        token = invitations.token(invitation.token_hash)
        assert token is not None
        assert (token.agency_id, token.invitation_id) == (agency.agency_id,
                                                          invitation.invitation_id)
        assert token.expires_at == int(LATER.timestamp())  # the TTL: its expiry

    def test_unknown_ids_and_hashes_are_none(self, table: None) -> None:
        agency, _ = make_agency()
        assert invitations.get(agency.agency_id, new_id("inv")) is None
        assert invitations.get(agency.agency_id, "x" * 65) is None
        assert invitations.token(new_id("hash")) is None

    def test_with_agency_reads_both_in_one_go(self, table: None) -> None:
        agency, _ = make_agency()
        invitation = pending(agency)
        found, its_agency = invitations.with_agency(agency.agency_id, invitation.invitation_id)
        assert found is not None and found.invitation_id == invitation.invitation_id
        assert its_agency is not None and its_agency.agency_id == agency.agency_id
        assert invitations.with_agency(agency.agency_id, new_id("inv"))[0] is None


class TestPendingTab:
    def test_pages_hold_every_pending_invitation_once_in_key_order(self, table: None) -> None:
        agency, _ = make_agency()
        made = [pending(agency) for _ in range(5)]
        commit(invitations.revoke(made[1], at=NOW, error=stale()))
        seen: list[str] = []
        cursor = None
        for _ in range(5):
            page, cursor = invitations.pending_page(agency.agency_id, limit=2, cursor=cursor)
            seen += [invitation.invitation_id for invitation in page]
            if cursor is None:
                break
        expected = [i.invitation_id for i in made if i is not made[1]]
        assert seen == sorted(expected)  # by sort key: ``INVITE#<id>``

    def test_pending_sent_by_names_one_inviter(self, table: None) -> None:
        agency, _ = make_agency()
        mine = {pending(agency, invited_by="usr_a").invitation_id for _ in range(2)}
        pending(agency, invited_by="usr_b")
        assert {i.invitation_id for i in invitations.pending_sent_by(
            agency.agency_id, "usr_a")} == mine


class TestGuardedChanges:
    def test_a_resend_replaces_the_token_and_a_stale_one_is_refused(self, table: None) -> None:
        agency, _ = make_agency()
        invitation = pending(agency)
        new_hash, new_expiry = new_id("hash"), LATER + timedelta(days=1)
        commit(invitations.renew_token(invitation, token_hash=new_hash,
                                       valid_until=new_expiry, at=NOW, error=stale()))
        assert invitations.token(invitation.token_hash) is None
        assert invitations.token(new_hash) is not None
        read = invitations.get(agency.agency_id, invitation.invitation_id)
        copy = invitations.with_token(invitation, token_hash=new_hash, valid_until=new_expiry,
                                      at=NOW)
        assert read is not None and read.attribute_values == copy.attribute_values
        with pytest.raises(Conflict):  # ``invitation`` still carries the old hash
            commit(invitations.renew_token(invitation, token_hash=new_id("hash"),
                                           valid_until=new_expiry, at=NOW, error=stale()))

    def test_a_revoked_invitation_cannot_be_accepted(self, table: None) -> None:
        agency, _ = make_agency()
        invitation = pending(agency)
        commit(invitations.revoke(invitation, at=NOW, error=stale()))
        read = invitations.get(agency.agency_id, invitation.invitation_id)
        assert read is not None and (read.status, read.revoked_at) == ("revoked", NOW)
        assert invitations.token(invitation.token_hash) is None
        gone = NotFound("gone", code="invitation_not_found")
        with pytest.raises(NotFound) as refused:
            commit(invitations.accept(invitation, user_id="usr_1", at=NOW, error=gone))
        assert refused.value is gone

    def test_an_invitation_is_accepted_once(self, table: None) -> None:
        agency, _ = make_agency()
        invitation = pending(agency)
        gone = NotFound("gone", code="invitation_not_found")
        commit(invitations.accept(invitation, user_id="usr_1", at=NOW, error=gone))
        read = invitations.get(agency.agency_id, invitation.invitation_id)
        assert read is not None
        assert (read.status, read.accepted_user_id, read.accepted_at) == ("accepted", "usr_1",
                                                                          NOW)
        assert invitations.token(invitation.token_hash) is None
        with pytest.raises(NotFound):
            commit(invitations.accept(invitation, user_id="usr_2", at=NOW, error=gone))

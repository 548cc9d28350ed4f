"""What a sub-account's use cases read and write of its login (the email's claim, the login
user or invitation) and the removal's balance guard, against DynamoDB (moto)."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.domain.ledger import Asset, Code, LedgerTransaction, supply, transfer, wallet
from chalicelib.services.identity import SUBACCOUNT_LOGIN_CLAIM, create_invitation_ops
from chalicelib.services.ports import now
from chalicelib.store import subaccount_logins
from chalicelib.store.identity import get_invitation
from chalicelib.store.invitations import token as get_invitation_token
from chalicelib.store.ledger import post_transaction, read_balance
from chalicelib.store.removals import balance_unchanged
from chalicelib.store.subaccounts import SubaccountChanged
from chalicelib.store.transact import commit
from tests.integration.store.support import add_subaccount, new_agency


@pytest.fixture
def agency(table: None):
    return new_agency()


def _invite(agency, sid: str, email: str):
    ops, invitation, _token = create_invitation_ops(
        agency.agency.agency_id, agency.owner.user_id, email, "subaccount_admin", False, [sid],
        claim_owner_type=SUBACCOUNT_LOGIN_CLAIM)
    commit(ops)
    return invitation


class TestReads:
    def test_the_claim_and_the_user_behind_it(self, agency) -> None:
        claim = subaccount_logins.claim_of(agency.owner.email)
        assert claim is not None
        assert (claim.agency_id, claim.owner_type, claim.owner_id) == (
            agency.agency.agency_id, "user", agency.owner.user_id)
        user = subaccount_logins.user_of(agency.agency.agency_id, claim.owner_id)
        assert user is not None and user.email == agency.owner.email
        assert subaccount_logins.claim_of("nobody@x.test") is None
        assert subaccount_logins.user_of(agency.agency.agency_id, "usr_never") is None


class TestUserWrites:
    def test_a_claim_is_freed_only_while_its_holder_holds_it(self, agency) -> None:
        claim = subaccount_logins.claim_of(agency.owner.email)
        assert claim is not None
        stale = subaccount_logins.claim_of(agency.owner.email)
        assert stale is not None
        stale.owner_id = "usr_someone_else"  # as if read before the email changed hands
        with pytest.raises(SubaccountChanged):
            commit([subaccount_logins.release_claim_op(agency.owner.email, stale)])
        commit([subaccount_logins.release_claim_op(agency.owner.email, claim)])
        assert subaccount_logins.claim_of(agency.owner.email) is None

    def test_the_login_user_follows_a_new_email_once(self, agency) -> None:
        user = agency.owner
        commit([subaccount_logins.user_email_op(user, "moved@x.test")])
        moved = subaccount_logins.user_of(user.agency_id, user.user_id)
        assert moved is not None and moved.email == "moved@x.test"
        with pytest.raises(SubaccountChanged):  # read before the move
            commit([subaccount_logins.user_email_op(user, "again@x.test")])

    def test_an_ended_user_is_removed_and_its_tokens_die_once(self, agency) -> None:
        user = agency.owner
        commit([subaccount_logins.end_user_op(user)])
        ended = subaccount_logins.user_of(user.agency_id, user.user_id)
        assert ended is not None
        assert (ended.status, ended.token_generation) == ("removed", user.token_generation + 1)
        with pytest.raises(SubaccountChanged):
            commit([subaccount_logins.end_user_op(ended)])


class TestInvitationWrites:
    def test_a_pending_login_invitation_moves_to_a_new_email(self, agency) -> None:
        sub = add_subaccount(agency)
        invitation = _invite(agency, sub.subaccount_id, f"{uuid.uuid4().hex[:6]}@c.test")
        commit([subaccount_logins.invitation_email_op(invitation, "new@c.test")])
        found = get_invitation(agency.agency.agency_id, invitation.invitation_id)
        assert found is not None and found.email == "new@c.test"
        with pytest.raises(SubaccountChanged):
            commit([subaccount_logins.invitation_email_op(invitation, "other@c.test")])

    def test_revoking_kills_the_token_and_happens_once(self, agency) -> None:
        sub = add_subaccount(agency)
        invitation = _invite(agency, sub.subaccount_id, f"{uuid.uuid4().hex[:6]}@c.test")
        assert get_invitation_token(invitation.token_hash) is not None
        commit(subaccount_logins.revoke_invitation_ops(invitation, at=now()))
        found = get_invitation(agency.agency.agency_id, invitation.invitation_id)
        assert found is not None and found.status == "revoked"
        assert get_invitation_token(invitation.token_hash) is None
        with pytest.raises(SubaccountChanged):
            commit(subaccount_logins.revoke_invitation_ops(invitation, at=now()))


class TestBalanceGuard:
    def test_a_row_must_keep_the_version_read(self, agency) -> None:
        aid, sid = agency.agency.agency_id, agency.primary.subaccount_id
        account = wallet(sid)
        commit([balance_unchanged(aid, account, Asset.BASIC_MINUTES, 0)])  # never written

        def grant() -> None:
            post_transaction(LedgerTransaction(
                agency_id=aid, transaction_id=f"test-grant:{uuid.uuid4().hex}",
                code=Code.ADJUSTMENT,
                postings=transfer(supply(sid), account, Asset.BASIC_MINUTES, 60),
                subaccount_id=sid))

        grant()
        with pytest.raises(SubaccountChanged):
            commit([balance_unchanged(aid, account, Asset.BASIC_MINUTES, 0)])
        version = read_balance(aid, account, Asset.BASIC_MINUTES).version
        commit([balance_unchanged(aid, account, Asset.BASIC_MINUTES, version)])
        grant()
        with pytest.raises(SubaccountChanged):
            commit([balance_unchanged(aid, account, Asset.BASIC_MINUTES, version)])

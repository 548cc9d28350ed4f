"""``store.email_claims`` against the emulator: one email, one holder, system-wide."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.store import email_claims
from chalicelib.store.transact import commit


def claim(email: str, owner_type: str = "invitation", owner_id: str = "inv_1") -> None:
    commit([email_claims.claim(email, "agy_1", owner_type, owner_id)])


class TestClaiming:
    def test_an_unclaimed_email_reads_none(self, table: None) -> None:
        assert email_claims.get("nobody@example.com") is None

    def test_a_claim_names_its_holder(self, table: None) -> None:
        claim("Someone@Example.com")
        held = email_claims.get("someone@example.com")
        assert held is not None
        assert (held.agency_id, held.owner_type, held.owner_id) == ("agy_1", "invitation",
                                                                     "inv_1")

    def test_a_held_email_is_taken_whatever_its_case(self, table: None) -> None:
        claim("someone@example.com")
        with pytest.raises(Conflict) as refused:
            claim("SOMEONE@example.com", "user", "usr_2")
        assert refused.value.code == "email_taken"


class TestChangingHolder:
    def test_the_invitation_that_holds_it_hands_it_to_its_user(self, table: None) -> None:
        claim("someone@example.com")
        commit([email_claims.hand_to_user("someone@example.com", owner_type="invitation",
                                          owner_id="inv_1", user_id="usr_9",
                                          error=Conflict("x"))])
        held = email_claims.get("someone@example.com")
        assert held is not None and (held.owner_type, held.owner_id) == ("user", "usr_9")

    def test_another_holder_cannot_hand_it_over_or_release_it(self, table: None) -> None:
        claim("someone@example.com")
        not_yours = Conflict("not yours", code="invitation_not_found")
        with pytest.raises(Conflict) as refused:
            commit([email_claims.hand_to_user("someone@example.com", owner_type="invitation",
                                              owner_id="inv_2", user_id="usr_9",
                                              error=not_yours)])
        assert refused.value is not_yours
        with pytest.raises(Conflict):
            commit([email_claims.release("someone@example.com", owner_type="user",
                                         owner_id="inv_1", error=not_yours)])
        assert email_claims.get("someone@example.com") is not None

    def test_released_it_can_be_claimed_again(self, table: None) -> None:
        claim("someone@example.com")
        commit([email_claims.release("someone@example.com", owner_type="invitation",
                                     owner_id="inv_1", error=Conflict("x"))])
        assert email_claims.get("someone@example.com") is None
        claim("someone@example.com", "user", "usr_3")

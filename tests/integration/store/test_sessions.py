"""``store.sessions`` against the emulator: what the session check reads, and logouts."""

from __future__ import annotations

from chalicelib.store import sessions
from tests.integration.store.identity_support import make_agency, new_id


class TestSessionState:
    def test_unknown_agency_and_user_read_as_none(self, table: None) -> None:
        state = sessions.state(new_id("agy"), new_id("usr"), new_id("jti"))
        assert (state.agency, state.user, state.ended) == (None, None, False)

    def test_a_live_session_reads_its_agency_and_user(self, table: None) -> None:
        agency, owner = make_agency()
        state = sessions.state(agency.agency_id, owner.user_id, new_id("jti"))
        assert state.agency is not None and state.agency.agency_id == agency.agency_id
        assert state.user is not None and state.user.user_id == owner.user_id
        assert not state.ended

    def test_a_logout_ends_that_session_only_and_twice_is_once(self, table: None) -> None:
        agency, owner = make_agency()
        ended, other = new_id("jti"), new_id("jti")
        sessions.end(agency.agency_id, owner.user_id, ended, 2_000_000_000)
        sessions.end(agency.agency_id, owner.user_id, ended, 2_000_000_000)
        assert sessions.state(agency.agency_id, owner.user_id, ended).ended
        assert not sessions.state(agency.agency_id, owner.user_id, other).ended

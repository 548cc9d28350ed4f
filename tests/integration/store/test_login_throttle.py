"""``store.login_throttle`` against the emulator: reservations per email and per address,
in fixed windows (README "Login throttling": 5 per email, 20 per address, 15 minutes)."""

from __future__ import annotations

from chalicelib.store import email_claims, login_throttle
from chalicelib.store.transact import commit

WINDOW = 15 * 60
T0 = 1_800_000_000


def reserve(email: str, at: int, limit: int = 5) -> bool:
    state = login_throttle.sign_in_state(email, None)
    return login_throttle.reserve_login_attempt(email, at, WINDOW, limit,
                                                state.email_throttle)


class TestPerEmail:
    def test_the_limit_holds_within_the_window(self, table: None) -> None:
        assert [reserve("a@b.example.com", T0 + n) for n in range(6)] == [True] * 5 + [False]
        assert reserve("A@B.example.com", T0 + 10) is False  # the same email, any case
        assert reserve("other@b.example.com", T0 + 10) is True

    def test_a_new_window_starts_once_the_old_one_passed(self, table: None) -> None:
        for n in range(5):
            assert reserve("a@b.example.com", T0 + n)
        assert reserve("a@b.example.com", T0 + WINDOW - 1) is False
        assert reserve("a@b.example.com", T0 + WINDOW) is True
        state = login_throttle.sign_in_state("a@b.example.com", None)
        assert state.email_throttle is not None
        assert (state.email_throttle.failures, state.email_throttle.window_start) == (
            1, T0 + WINDOW)

    def test_a_success_clears_the_count(self, table: None) -> None:
        for n in range(5):
            assert reserve("a@b.example.com", T0 + n)
        login_throttle.clear_login_failures("a@b.example.com")
        assert login_throttle.sign_in_state("a@b.example.com", None).email_throttle is None
        assert reserve("a@b.example.com", T0 + 10) is True

    def test_a_guess_without_the_counter_read_still_counts(self, table: None) -> None:
        for n in range(5):  # ``known`` None: the put is tried first, then the ADD
            assert login_throttle.reserve_login_attempt("a@b.example.com", T0 + n, WINDOW, 5)
        assert login_throttle.reserve_login_attempt("a@b.example.com", T0 + 9, WINDOW, 5) \
            is False


class TestPerAddress:
    def test_the_address_limit_and_a_success_giving_its_attempt_back(self, table: None) -> None:
        ip = "203.0.113.7"
        for n in range(3):
            assert login_throttle.reserve_ip_login_attempt(ip, T0 + n, WINDOW, 3)
        assert login_throttle.reserve_ip_login_attempt(ip, T0 + 5, WINDOW, 3) is False
        login_throttle.release_ip_login_attempt(ip, T0 + 6, WINDOW)
        assert login_throttle.reserve_ip_login_attempt(ip, T0 + 7, WINDOW, 3) is True
        assert login_throttle.reserve_ip_login_attempt("198.51.100.4", T0 + 7, WINDOW, 3)

    def test_nothing_is_given_back_to_a_window_that_passed(self, table: None) -> None:
        ip = "203.0.113.7"
        assert login_throttle.reserve_ip_login_attempt(ip, T0, WINDOW, 3)
        login_throttle.release_ip_login_attempt(ip, T0 + WINDOW, WINDOW)  # no error
        state = login_throttle.sign_in_state("a@b.example.com", ip)
        assert state.ip_throttle is not None and state.ip_throttle.failures == 1


class TestSignInState:
    def test_one_read_gives_the_claim_and_both_counters(self, table: None) -> None:
        commit([email_claims.claim("a@b.example.com", "agy_1", "user", "usr_1")])
        login_throttle.reserve_login_attempt("a@b.example.com", T0, WINDOW, 5)
        login_throttle.reserve_ip_login_attempt("203.0.113.7", T0, WINDOW, 20)
        state = login_throttle.sign_in_state("a@b.example.com", "203.0.113.7")
        assert state.claim is not None and state.claim.owner_id == "usr_1"
        assert state.email_throttle is not None and state.email_throttle.failures == 1
        assert state.ip_throttle is not None and state.ip_throttle.failures == 1
        nothing = login_throttle.sign_in_state("x@b.example.com", None)
        assert (nothing.claim, nothing.email_throttle, nothing.ip_throttle) == (None, None,
                                                                                None)

"""Login throttling: 5 failures in 15 minutes → 429 until the window passes; no enumeration."""

from __future__ import annotations

from datetime import timedelta

from tests.helpers import call, create_agency


def attempt(client, email: str, password: str):
    """One sign-in attempt."""
    return call(client, "POST", "/v1/auth/login", body={"email": email, "password": password})


class TestLoginThrottle:
    def test_five_failures_lock_the_email_even_for_the_right_password(
            self, app_client, clock) -> None:
        agency = create_agency(app_client)
        for _ in range(5):
            assert attempt(app_client, agency.owner_email, "wrong-password").status == 401
        locked = attempt(app_client, agency.owner_email, agency.owner_password)
        assert (locked.status, locked.error_code) == (429, "too_many_requests")
        assert 0 < locked.body["error"]["details"]["retry_after_seconds"] <= 900
        # The standard header says the same (HTTP clients back off on it).
        assert locked.headers["Retry-After"] == str(
            locked.body["error"]["details"]["retry_after_seconds"])
        clock.advance(timedelta(minutes=14))
        assert attempt(app_client, agency.owner_email, agency.owner_password).status == 429
        clock.advance(timedelta(minutes=1, seconds=1))
        assert attempt(app_client, agency.owner_email, agency.owner_password).status == 200

    def test_success_resets_the_count(self, app_client) -> None:
        agency = create_agency(app_client)
        for _ in range(4):
            attempt(app_client, agency.owner_email, "wrong-password")
        assert attempt(app_client, agency.owner_email, agency.owner_password).status == 200
        for _ in range(4):
            assert attempt(app_client, agency.owner_email, "wrong-password").status == 401
        assert attempt(app_client, agency.owner_email, agency.owner_password).status == 200

    def test_failures_in_an_old_window_do_not_count(self, app_client, clock) -> None:
        agency = create_agency(app_client)
        for _ in range(4):
            attempt(app_client, agency.owner_email, "wrong-password")
        clock.advance(timedelta(minutes=16))
        for _ in range(4):
            assert attempt(app_client, agency.owner_email, "wrong-password").status == 401
        assert attempt(app_client, agency.owner_email, agency.owner_password).status == 200

    def test_unknown_emails_answer_like_known_ones(self, app_client) -> None:
        agency = create_agency(app_client)
        ghost = "ghost@nowhere.example.com"
        for _ in range(5):
            known = attempt(app_client, agency.owner_email, "wrong-password")
            unknown = attempt(app_client, ghost, "wrong-password")
            assert (known.status, known.error_without_request_id) == (
                unknown.status, unknown.error_without_request_id)
        ghost_locked = attempt(app_client, ghost, "wrong-password").body["error"]
        known_locked = attempt(app_client, agency.owner_email, "wrong-password").body["error"]
        # the same answer; only the countdown may tick between the two requests
        ghost_wait = ghost_locked["details"].pop("retry_after_seconds")
        known_wait = known_locked["details"].pop("retry_after_seconds")
        ghost_locked.pop("request_id"), known_locked.pop("request_id")  # each answer's own
        assert ghost_locked == known_locked
        assert abs(ghost_wait - known_wait) <= 1

    def test_the_lock_is_per_email(self, app_client) -> None:
        agency = create_agency(app_client)
        other = create_agency(app_client)
        for _ in range(5):
            attempt(app_client, agency.owner_email.upper(), "wrong-password")
        assert attempt(app_client, agency.owner_email, agency.owner_password).status == 429
        assert attempt(app_client, other.owner_email, other.owner_password).status == 200

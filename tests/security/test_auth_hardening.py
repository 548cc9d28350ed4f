"""Auth hardening: tokens that must not open anything, dead invitations, brute force, and
what never leaves the server (passwords in logs, secrets in error bodies)."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
import requests

from tests.conftest import ROOT, TEST_ENV, reset_table
from tests.e2e.identity.support import (
    Member,
    accept,
    fresh_email,
    invite,
    join,
    token_from_outbox,
)
from tests.helpers import AgencyFixture, call, create_agency

SECRETS = {name: TEST_ENV[name] for name in ("JWT_SECRET", "PLATFORM_API_KEY",
                                             "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")}


@dataclass
class Team:
    """An agency with an admin and a member."""

    client: Any
    agency: AgencyFixture
    admin: Member
    member: Member


@pytest.fixture(scope="module")
def team() -> Iterator[Team]:
    """Built once for the module."""
    from chalice.test import Client

    from app import app

    reset_table()
    with Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        agency = create_agency(client)
        yield Team(client, agency, join(client, agency.owner_token, "agency_admin"),
                   join(client, agency.owner_token, "agency_member"))


def claims_of(token: str) -> dict[str, Any]:
    """The claims of one of our tokens (no verification: we only copy them)."""
    return jwt.decode(token, options={"verify_signature": False})


def me(client: Any, token: str) -> Any:
    """``GET /v1/me`` with a raw Authorization value."""
    return call(client, "GET", "/v1/me", headers={"Authorization": token})


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class TestTokens:
    def test_a_good_token_works(self, team: Team) -> None:
        assert me(team.client, f"Bearer {team.member.token}").status == 200

    @pytest.mark.filterwarnings("ignore:The HMAC key")  # the forger's HS512 key is short
    @pytest.mark.parametrize("case", [
        "expired", "wrong_secret", "alg_none", "alg_hs512", "tampered_sub", "tampered_role",
        "other_agency_claim", "no_exp", "wrong_issuer", "old_generation", "not_a_jwt",
        "empty", "basic_scheme", "platform_key", "truncated_signature",
    ])
    def test_forged_or_expired_tokens_are_401(self, team: Team, case: str) -> None:
        secret = TEST_ENV["JWT_SECRET"]
        good = team.member.token
        claims = claims_of(good)
        now = int(time.time())
        header = "Bearer "
        if case == "expired":
            token = jwt.encode({**claims, "iat": now - 7200, "exp": now - 1}, secret, "HS256")
        elif case == "wrong_secret":
            token = jwt.encode(claims, "guessed-secret-guessed-secret-00", "HS256")
        elif case == "alg_none":
            token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
        elif case == "alg_hs512":
            token = jwt.encode(claims, secret, "HS512")
        elif case in ("tampered_sub", "tampered_role"):
            head, _payload, signature = good.split(".")
            forged = ({**claims, "sub": team.agency.owner_id} if case == "tampered_sub"
                      else {**claims, "role": "agency_owner"})
            token = f"{head}.{_b64(forged)}.{signature}"
        elif case == "other_agency_claim":  # validly signed, but the user is not in it
            other = create_agency(team.client)
            token = jwt.encode({**claims, "agency": other.agency_id}, secret, "HS256")
        elif case == "no_exp":
            token = jwt.encode({k: v for k, v in claims.items() if k != "exp"}, secret,
                               "HS256")
        elif case == "wrong_issuer":
            token = jwt.encode({**claims, "iss": "someone-else"}, secret, "HS256")
        elif case == "old_generation":
            token = jwt.encode({**claims, "gen": claims.get("gen", 0) - 1}, secret, "HS256")
        elif case == "not_a_jwt":
            token = "definitely-not-a-token"
        elif case == "empty":
            token = ""
        elif case == "basic_scheme":
            header, token = "Basic ", good
        elif case == "platform_key":
            token = TEST_ENV["PLATFORM_API_KEY"]
        else:  # truncated_signature
            token = good[:-4]
        answer = me(team.client, header + token)
        assert answer.status == 401, (case, answer.body)
        assert answer.error_code == "unauthenticated", answer.body
        assert me(team.client, f"Bearer {good}").status == 200  # the real one still works

    def test_token_of_a_removed_user_is_dead_at_once(self, team: Team) -> None:
        leaving = join(team.client, team.agency.owner_token, "agency_admin")
        assert me(team.client, f"Bearer {leaving.token}").status == 200
        removed = call(team.client, "DELETE", f"/v1/users/{leaving.user_id}",
                       token=team.agency.owner_token)
        assert removed.status == 204, removed.body
        for method, path in (("GET", "/v1/me"), ("GET", "/v1/users"),
                             ("POST", "/v1/invitations")):
            answer = call(team.client, method, path, token=leaving.token,
                          body={"email": fresh_email(), "role": "agency_member",
                                "subaccount_access": "all"} if method == "POST" else None)
            assert answer.status == 401, (path, answer.body)
        relogin = call(team.client, "POST", "/v1/auth/login",
                       body={"email": leaving.email, "password": leaving.password})
        assert relogin.status == 401

    def test_demoted_user_loses_rights_at_once(self, team: Team) -> None:
        promoted = join(team.client, team.agency.owner_token, "agency_admin")
        assert call(team.client, "GET", "/v1/users", token=promoted.token).status == 200
        changed = call(team.client, "PATCH", f"/v1/users/{promoted.user_id}",
                       token=team.agency.owner_token, body={"role": "agency_member",
                                                            "subaccount_access": "all"})
        assert changed.status == 200, changed.body
        after = call(team.client, "GET", "/v1/users", token=promoted.token)
        assert after.status in (401, 403), after.body  # never the old rights

    def test_tokens_of_a_closed_agency_are_dead(self, team: Team) -> None:
        doomed = create_agency(team.client)
        staff = join(team.client, doomed.owner_token, "agency_admin")
        closed = call(team.client, "DELETE", "/v1/agency", token=doomed.owner_token)
        assert closed.status == 204, closed.body
        for token in (doomed.owner_token, staff.token):
            assert me(team.client, f"Bearer {token}").status == 401


class TestInvitations:
    def _invited(self, team: Team) -> tuple[str, str, str]:
        email = fresh_email("inv")
        made = invite(team.client, team.agency.owner_token, email, "agency_member")
        assert made.status == 201, made.body
        return email, made.body["id"], token_from_outbox(team.client, email)

    def test_revoked_invitation_cannot_be_accepted(self, team: Team) -> None:
        email, invitation_id, token = self._invited(team)
        revoked = call(team.client, "DELETE", f"/v1/invitations/{invitation_id}",
                       token=team.agency.owner_token)
        assert revoked.status == 204, revoked.body
        answer = accept(team.client, token)
        assert answer.status == 404 and answer.error_code == "invitation_not_found"
        assert call(team.client, "POST", "/v1/auth/login",
                    body={"email": email, "password": "member-password-1"}).status == 401

    def test_resent_invitation_kills_the_old_token(self, team: Team) -> None:
        email, invitation_id, old = self._invited(team)
        assert call(team.client, "POST", f"/v1/invitations/{invitation_id}/resend",
                    token=team.agency.owner_token).status == 200
        new = token_from_outbox(team.client, email)
        assert new != old
        assert accept(team.client, old).status == 404
        assert accept(team.client, new).status == 200

    def test_used_invitation_cannot_be_replayed(self, team: Team) -> None:
        _email, _id, token = self._invited(team)
        assert accept(team.client, token).status == 200
        replay = accept(team.client, token, "another-password-1")
        assert replay.status == 404

    def test_concurrent_accepts_of_one_token_make_one_user(self, team: Team,
                                                           fast_app_url: str) -> None:
        email, _id, token = self._invited(team)
        answers: list[int] = []
        barrier = threading.Barrier(6)

        def post(n: int) -> None:
            barrier.wait()
            try:
                answers.append(requests.post(f"{fast_app_url}/v1/auth/invitations/accept",
                                             json={"token": token,
                                                   "password": f"racing-password-{n}"},
                                             timeout=30).status_code)
            except requests.ConnectionError:
                answers.append(-1)  # never arrived (listen backlog): not an answer

        threads = [threading.Thread(target=post, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers.count(200) == 1, answers
        assert all(status < 500 for status in answers), answers
        users = call(team.client, "GET", "/v1/users?limit=200", token=team.agency.owner_token)
        assert [u["email"] for u in users.body["users"]].count(email) == 1


class TestBruteForce:
    def test_sequential_guessing_is_throttled_even_for_the_right_password(
            self, team: Team) -> None:
        victim = join(team.client, team.agency.owner_token, "agency_member")
        statuses = [call(team.client, "POST", "/v1/auth/login", body={
            "email": victim.email, "password": f"guess-{n}-password"}).status for n in range(8)]
        assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 3, statuses
        right = call(team.client, "POST", "/v1/auth/login",
                     body={"email": victim.email, "password": victim.password})
        assert right.status == 429, right.body

    def test_parallel_guessing_gets_no_more_than_five_tries(
            self, team: Team, fast_app_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        from argon2 import PasswordHasher

        from chalicelib.services import passwords

        class ProductionSpeedHasher(PasswordHasher):
            """The suite's cheap hasher, slower to verify than production (a wide race window)."""

            def verify(self, hash: str | bytes, password: str | bytes) -> bool:
                time.sleep(0.2)
                return super().verify(hash, password)

        victim = join(team.client, team.agency.owner_token, "agency_member")
        monkeypatch.setattr(passwords, "_hasher",
                            ProductionSpeedHasher(time_cost=1, memory_cost=1024, parallelism=1))
        answers: list[int] = []
        barrier = threading.Barrier(16)

        def guess(n: int) -> None:
            session = requests.Session()
            barrier.wait()
            try:
                answers.append(session.post(f"{fast_app_url}/v1/auth/login", json={
                    "email": victim.email, "password": f"parallel-guess-{n}"}, timeout=30
                ).status_code)
            except requests.ConnectionError:
                pass  # the dev server's listen backlog overflowed: that guess never arrived

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(answers) >= 8 and all(status in (401, 429) for status in answers), answers
        assert answers.count(401) <= 5, answers


class _Capture(logging.Handler):
    """Every log record of every logger, formatted with its arguments and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record) + repr(record.args))


@pytest.fixture
def captured_logs() -> Iterator[_Capture]:
    """All logging at DEBUG during the test (the root logger and everything under it)."""
    from chalicelib.observability import SERVICE

    handler = _Capture()
    root = logging.getLogger()
    app_logger = logging.getLogger(SERVICE)  # the app's JSON lines do not propagate to root
    previous = root.level
    root.addHandler(handler)
    app_logger.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        app_logger.removeHandler(handler)
        root.setLevel(previous)


class TestNothingLeaks:
    def test_passwords_are_never_logged_nor_stored(self, team: Team,
                                                   captured_logs: _Capture) -> None:
        """Agency creation, logins (good, bad, malformed), acceptance, a crash: no password
        in any log record; the table holds only hashes."""
        owner_password = "Owner-Secret-Pass-1234"
        email = fresh_email("pwlog")
        created = call(team.client, "POST", "/v1/platform/agencies", platform=True, body={
            "name": "Logged", "owner_email": email, "owner_password": owner_password,
            "plan": "agency_pro", "subscription_start": "2026-01-01"})
        assert created.status == 201, created.body
        wrong = "Wrong-Guess-Pass-5678"
        assert call(team.client, "POST", "/v1/auth/login",
                    body={"email": email, "password": wrong}).status == 401
        assert call(team.client, "POST", "/v1/auth/login",
                    body={"email": email, "password": owner_password}).status == 200
        call(team.client, "POST", "/v1/auth/login",
             raw=b'{"email": "x@y.zz", "password": "Malformed-Pass-999"')
        call(team.client, "POST", "/v1/auth/login",
             body={"email": "x@y.zz", "password": "Extra-Field-Pass-777", "extra": 1})
        invitee = fresh_email("pwlog")
        assert invite(team.client, team.agency.owner_token, invitee, "agency_member").status \
            == 201
        accepted_password = "Accepted-Pass-4321"
        assert accept(team.client, token_from_outbox(team.client, invitee),
                      accepted_password).status == 200
        passwords = [owner_password, wrong, "Malformed-Pass-999", "Extra-Field-Pass-777",
                     accepted_password]
        assert captured_logs.texts  # the capture does see the app's logging
        logged = "\n".join(captured_logs.texts)
        assert not [p for p in passwords if p in logged]
        from tests.security.test_webhook_hardening import whole_table

        stored = json.dumps(whole_table())
        assert not [p for p in passwords if p in stored]

    def test_error_bodies_carry_no_secrets_nor_internals(self, team: Team,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
        """Every kind of error answer, a crash included, is the plain SPEC envelope."""
        password = "Echo-Me-Pass-2468"
        owner = team.agency.owner_token
        answers = [
            call(team.client, "POST", "/v1/auth/login",
                 body={"email": team.member.email, "password": password}),
            call(team.client, "POST", "/v1/auth/login", body={"email": 5, "password": [password]}),
            call(team.client, "POST", "/v1/auth/invitations/accept",
                 body={"token": "x" * 40, "password": "short"}),
            call(team.client, "POST", "/v1/platform/agencies", body={
                "name": "x", "owner_email": "bad", "owner_password": password, "plan": "x",
                "subscription_start": "never"}, platform=True),
            call(team.client, "GET", "/v1/me", headers={
                "Authorization": f"Bearer {jwt.encode({'sub': 'x'}, 'k' * 32, 'HS256')}"}),
            call(team.client, "GET", "/v1/users", token=team.member.token),
            call(team.client, "GET", "/v1/subaccounts/sub_nope", token=owner),
            call(team.client, "POST", "/v1/subaccounts", token=owner, raw=b"{not json"),
            call(team.client, "POST", "/v1/stripe/webhook", raw=b"{}",
                 headers={"Stripe-Signature": "t=1,v1=bad"}),
        ]
        from chalicelib.services import agencies

        def crash(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"db down; secret={SECRETS['JWT_SECRET']} pw={password} "
                               f"key={SECRETS['STRIPE_SECRET_KEY']}")

        monkeypatch.setattr(agencies, "create_agency", crash)
        crashed = call(team.client, "POST", "/v1/platform/agencies", platform=True, body={
            "name": "Crash", "owner_email": fresh_email("crash"), "owner_password": password,
            "plan": "agency_pro", "subscription_start": "2026-01-01"})
        assert crashed.status == 500
        assert crashed.body == {"error": {"code": "internal_error",
                                          "message": "an internal error occurred",
                                          "details": {},
                                          "request_id": crashed.headers["X-Request-Id"]}}
        for answer in [*answers, crashed]:
            assert answer.status >= 400, answer.body
            assert set(answer.body) == {"error"}, answer.body
            text = json.dumps(answer.body)
            leaked = [name for name, value in SECRETS.items() if value in text]
            assert not leaked, (leaked, text)
            assert password not in text, text
            for internal in ("Traceback", 'File "', "argon2$", "pynamodb", "botocore"):
                assert internal not in text, text

    def test_stripe_errors_do_not_leak_the_stripe_key(self, team: Team,
                                                      stripe_emulator: str) -> None:
        """A declined card and a refused payment method: Stripe's message, not our key."""
        made = call(team.client, "POST", "/v1/subaccounts", token=team.agency.owner_token,
                    body={"name": "Leaky", "login_email": f"{fresh_email('leak')}",
                          "prices": {"basic": "0.15", "premium": "0.25"}})
        assert made.status == 201, made.body
        sid = made.body["id"]
        for pm in ("pm_card_visa_chargeDeclined", "pm_does_not_exist"):
            answer = call(team.client, "POST", f"/v1/subaccounts/{sid}/payment-methods",
                          token=team.agency.owner_token, body={"payment_method": pm})
            assert 400 <= answer.status < 500, answer.body
            text = json.dumps(answer.body)
            assert SECRETS["STRIPE_SECRET_KEY"] not in text and "sk_" not in text, text

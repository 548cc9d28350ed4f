"""The demo seed talks only HTTP, is idempotent, and tolerates routes that do not exist yet."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib.domain.reporting import CALL_STATUSES
from devstack import seed
from devstack.proc import free_port
from tests.devstack.conftest import QuietHandler, http_server
from tests.helpers import call, login

PLATFORM_KEY = "test-platform-key"


@dataclass
class FakeApp:
    """Just enough of the app's API for the seed, with the contract's shapes."""

    users: dict[str, str] = field(default_factory=dict)
    subaccounts: list[dict[str, Any]] = field(default_factory=list)
    grants: dict[str, dict[str, Any]] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    missing_routes: set[str] = field(default_factory=set)

    def handle(self, method: str, path: str, headers: Any, body: Any) -> tuple[int, Any]:
        route = urlparse(path).path
        self.requests.append((method, route))
        if route in self.missing_routes:
            return 404, {"error": {"code": "not_found", "message": "no route"}}
        auth = headers.get("Authorization", "")
        platform = auth == f"Bearer {PLATFORM_KEY}"
        if (method, route) == ("POST", "/v1/auth/login"):
            if self.users.get(body["email"]) == body["password"]:
                return 200, {"access_token": f"tok-{body['email']}", "token_type": "bearer"}
            return 401, {"error": {"code": "invalid_credentials"}}
        if (method, route) == ("POST", "/v1/platform/agencies") and platform:
            self.users[body["owner_email"]] = body["owner_password"]
            return 201, {"agency": {"id": "ag_1"}, "primary_subaccount": {"id": "sa_0"},
                         "owner": {"id": "u_1"}}
        if route == "/v1/subaccounts" and auth.startswith("Bearer tok-"):
            if method == "GET":
                return 200, {"data": self.subaccounts, "next_cursor": None}
            sub = {"id": f"sa_{len(self.subaccounts) + 1}", **body}
            self.subaccounts.append(sub)
            return 201, sub
        if (method, route) == ("POST", "/v1/platform/adjustments") and platform:
            key = headers["Idempotency-Key"]
            self.grants.setdefault(key, body)
            return 201, {"id": f"tx_{key}"}
        if (method, route) == ("POST", "/v1/invitations"):
            self.outbox.append({"to": body["email"], "body":
                                "Join: http://127.0.0.1:8080/accept-invite?token=inv%2Babc"})
            return 201, {"id": "inv_1"}
        if (method, route) == ("GET", "/v1/platform/outbox") and platform:
            to = parse_qs(urlparse(path).query)["to"][0]
            return 200, {"data": [m for m in self.outbox if m["to"] == to]}
        if (method, route) == ("POST", "/v1/auth/invitations/accept"):
            assert body["token"] == "inv+abc"
            self.users[seed.ADMIN_EMAIL] = body["password"]
            return 200, {"access_token": "tok-admin"}
        return 404, {"error": {"code": "not_found"}}


@pytest.fixture
def fake_app() -> Iterator[tuple[str, FakeApp]]:
    """The fake API served over HTTP, as the seed will meet the real one."""
    app = FakeApp()

    class Handler(QuietHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, answer = app.handle(self.command, self.path, self.headers, body)
            raw = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

    with http_server(Handler) as base_url:
        yield base_url, app


class TestSeed:
    def test_first_run_creates_everything_through_the_api(
            self, fake_app: tuple[str, FakeApp]) -> None:
        url, app = fake_app

        report = seed.seed(url, PLATFORM_KEY, today="2026-11-25", log=lambda _: None)

        assert report.warnings == []
        assert [s["name"] for s in app.subaccounts] == ["Demo Clinic North", "Demo Clinic South"]
        assert app.subaccounts[0]["prices"] == {"basic": "0.12", "premium": "0.20"}
        assert app.subaccounts[0]["subscription_start"] == "2026-11-25"
        assert {(g["subaccount_id"], g["asset"], g["amount"]) for g in app.grants.values()} == {
            ("sa_1", "basic_minutes", "1000"), ("sa_1", "premium_minutes", "500"),
            ("sa_2", "basic_minutes", "1000"), ("sa_2", "premium_minutes", "500")}
        assert app.users == {seed.OWNER_EMAIL: seed.OWNER_PASSWORD,
                             seed.ADMIN_EMAIL: seed.ADMIN_PASSWORD}

    def test_a_second_run_creates_nothing_new(self, fake_app: tuple[str, FakeApp]) -> None:
        url, app = fake_app
        seed.seed(url, PLATFORM_KEY, log=lambda _: None)
        grants = dict(app.grants)
        first_run = len(app.requests)

        report = seed.seed(url, PLATFORM_KEY, log=lambda _: None)

        assert report.created == [] and report.warnings == []
        assert len(app.subaccounts) == 2
        assert app.grants == grants  # same idempotency keys: replays, not new grants
        second_run = app.requests[first_run:]
        assert ("POST", "/v1/platform/agencies") not in second_run
        assert ("POST", "/v1/subaccounts") not in second_run
        assert ("POST", "/v1/invitations") not in second_run

    def test_missing_routes_are_warnings_and_later_steps_still_run(
            self, fake_app: tuple[str, FakeApp]) -> None:
        url, app = fake_app
        app.missing_routes = {"/v1/subaccounts"}
        lines: list[str] = []

        report = seed.seed(url, PLATFORM_KEY, log=lines.append)

        assert any("route not available yet (HTTP 404)" in w for w in report.warnings)
        assert any(line.startswith("seed: WARNING") for line in lines)
        assert seed.ADMIN_EMAIL in app.users  # the invitation step ran anyway

    def test_an_unreachable_api_is_a_warning_not_a_crash(self) -> None:
        report = seed.seed(f"http://127.0.0.1:{free_port()}", PLATFORM_KEY, log=lambda _: None)
        assert report.warnings and report.created == []


class TestDemoHistory:
    """``make run``'s demo agency comes with 30 days of history (SPEC section 4): usage across
    tiers and statuses, purchases, an auto-allocation, a paid payout."""

    @pytest.fixture(scope="class")
    def seeded(self, stripe_emulator: str) -> Iterator[dict[str, Any]]:
        """The history seeded once for the class, through the real app and emulator."""
        from chalice.test import Client

        from app import app
        from tests.conftest import ROOT, TEST_ENV, reset_table

        reset_table()
        today = datetime.now(UTC).date()
        with Client(app, stage_name="test", project_dir=str(ROOT)) as client:
            started = time.perf_counter()
            report = seed.seed_history(client, stripe_emulator, TEST_ENV["PLATFORM_API_KEY"],
                                       today=today, log=lambda _: None)
            print(f"history seeded in {time.perf_counter() - started:.1f}s")
            owner = login(client, seed.OWNER_EMAIL, seed.OWNER_PASSWORD)
            yield {"client": client, "report": report, "today": today, "owner": owner,
                   "stripe": stripe_emulator}

    def _report(self, seeded: dict[str, Any]) -> dict[str, Any]:
        today = seeded["today"]
        answer = call(seeded["client"], "GET", "/v1/reports/subaccounts?from="
                      f"{today - timedelta(days=seed.HISTORY_DAYS)}&to={today}",
                      token=seeded["owner"])
        assert answer.status == 200, answer.body
        return answer.body

    def test_the_history_is_seeded_without_a_warning(self, seeded: dict[str, Any]) -> None:
        assert seeded["report"].warnings == []
        assert any("30 days of history" in line for line in seeded["report"].created)

    def test_usage_on_most_days_on_both_tiers_and_every_call_status(
            self, seeded: dict[str, Any]) -> None:
        body = self._report(seeded)
        used_days = {day["date"] for row in body["subaccounts"] for day in row["daily"]
                     if sum(day["seconds_used"].values()) > 0}
        assert len(used_days) >= 20
        totals = body["totals"]
        assert totals["seconds_used"]["basic"] > 0 and totals["seconds_used"]["premium"] > 0
        assert set(totals["calls"]["by_status"]) == set(CALL_STATUSES)
        assert all(n > 0 for n in totals["calls"]["by_status"].values()), totals["calls"]
        assert [row["name"] for row in body["subaccounts"] if row["name"] != seed.AGENCY_NAME]

    def test_purchases_and_the_clients_named_as_the_logins_say(
            self, seeded: dict[str, Any]) -> None:
        body = self._report(seeded)
        assert Decimal(body["totals"]["purchases_usd"]) > 0
        names = {row["name"] for row in body["subaccounts"]}
        assert {s["name"] for s in seed.SUBACCOUNTS} <= names

    def test_a_declined_auto_allocation_then_the_retry_after_the_card_was_fixed(
            self, seeded: dict[str, Any]) -> None:
        client, owner = seeded["client"], seeded["owner"]
        rows = self._report(seeded)["subaccounts"]
        north = next(r["subaccount_id"] for r in rows if r["name"] == seed.SUBACCOUNTS[0]["name"])
        rule = call(client, "GET", f"/v1/subaccounts/{north}/auto-allocation", token=owner)
        assert rule.status == 200, rule.body
        _, _, job_days = seed.demo_history(seeded["today"])
        assert rule.body["last_period_done"] == job_days[1].isoformat()
        assert rule.body["status"] == "active" and rule.body["failures"] == 0
        notices = call(client, "GET", "/v1/notifications?limit=100", token=owner)
        assert notices.status == 200, notices.body
        assert "auto_allocation_failed" in {n["type"] for n in notices.body["notifications"]}

    def test_a_paid_payout(self, seeded: dict[str, Any]) -> None:
        answer = call(seeded["client"], "GET", "/v1/agency/payouts", token=seeded["owner"])
        assert answer.status == 200, answer.body
        _, _, job_days = seed.demo_history(seeded["today"])
        assert [(p["status"], p["cycle_date"]) for p in answer.body["payouts"]] == [
            ("paid", job_days[0].isoformat())]
        assert Decimal(answer.body["payouts"][0]["amount_usd"]) >= 100

    def test_seeding_again_changes_nothing(self, seeded: dict[str, Any]) -> None:
        before = self._report(seeded)
        again = seed.seed_history(seeded["client"], seeded["stripe"], "test-platform-key",
                                  today=seeded["today"], log=lambda _: None)
        assert again.created == [] and again.skipped
        assert self._report(seeded) == before

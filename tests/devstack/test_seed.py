"""The demo seed talks only HTTP, is idempotent, and tolerates routes that do not exist yet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from devstack import seed
from devstack.proc import free_port
from tests.devstack.conftest import QuietHandler, http_server

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

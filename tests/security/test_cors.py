"""Issue 18, defect 11: CORS for the configured frontend origins (SPEC section 4).

``CORS_ALLOW_ORIGINS`` is a list: the request's ``Origin`` is echoed only when listed, with
``Vary: Origin``; ``*`` only when the list is ``*``. Preflights (``OPTIONS``) follow the same
rule, as answered by the app under ``chalice local`` and the test client alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import call

APP = "https://app.example.com"
ADMIN = "https://admin.example.com"
EVIL = "https://evil.example.com"


@pytest.fixture
def origins(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set ``CORS_ALLOW_ORIGINS`` for one test (the settings are read again)."""
    from chalicelib import bootstrap

    def configure(value: str) -> None:
        monkeypatch.setenv("CORS_ALLOW_ORIGINS", value)
        bootstrap.build()

    yield configure
    monkeypatch.undo()
    bootstrap.build()


def _header(answer: Any, name: str) -> str | None:
    for key, value in answer.headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _preflight(client: Any, path: str, origin: str, method: str = "POST") -> Any:
    response = client.http.request("OPTIONS", path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"},
        body=b"")
    return response


def test_a_listed_origin_is_echoed_with_vary_and_others_get_nothing(app_client: Any,
                                                                    origins: Any) -> None:
    origins(f"{APP}, {ADMIN}")
    for origin in (APP, ADMIN):
        answer = call(app_client, "GET", "/v1/health", headers={"Origin": origin})
        assert answer.status == 200
        assert _header(answer, "Access-Control-Allow-Origin") == origin
        assert "origin" in (_header(answer, "Vary") or "").lower()
    refused = call(app_client, "GET", "/v1/health", headers={"Origin": EVIL})
    assert _header(refused, "Access-Control-Allow-Origin") is None
    assert "origin" in (_header(refused, "Vary") or "").lower()
    # Errors carry it too, so the frontend can read them.
    unauthenticated = call(app_client, "GET", "/v1/me", headers={"Origin": ADMIN})
    assert unauthenticated.status == 401
    assert _header(unauthenticated, "Access-Control-Allow-Origin") == ADMIN


def test_preflights_echo_only_listed_origins(app_client: Any, origins: Any) -> None:
    origins(f"{APP},{ADMIN}")
    path = "/v1/subaccounts/sub_x/purchases"
    allowed = _preflight(app_client, path, ADMIN)
    assert allowed.status_code in (200, 204)
    headers = {k.lower(): v for k, v in allowed.headers.items()}
    assert headers["access-control-allow-origin"] == ADMIN
    assert "origin" in headers.get("vary", "").lower()
    assert "POST" in headers["access-control-allow-methods"]
    allow_headers = headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "idempotency-key"} <= {
        h.strip() for h in allow_headers.split(",")}
    refused = _preflight(app_client, path, EVIL)
    assert "access-control-allow-origin" not in {k.lower() for k in refused.headers}


def test_a_single_origin_is_echoed_only_to_itself(app_client: Any, origins: Any) -> None:
    origins(APP)
    assert _header(call(app_client, "GET", "/v1/health", headers={"Origin": APP}),
                   "Access-Control-Allow-Origin") == APP
    assert _header(call(app_client, "GET", "/v1/health", headers={"Origin": EVIL}),
                   "Access-Control-Allow-Origin") is None


def test_star_only_when_the_list_is_star(app_client: Any, origins: Any) -> None:
    origins("*")
    answer = call(app_client, "GET", "/v1/health", headers={"Origin": EVIL})
    assert _header(answer, "Access-Control-Allow-Origin") == "*"
    preflight = _preflight(app_client, "/v1/auth/login", EVIL)
    assert {k.lower(): v for k, v in preflight.headers.items()}[
        "access-control-allow-origin"] == "*"

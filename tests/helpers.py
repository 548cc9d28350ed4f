"""Small HTTP helpers for tests that drive the app through ``chalice.test.Client``."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from tests.conftest import PLATFORM_HEADERS

_counter = itertools.count(1)


@dataclass
class Answer:
    """A decoded HTTP answer."""

    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error_without_request_id(self) -> Any:
        """The error body without its ``request_id`` (every answer has its own): what two
        answers must share to be indistinguishable."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            error = {k: v for k, v in self.body["error"].items() if k != "request_id"}
            return {**self.body, "error": error}
        return self.body

    @property
    def error_code(self) -> str | None:
        """``error.code`` of an error answer."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("code")
        return None


def call(client: Any, method: str, path: str, *, token: str | None = None,
         body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None,
         platform: bool = False) -> Answer:
    """One request; ``token`` signs in as a user, ``platform`` uses the platform key."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if platform:
        all_headers.update(PLATFORM_HEADERS)
    elif token:
        all_headers["Authorization"] = f"Bearer {token}"
    payload = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                           else None)
    response = getattr(client.http, method.lower())(path, headers=all_headers, body=payload)
    text = response.body.decode() if isinstance(response.body, bytes) else response.body
    try:
        decoded = json.loads(text) if text else None
    except ValueError:
        decoded = text
    return Answer(response.status_code, decoded, dict(response.headers))


@dataclass
class AgencyFixture:
    """An agency created through the platform route, with its owner signed in."""

    agency_id: str
    primary_id: str
    owner_id: str
    owner_email: str
    owner_password: str
    owner_token: str


def create_agency(client: Any, *, plan: str = "agency_pro",
                  subscription_start: str = "2026-01-31", name: str = "Acme Agency",
                  timezone: str | None = None) -> AgencyFixture:
    """Create an agency (in ``timezone``, else the default UTC) and sign its owner in."""
    n = next(_counter)
    email, password = f"owner{n}@acme{n}.example.com", "owner-password-1"
    created = call(client, "POST", "/v1/platform/agencies", platform=True, body={
        "name": name, "owner_email": email, "owner_password": password, "plan": plan,
        "subscription_start": subscription_start,
        **({"timezone": timezone} if timezone is not None else {}),
    })
    assert created.status == 201, created.body
    token = login(client, email, password)
    return AgencyFixture(created.body["agency"]["id"], created.body["primary_subaccount"]["id"],
                         created.body["owner"]["id"], email, password, token)


def login(client: Any, email: str, password: str) -> str:
    """Sign in and return the access token."""
    answer = call(client, "POST", "/v1/auth/login", body={"email": email, "password": password})
    assert answer.status == 200, answer.body
    return answer.body["access_token"]

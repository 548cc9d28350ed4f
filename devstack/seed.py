"""Seed a demo agency through the public HTTP API (idempotent).

Only the API is used, never the table, so the seed also exercises the routes a real operator
would call. Every step first checks whether its result already exists (a working login, a
sub-account with the same name) and money steps carry an ``Idempotency-Key``, so running the
seed twice changes nothing. While the app team is still building routes, a step whose route
does not exist yet (404/405) or that fails prints a warning and the seed carries on.

``python -m devstack.seed [--api URL]`` runs it by hand against a running stack.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from devstack.defaults import APP_ENV_DEFAULTS, api_base_url

AGENCY_NAME = "Demo Agency"
OWNER_EMAIL = "owner@demo.agency"
OWNER_PASSWORD = "demo-owner-pass-1"
ADMIN_EMAIL = "admin@demo.agency"
ADMIN_PASSWORD = "demo-admin-pass-1"
PLAN = "agency_pro"
SUBACCOUNTS = (
    {"name": "Demo Clinic North", "login_email": "north@demo.agency"},
    {"name": "Demo Clinic South", "login_email": "south@demo.agency"},
)
PRICES = {"basic": "0.12", "premium": "0.20"}
GRANTS = {"basic_minutes": "1000", "premium_minutes": "500"}
INVITE_TOKEN = re.compile(r"accept-invite\?token=([A-Za-z0-9._~%+-]+)")


class SeedStepFailed(Exception):
    """A seed step got an unexpected answer (the message says which and why)."""


@dataclass
class SeedReport:
    """What the seed did, for the supervisor to print."""

    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Api:
    """A minimal JSON client for the app (stdlib only, so the seed runs anywhere)."""

    base: str
    timeout: float = 30.0

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             idempotency_key: str | None = None) -> tuple[int, Any]:
        """One request; returns (status, parsed JSON or text). Never raises on 4xx/5xx."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        request = urllib.request.Request(self.base.rstrip("/") + path, data=data,
                                         headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return status, raw.decode(errors="replace")


def _id_of(body: Any, *keys: str) -> str | None:
    """An ``id`` from ``body`` or from one of its nested objects ``keys``."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("id"), str):
        return body["id"]
    for key in keys:
        nested = body.get(key)
        if isinstance(nested, dict) and isinstance(nested.get("id"), str):
            return nested["id"]
    return None


def _items(body: Any) -> list[dict[str, Any]]:
    """The rows of a list answer (``data``, ``items`` or a bare list)."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in ("data", "items", "subaccounts", "results"):
            if isinstance(body.get(key), list):
                return body[key]
    return []


def _route_missing(status: int, body: Any) -> bool:
    """Whether an answer means "no such route": 404/405, or the 403 that API Gateway (and so
    ``chalice local``) gives for an unknown path: ``{"message": ...}``, not the app's error."""
    gateway_403 = status == 403 and isinstance(body, dict) and "error" not in body \
        and "message" in body
    return status in (404, 405) or gateway_403


def _check(step: str, status: int, body: Any, ok: tuple[int, ...] = (200, 201)) -> Any:
    if status in ok:
        return body
    if _route_missing(status, body):
        raise SeedStepFailed(f"{step}: route not available yet (HTTP {status})")
    raise SeedStepFailed(f"{step}: HTTP {status} {json.dumps(body)[:300]}")


def _login(api: Api, email: str, password: str) -> str | None:
    status, body = api.call("POST", "/v1/auth/login", {"email": email, "password": password})
    if status == 200 and isinstance(body, dict) and body.get("access_token"):
        return str(body["access_token"])
    return None


def seed(api_base: str, platform_key: str, today: str | None = None,
         log: Callable[[str], None] = lambda line: print(line, flush=True)) -> SeedReport:
    """Create (or find) the demo agency, two sub-accounts with minutes, and an admin."""
    api = Api(api_base)
    report = SeedReport()
    today = today or datetime.now(UTC).date().isoformat()

    def step(name: str, action: Callable[[], None]) -> None:
        try:
            action()
        except SeedStepFailed as exc:
            report.warnings.append(str(exc))
            log(f"seed: WARNING {exc}")
        except (urllib.error.URLError, OSError) as exc:
            report.warnings.append(f"{name}: {exc}")
            log(f"seed: WARNING {name}: cannot reach the API: {exc}")

    owner_token: list[str] = []

    def agency() -> None:
        token = _login(api, OWNER_EMAIL, OWNER_PASSWORD)
        if token:
            report.skipped.append("agency (owner login works)")
        else:
            status, body = api.call(
                "POST", "/v1/platform/agencies",
                {"name": AGENCY_NAME, "owner_email": OWNER_EMAIL,
                 "owner_password": OWNER_PASSWORD, "plan": PLAN, "subscription_start": today},
                token=platform_key)
            _check("create agency", status, body)
            report.created.append(f"agency {_id_of(body, 'agency')}")
            token = _login(api, OWNER_EMAIL, OWNER_PASSWORD)
            if not token:
                raise SeedStepFailed("owner login failed right after creating the agency")
        owner_token.append(token)

    def subaccounts() -> None:
        if not owner_token:
            raise SeedStepFailed("sub-accounts: skipped, no owner login")
        token = owner_token[0]
        status, body = api.call("GET", "/v1/subaccounts?limit=100", token=token)
        existing = {row.get("name"): row.get("id") for row in _items(
            _check("list sub-accounts", status, body))}
        for spec in SUBACCOUNTS:
            sub_id = existing.get(spec["name"])
            if sub_id:
                report.skipped.append(f"sub-account {spec['name']}")
            else:
                status, body = api.call(
                    "POST", "/v1/subaccounts",
                    {**spec, "prices": PRICES, "subscription_start": today}, token=token)
                sub_id = _id_of(_check(f"create sub-account {spec['name']}", status, body),
                                "subaccount")
                report.created.append(f"sub-account {spec['name']} {sub_id}")
            if not sub_id:
                raise SeedStepFailed(f"sub-account {spec['name']}: no id in the answer")
            for asset, amount in GRANTS.items():
                # The key makes a re-run replay the first grant instead of granting again.
                status, body = api.call(
                    "POST", "/v1/platform/adjustments",
                    {"subaccount_id": sub_id, "asset": asset, "amount": amount,
                     "reason": "demo grant"},
                    token=platform_key, idempotency_key=f"devstack-seed-{sub_id}-{asset}")
                _check(f"grant {asset} to {spec['name']}", status, body)

    def admin() -> None:
        if _login(api, ADMIN_EMAIL, ADMIN_PASSWORD):
            report.skipped.append("admin (login works)")
            return
        if not owner_token:
            raise SeedStepFailed("admin invitation: skipped, no owner login")
        status, body = api.call(
            "POST", "/v1/invitations",
            {"email": ADMIN_EMAIL, "role": "agency_admin", "subaccount_access": "all",
             "subaccount_ids": []}, token=owner_token[0])
        _check("invite admin", status, body)
        status, body = api.call("GET", f"/v1/platform/outbox?to={quote(ADMIN_EMAIL)}",
                                token=platform_key)
        tokens = INVITE_TOKEN.findall(json.dumps(_check("read outbox", status, body)))
        if not tokens:
            raise SeedStepFailed("read outbox: no accept-invite?token=... for the admin")
        status, body = api.call("POST", "/v1/auth/invitations/accept",
                                {"token": unquote(tokens[-1]), "password": ADMIN_PASSWORD})
        _check("accept invitation", status, body)
        report.created.append(f"admin {ADMIN_EMAIL}")

    step("agency", agency)
    step("sub-accounts", subaccounts)
    step("admin", admin)
    return report


def print_logins(api_base: str, stripe_base: str, platform_key: str,
                 log: Callable[[str], None]) -> None:
    """The demo logins, for people and scripts."""
    log(f"API:            {api_base}  (health: {api_base}/v1/health)")
    log(f"Stripe:         {stripe_base}  (events: {stripe_base}/_devstack/events)")
    log(f"Owner login:    {OWNER_EMAIL} / {OWNER_PASSWORD}")
    log(f"Admin login:    {ADMIN_EMAIL} / {ADMIN_PASSWORD}")
    log("Sub-accounts:   " + ", ".join(f"{s['name']} <{s['login_email']}>" for s in SUBACCOUNTS))
    log(f"Platform key:   Authorization: Bearer {platform_key}")


def main(argv: list[str] | None = None) -> int:
    """CLI: seed a running stack."""
    parser = argparse.ArgumentParser(prog="python -m devstack.seed", description=__doc__)
    parser.add_argument("--api", default=os.environ.get("API_BASE_URL") or api_base_url())
    parser.add_argument("--key", default=os.environ.get("PLATFORM_API_KEY")
                        or APP_ENV_DEFAULTS["PLATFORM_API_KEY"])
    args = parser.parse_args(argv)
    report = seed(args.api, args.key)
    print(json.dumps(report.__dict__, indent=2))
    return 0 if not report.warnings else 1


if __name__ == "__main__":
    sys.exit(main())

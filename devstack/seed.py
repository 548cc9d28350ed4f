"""Seed a demo agency with 30 days of history, then its logins (idempotent).

Two parts, both through the app's public routes, never the table:

- ``seed_history`` (``python -m devstack.seed --history``): the demo agency as it would look
  after a month of use, built with the benchmark's workload generator (``bench.workload``):
  calls on both tiers and every status (some with holds), purchases (some declined), moves,
  Stripe Connect onboarding, a paid payout, and a monthly auto-allocation declined on the
  primary's failing card, fixed and retried the next day. The app's clock is swapped for the
  simulated day, so it runs in a process of its own with the app imported, driven through
  ``chalice.test.Client``, against the stack's DynamoDB and Stripe emulator; while it runs
  the emulator's webhooks go to that process's app (the same clock), then back to the API.
- ``seed`` (``python -m devstack.seed [--api URL]``): over HTTP against the running API, the
  demo agency if the history did not make it, its two clients, minutes, and an admin.

Every step first checks whether its result already exists (a working login, a sub-account
with the same name) and money steps carry an ``Idempotency-Key``, so running the seed twice
changes nothing. While the app team is still building routes, a step whose route does not
exist yet (404/405) or that fails prints a warning and the seed carries on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from dateutil.relativedelta import relativedelta

from devstack.defaults import APP_ENV_DEFAULTS, WEBHOOK_PATH, api_base_url, child_env

if TYPE_CHECKING:
    from bench.workload import AgencySpec

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
HISTORY_DAYS = 30
HISTORY_SEED = 30  # the same demo month every time (the app's own ids differ)
#: Days before the first day of history: the agency's anchor puts its first payout date
#: 8-11 days in; North's puts its monthly auto-allocation 16-19 days in.
AGENCY_ANCHOR_DAYS, NORTH_ANCHOR_DAYS, SOUTH_ANCHOR_DAYS = 20, 12, 5
#: Clients' opening purchases: USD 220 of profit before the first payout date (threshold 100).
OPENING_MINUTES = (("basic", 2500), ("premium", 1500))


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

# -- 30 days of history ------------------------------------------------------------------------


def next_cycle_date(anchor: date, after: date) -> date:
    """The first monthly cycle date from ``anchor`` strictly after ``after`` (month ends
    clamped, as SPEC's billing cycles)."""
    months = 1
    while anchor + relativedelta(months=months) <= after:
        months += 1
    return anchor + relativedelta(months=months)


def demo_history(today: date) -> tuple[AgencySpec, date, list[date]]:
    """The demo agency's month: its spec, the first day, and the days its jobs run (the
    payout date, then the auto-allocation date and the retry after it)."""
    from bench.workload import AgencySpec, SubaccountSpec

    first = today - timedelta(days=HISTORY_DAYS)
    anchors = {"agency": first - timedelta(days=AGENCY_ANCHOR_DAYS),
               SUBACCOUNTS[0]["name"]: first - timedelta(days=NORTH_ANCHOR_DAYS),
               SUBACCOUNTS[1]["name"]: first - timedelta(days=SOUTH_ANCHOR_DAYS)}
    spec = AgencySpec(
        name=AGENCY_NAME, owner_email=OWNER_EMAIL, owner_password=OWNER_PASSWORD, plan=PLAN,
        subscription_start=anchors["agency"],
        subaccounts=tuple(SubaccountSpec(s["name"], s["login_email"], dict(PRICES),
                                         anchors[s["name"]]) for s in SUBACCOUNTS),
        connect=True, allocation_on=0, primary_card_fails=True,
        opening_minutes=OPENING_MINUTES, calls_per_day=(2, 4))
    payout = next_cycle_date(anchors["agency"], first)
    allocation = next_cycle_date(anchors[SUBACCOUNTS[0]["name"]], first)
    return spec, first, [payout, allocation, allocation + timedelta(days=1)]


def seed_history(client: Any, stripe_base: str, platform_key: str, *,
                 today: date | None = None,
                 log: Callable[[str], None] = lambda line: print(line, flush=True)
                 ) -> SeedReport:
    """The demo agency with ``HISTORY_DAYS`` days of history, through ``client`` (a
    ``chalice.test.Client`` on the app); nothing when its owner can already sign in.

    The emulator's webhooks must reach this process's app (its clock is the simulated one).
    """
    from bench.ops import call
    from bench.workload import Mix, WorkloadFailed, run_workload

    report = SeedReport()
    signed_in = call(client, "POST", "/v1/auth/login",
                     body={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    if signed_in.status == 200:
        report.skipped.append("history (the demo agency exists)")
        return report
    spec, first, (payout, allocation, retry) = demo_history(today or datetime.now(UTC).date())
    # Only the runs that have something to do: each job run reads all 16 due-index shards.
    job_days = {payout: ("payout-sweep",), allocation: ("auto-allocation",),
                retry: ("auto-allocation",)}
    started = time.perf_counter()
    try:
        result = run_workload(
            client, stripe_base, platform_key, agencies=[spec], days=HISTORY_DAYS,
            seed=HISTORY_SEED, start=first, job_days=job_days,
            mix=Mix(held_calls=0.1, purchases=0.3, moves=(0, 0, 0, 1), reads=False))
    except WorkloadFailed as exc:
        report.warnings.append(f"history: {exc}")
        log(f"seed: WARNING history: {exc}")
        return report
    calls = sum(n for key, n in result.counts.items() if key == "call recorded")
    report.created.append(
        f"{HISTORY_DAYS} days of history from {first}: {calls} calls, "
        f"{result.counts['purchase 201']} purchases ({result.counts['purchase 402']} declined), "
        f"{result.counts['confirm move 201']} moves, {result.requests} requests in "
        f"{time.perf_counter() - started:.1f}s")
    log("history: seconds by operation: " + ", ".join(  # the log file only (no "seed" prefix)
        f"{op} {seconds:.1f}" for op, seconds in result.seconds_by_operation.most_common()))
    for problem in result.unexpected:
        report.warnings.append(f"history: {problem}")
        log(f"seed: WARNING history: {problem}")
    return report


@contextmanager
def webhooks_to_this_process(app: Any, stripe_base: str) -> Iterator[None]:
    """Point the emulator's two webhook endpoints at ``app`` served in this process, then back
    at the API (``STRIPE_WEBHOOK_URL``) once every event sent meanwhile was delivered."""
    import requests

    from bench.run import live_app
    from bench.workload import settle_webhooks

    def register(url: str) -> None:
        for name, secret, connect in (
                ("default", os.environ["STRIPE_WEBHOOK_SECRET"], "false"),
                ("connect", os.environ["STRIPE_CONNECT_WEBHOOK_SECRET"], "true")):
            requests.post(f"{stripe_base}/_config/webhooks/{name}", timeout=10, data={
                "url": url, "secret": secret, "connect": connect}).raise_for_status()

    with live_app(app) as here:
        register(here + WEBHOOK_PATH)
        try:
            yield
        finally:
            settle_webhooks(stripe_base)
            register(os.environ["STRIPE_WEBHOOK_URL"])


def seed_history_here(today: date | None = None,
                      log: Callable[[str], None] = lambda line: print(line, flush=True)
                      ) -> SeedReport:
    """``seed_history`` with the app imported into this process from the working directory,
    configured like the API (the local stack's environment)."""
    os.environ.update(child_env())
    from chalice.test import Client

    from app import app

    stripe_base = os.environ["STRIPE_API_BASE"]
    with webhooks_to_this_process(app, stripe_base), \
            Client(app, stage_name="local", project_dir=os.getcwd()) as client:
        return seed_history(client, stripe_base, os.environ["PLATFORM_API_KEY"],
                            today=today, log=log)


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
    parser.add_argument("--history", action="store_true",
                        help=f"only the {HISTORY_DAYS} days of history, with the app imported "
                             "from the working directory (what `make run` does first)")
    args = parser.parse_args(argv)
    if args.history:
        try:
            report = seed_history_here()
        except Exception as exc:  # an app without these routes: a warning, like the HTTP seed
            report = SeedReport(warnings=[f"history: {type(exc).__name__}: {exc}"])
            print(f"seed: WARNING history: {type(exc).__name__}: {exc}", flush=True)
        for item in report.created:
            print(f"seeded {item}", flush=True)
        return 0 if not report.warnings else 1
    report = seed(args.api, args.key)
    print(json.dumps(report.__dict__, indent=2))
    return 0 if not report.warnings else 1


if __name__ == "__main__":
    sys.exit(main())

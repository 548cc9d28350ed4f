"""The measured operations, the world they run in, and the floor reference route.

Every operation is driven through ``chalice.test.Client`` on the real app, with the headers a
frontend sends (a Bearer token; an ``Idempotency-Key`` on money POSTs). Work that only makes
the next repetition possible (a fresh quote before a confirm, a restore before a suspend) is
done in ``prepare``, outside the timed and counted window.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.env import ROOT

_ids = itertools.count(1)
OWNER_PASSWORD = "bench-owner-password-1"
SECONDARY_PRICES = {"basic": "0.20", "premium": "0.30"}
REPORT_FROM, REPORT_TO = "2026-01-01", "2026-01-31"  # 31 days
USAGE_DAY = "2026-01-15"


@dataclass
class Answer:
    """A decoded HTTP answer."""

    status: int
    body: Any

    @property
    def error_code(self) -> str | None:
        """``error.code`` of an error answer."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("code")
        return None


def call(client: Any, method: str, path: str, *, token: str | None = None, body: Any = None,
         platform_key: str | None = None, idempotency_key: str | None = None) -> Answer:
    """One request through the test client."""
    headers = {"Content-Type": "application/json"}
    bearer = platform_key or token
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    payload = json.dumps(body).encode() if body is not None else None
    response = getattr(client.http, method.lower())(path, headers=headers, body=payload)
    text = response.body.decode() if isinstance(response.body, bytes) else response.body
    try:
        decoded = json.loads(text) if text else None
    except ValueError:
        decoded = text
    return Answer(response.status_code, decoded)


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def has_route(app: Any, method: str, path: str) -> bool:
    """Whether the app serves ``method path`` (URI parameter names ignored)."""
    wanted = _shape(path)
    return any(_shape(p) == wanted and method.upper() in methods
               for p, methods in app.routes.items())


class SetupFailed(RuntimeError):
    """The world could not be built (an answer we did not expect)."""


def expect(answer: Answer, step: str, *statuses: int) -> Answer:
    """Stop the setup with a readable reason when ``answer`` is not one of ``statuses``."""
    if answer.status not in statuses:
        raise SetupFailed(f"{step}: HTTP {answer.status} {answer.error_code or ''} "
                          f"{json.dumps(answer.body)[:300]}")
    return answer


@dataclass
class World:
    """One agency set up for the benchmark: its ids, the owner's token, what is missing."""

    client: Any
    app: Any
    platform_key: str
    agency_id: str = ""
    primary_id: str = ""
    secondary_id: str = ""
    owner_email: str = ""
    owner_token: str = ""
    notes: list[str] = field(default_factory=list)
    stripe_ready: bool = False
    restore: Callable[[], None] | None = None  # back to the post-setup table (untimed)

    def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        """A request as the agency owner (or the platform with ``platform=True``)."""
        if kwargs.pop("platform", False):
            kwargs["platform_key"] = self.platform_key
        else:
            kwargs.setdefault("token", self.owner_token)
        return call(self.client, method, path, **kwargs)


def unique(prefix: str) -> str:
    """A fresh id for idempotency keys, call ids, emails."""
    return f"{prefix}-{next(_ids):07d}"


def create_agency(world: World, name: str = "Bench Agency") -> tuple[str, str, str]:
    """Create an agency through the platform route; returns (agency id, primary id, email)."""
    email = f"{unique('owner')}@bench.example.com"
    created = expect(world.call("POST", "/v1/platform/agencies", platform=True, body={
        "name": name, "owner_email": email, "owner_password": OWNER_PASSWORD,
        "plan": "agency_pro", "subscription_start": "2026-01-31",
    }), "create agency", 201)
    return (created.body["agency"]["id"], created.body["primary_subaccount"]["id"], email)


def login(world: World, email: str) -> str:
    """Sign in; the access token."""
    answer = expect(call(world.client, "POST", "/v1/auth/login",
                         body={"email": email, "password": OWNER_PASSWORD}), "login", 200)
    return answer.body["access_token"]


def create_secondary(world: World) -> str:
    """A client sub-account: via ``POST /v1/subaccounts``, else written through the store."""
    if has_route(world.app, "POST", "/v1/subaccounts"):
        answer = expect(world.call("POST", "/v1/subaccounts", body={
            "name": "Bench Client", "login_email": f"{unique('client')}@bench.example.com",
            "prices": SECONDARY_PRICES, "subscription_start": "2026-01-15",
        }), "create sub-account", 201)
        body = answer.body
        return (body.get("subaccount") or body)["id"]
    world.notes.append("secondary sub-account written through the store: "
                       "POST /v1/subaccounts is missing")
    return _store_secondary(world.agency_id)


def _store_secondary(agency_id: str) -> str:
    """Fallback while ``POST /v1/subaccounts`` does not exist: the items the route would write."""
    from chalicelib.domain.money import parse_usd
    from chalicelib.services.agencies import new_id
    from chalicelib.store import keys
    from chalicelib.store.accounts import Subaccount, SubaccountPointer
    from chalicelib.store.base import utcnow
    from chalicelib.store.transact import commit, save

    sid = new_id("sub")
    sub = Subaccount(keys.agency_pk(agency_id), keys.subaccount_sk(sid), agency_id=agency_id,
                     subaccount_id=sid, name="Bench Client", is_primary=False,
                     price_basic=parse_usd(SECONDARY_PRICES["basic"]),
                     price_premium=parse_usd(SECONDARY_PRICES["premium"]),
                     subscription_start="2026-01-15", created_at=utcnow())
    commit([save(sub), save(SubaccountPointer(keys.subaccount_pointer_pk(sid), "SUBID",
                                              agency_id=agency_id))])
    return sid


def grant(world: World, subaccount_id: str, asset: str, amount: str) -> None:
    """Platform grant of minutes (an adjustment against platform supply)."""
    expect(world.call("POST", "/v1/platform/adjustments", platform=True,
                      idempotency_key=unique("grant"), body={
                          "subaccount_id": subaccount_id, "asset": asset, "amount": amount,
                          "reason": "benchmark float"}), f"grant {asset}", 201)


def build_world(client: Any, app: Any, platform_key: str, *, stripe: bool,
                usage_minutes: int) -> World:
    """The agency every operation runs against."""
    world = World(client, app, platform_key)
    world.agency_id, world.primary_id, world.owner_email = create_agency(world)
    world.owner_token = login(world, world.owner_email)
    world.secondary_id = create_secondary(world)
    grant(world, world.primary_id, "premium_minutes", "100000")
    grant(world, world.secondary_id, "premium_minutes", str(usage_minutes))
    if stripe and has_route(app, "POST", "/v1/subaccounts/{id}/payment-methods"):
        expect(world.call("POST", f"/v1/subaccounts/{world.secondary_id}/payment-methods",
                          body={"payment_method": "pm_card_visa"}), "attach card", 200, 201)
        world.stripe_ready = True
    return world


# -- operations ---------------------------------------------------------------------------


@dataclass
class Operation:
    """One row of the table."""

    name: str
    routes: tuple[tuple[str, str], ...]  # what must exist for the row to be measured
    run: Callable[[World, Any], Answer]
    statuses: tuple[int, ...]
    prepare: Callable[[World], Any] = lambda world: None
    money: bool = False
    needs_stripe: bool = False
    check: Callable[[Answer], str | None] = lambda answer: None
    note: str = ""
    # TransactWriteItems a money row must make: 1 moves the value; a purchase also records
    # its intent (and the in-flight mark removal checks) before Stripe is called.
    transactions: int = 1


def _quote(world: World) -> Answer:
    return world.call("POST", "/v1/transfers/quotes", idempotency_key=unique("quote"), body={
        "from_subaccount_id": world.primary_id, "to_subaccount_id": world.secondary_id,
        "asset": "premium_minutes", "amount": "1"})


def _fresh_quote(world: World) -> str:
    return expect(_quote(world), "quote", 201).body["quote_id"]


def _usage_records(world: World) -> list[dict[str, Any]]:
    batch = unique("batch")
    return [{"call_id": f"{batch}-{n:03d}", "subaccount_id": world.secondary_id,
             "tier": "premium", "duration_seconds": 30, "direction": "outbound",
             "status": "completed", "started_at": f"{USAGE_DAY}T10:{n % 60:02d}:00Z"}
            for n in range(100)]


#: Sub-accounts of the second usage row: 10 calls each (issue 20's batch).
USAGE_SUBACCOUNTS = 10


def _usage_records_of_ten(world: World) -> list[dict[str, Any]]:
    """100 calls of 10 sub-accounts: the secondary and 9 more, created and funded now (the
    table is back to its post-setup state before every repetition, so each starts alike)."""
    sids = [world.secondary_id] + [create_secondary(world)
                                   for _ in range(USAGE_SUBACCOUNTS - 1)]
    for sid in sids[1:]:
        grant(world, sid, "premium_minutes", "10")
    batch = unique("batch")
    return [{"call_id": f"{batch}-{n:03d}", "subaccount_id": sids[n % USAGE_SUBACCOUNTS],
             "tier": "premium", "duration_seconds": 30, "direction": "outbound",
             "status": "completed", "started_at": f"{USAGE_DAY}T10:{n % 60:02d}:00Z"}
            for n in range(100)]


def _all_recorded(answer: Answer) -> str | None:
    body = answer.body if isinstance(answer.body, dict) else {}
    if body.get("recorded") == 100:
        return None
    others = [r for r in body.get("results", []) if r.get("status") != "recorded"]
    return f"recorded {body.get('recorded')} of 100; first other: {str(others[:1])[:300]}"


def _restore_if_suspended(world: World) -> None:
    if world.restore is not None:
        return  # the table is already back to its post-setup state: active
    world.call("POST", f"/v1/subaccounts/{world.secondary_id}/restore", body={})


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "login", (("POST", "/v1/auth/login"),),
        lambda w, _: call(w.client, "POST", "/v1/auth/login",
                          body={"email": w.owner_email, "password": OWNER_PASSWORD}),
        (200,), note="argon2 verify included"),
    Operation(
        "get wallet", (("GET", "/v1/subaccounts/{id}/wallet"),),
        lambda w, _: w.call("GET", f"/v1/subaccounts/{w.secondary_id}/wallet"), (200,)),
    Operation(
        "list sub-accounts", (("GET", "/v1/subaccounts"),),
        lambda w, _: w.call("GET", "/v1/subaccounts"), (200,)),
    Operation(
        "quote", (("POST", "/v1/transfers/quotes"),), lambda w, _: _quote(w), (201,)),
    Operation(
        "confirm move", (("POST", "/v1/transfers/quotes"), ("POST", "/v1/transfers")),
        lambda w, quote_id: w.call("POST", "/v1/transfers", idempotency_key=unique("move"),
                                   body={"quote_id": quote_id}),
        (201,), prepare=_fresh_quote, money=True),
    Operation(
        "purchase", (("POST", "/v1/subaccounts/{id}/purchases"),
                     ("POST", "/v1/subaccounts/{id}/payment-methods")),
        lambda w, _: w.call("POST", f"/v1/subaccounts/{w.secondary_id}/purchases",
                            idempotency_key=unique("purchase"),
                            body={"tier": "premium", "minutes": 10}),
        (201,), money=True, needs_stripe=True, transactions=2,
        note="2 TransactWriteItems: the intent before Stripe, the money after"),
    Operation(
        "usage batch of 100", (("POST", "/v1/platform/usage"),),
        lambda w, records: w.call("POST", "/v1/platform/usage", platform=True,
                                  body={"records": records}),
        (200,), prepare=_usage_records, check=_all_recorded,
        note="100 calls of one sub-account per request"),
    Operation(
        "usage batch of 100 (10 sub-accounts)", (("POST", "/v1/platform/usage"),),
        lambda w, records: w.call("POST", "/v1/platform/usage", platform=True,
                                  body={"records": records}),
        (200,), prepare=_usage_records_of_ten, check=_all_recorded,
        note="10 calls of each of 10 sub-accounts per request"),
    Operation(
        "suspend", (("POST", "/v1/subaccounts/{id}/suspend"),
                    ("POST", "/v1/subaccounts/{id}/restore")),
        lambda w, _: w.call("POST", f"/v1/subaccounts/{w.secondary_id}/suspend",
                            body={"note": "benchmark"}),
        (200,), prepare=_restore_if_suspended),
    Operation(
        "report for 31 days", (("GET", "/v1/reports/subaccounts/{id}"),),
        lambda w, _: w.call("GET", f"/v1/reports/subaccounts/{w.secondary_id}"
                                   f"?from={REPORT_FROM}&to={REPORT_TO}"), (200,)),
    Operation(
        "report list for 31 days", (("GET", "/v1/reports/subaccounts"),),
        lambda w, _: w.call("GET", f"/v1/reports/subaccounts?from={REPORT_FROM}&to={REPORT_TO}"),
        (200,), note="every sub-account's counters in one Query of the agency-by-date index"),
)

OPERATION_NAMES = tuple(op.name for op in OPERATIONS)


# -- the floor ------------------------------------------------------------------------------


def floor_app(agency_id: str) -> Any:
    """A throwaway Chalice app: one route, one PynamoDB GetItem on the same table."""
    from chalice import Chalice

    from chalicelib.store.accounts import Agency

    app = Chalice(app_name="bench-floor")

    @app.route("/floor", methods=["GET"])
    def floor() -> dict[str, Any]:
        agency = Agency.get(*Agency.key(agency_id))
        return {"id": agency.agency_id}

    return app


def floor_operation() -> Operation:
    """The reference row: the same test client, a bare route, one GetItem."""
    return Operation("floor (bare, 1 GetItem)", (),
                     lambda w, _: call(w.client, "GET", "/floor"), (200,))


def project_dir() -> str:
    """Where ``.chalice/config.json`` lives."""
    return str(ROOT)


# -- N+1 probe -------------------------------------------------------------------------------


GROWTH_PROBES: tuple[tuple[str, str], ...] = (
    ("list sub-accounts", "/v1/subaccounts"),
    ("report list, 31 days", f"/v1/reports/subaccounts?from={REPORT_FROM}&to={REPORT_TO}"),
    ("get agency", "/v1/agency"),
)


def probe_growth(world: World, added: int = 4) -> list[dict[str, Any]]:
    """Calls of list-like GETs before and after ``added`` more sub-accounts (N+1 shows up as
    calls growing with the count). Changes the world: run it last."""
    from bench.instrument import recording

    def counts() -> dict[str, int | None]:
        found: dict[str, int | None] = {}
        for name, path in GROWTH_PROBES:
            if not has_route(world.app, "GET", path.split("?")[0]):
                found[name] = None
                continue
            with recording() as rec:
                answer = world.call("GET", path)
            found[name] = rec.dynamodb_total if answer.status == 200 else None
        return found

    before_subs = 2
    before = counts()
    for _ in range(added):
        create_secondary(world)
    after = counts()
    return [{"name": name, "path": path, "subaccounts_before": before_subs,
             "subaccounts_after": before_subs + added, "calls_before": before[name],
             "calls_after": after[name],
             "extra_calls_per_subaccount": (None if before[name] is None or after[name] is None
                                            else (after[name] - before[name]) / added)}
            for name, path in GROWTH_PROBES]

"""Role × route matrix: every route of the live route table, called by seven callers.

Columns: the five roles of agency A (limited users are granted the ``shared``, ``second`` and
``suspended`` sub-accounts), an anonymous caller, and an Agency Admin of agency B (A's ids
answer 404 for it; agency-level routes act on B). The expected statuses are SPEC's role
matrix, written out by hand here (not computed from ``chalicelib.domain.roles``, which is
what they check). Cells expected to succeed arrange their own fresh target (a sub-account to
suspend or remove, a card to delete, a quote to confirm...), so cells are independent.

Three smaller tables add the other dimensions of SPEC's matrix: the primary account (agency
roles only), a sub-account not granted to the caller (404, never 403), and a suspended
sub-account (423 for writes by sub-account users, reads still work).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e.identity.support import fresh_email, invite, join, token_from_outbox
from tests.helpers import call, create_agency
from tests.security.support import (
    CALLERS,
    RESOURCE_KINDS,
    World,
    built_world,
    phone_number,
    unique,
)


@pytest.fixture(scope="module")
def world(stripe_emulator: str) -> Iterator[World]:
    """Agencies A and B with every role (built once for the module)."""
    with built_world(stripe_emulator) as built:
        _connect(built)
        yield built


def _connect(world: World) -> None:
    """Onboard A on Stripe Connect (the dashboard-link cells need a connected account)."""
    import requests

    from tests.stripe_fixtures import wait_for

    started = world.as_owner("POST", "/v1/agency/connect/onboarding")
    account = started.body["account_id"]
    done = requests.post(f"{world.emulator}/v1/test_helpers/accounts/{account}/"
                         "complete_onboarding", headers={"Authorization": "Bearer sk_test_local"},
                         timeout=10)
    assert done.status_code == 200, done.text
    wait_for(lambda: world.as_owner("GET", "/v1/agency/connect").body["status"] == "connected")


@dataclass
class Req:
    """What one cell sends."""

    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    token: str | None = None  # replaces the caller's token (throwaway agencies)
    raw: bytes | None = None


Build = Callable[[World, str, bool], Req]  # (world, caller, success expected)


@dataclass(frozen=True)
class Row:
    """One route: the request each caller sends and the status SPEC expects."""

    method: str
    path: str
    build: Build
    expected: dict[str, int]

    @property
    def key(self) -> str:
        """``METHOD /path`` as in the route table."""
        return f"{self.method} {self.path}"


def _cols(owner: int, admin: int, member: int, sub_admin: int, sub_member: int,
          anonymous: int, other: int) -> dict[str, int]:
    return dict(zip(CALLERS, (owner, admin, member, sub_admin, sub_member, anonymous, other),
                    strict=True))


def managers(ok: int, other: int) -> dict[str, int]:
    """Owner and Agency Admin only (SPEC: settings, users, sub-account lifecycle...)."""
    return _cols(ok, ok, 403, 403, 403, 401, other)


def agency_roles(ok: int, other: int) -> dict[str, int]:
    """Owner, Agency Admin, Agency Member (moves, overview)."""
    return _cols(ok, ok, ok, 403, 403, 401, other)


def everyone(ok: int, other: int) -> dict[str, int]:
    """Every role of the agency (on a sub-account granted to all)."""
    return _cols(ok, ok, ok, ok, ok, 401, other)


def resource_writers(ok: int, other: int) -> dict[str, int]:
    """SPEC resources: Sub Member is read-only."""
    return _cols(ok, ok, ok, ok, 403, 401, other)


PLATFORM = _cols(401, 401, 401, 401, 401, 401, 401)  # user tokens are not the platform key


def public(ok: int) -> dict[str, int]:
    """Routes without authentication: the same answer whoever calls."""
    return _cols(ok, ok, ok, ok, ok, ok, ok)


# --------------------------------------------------------------------------- request builders

def fixed(path: str, body: Any = None, **headers: str) -> Build:
    """The same request for every cell."""
    return lambda w, caller, ok: Req(path, body, dict(headers))


def on_sub(suffix: str = "", body: Any = None, name: str = "shared") -> Build:
    """A request on one of A's sub-accounts."""
    return lambda w, caller, ok: Req(f"/v1/subaccounts/{w.subs[name]}{suffix}", body)


def _fresh_sub_if(ok: bool, w: World, shared: str = "shared") -> str:
    return w.new_subaccount() if ok else w.subs[shared]


def suspend(w: World, caller: str, ok: bool) -> Req:
    return Req(f"/v1/subaccounts/{_fresh_sub_if(ok, w)}/suspend", {"note": "matrix"})


def restore(w: World, caller: str, ok: bool) -> Req:
    if not ok:
        return Req(f"/v1/subaccounts/{w.subs['suspended']}/restore")
    sid = w.new_subaccount()
    w.as_owner("POST", f"/v1/subaccounts/{sid}/suspend", {"note": "to restore"})
    return Req(f"/v1/subaccounts/{sid}/restore")


def removal(w: World, caller: str, ok: bool) -> Req:
    sid = _fresh_sub_if(ok, w)
    return Req(f"/v1/subaccounts/{sid}/removal", {"minutes_destination_id": w.subs["primary"]},
               {"Idempotency-Key": unique("removal")})


ALLOCATION = {"basic_minutes": 10, "premium_minutes": 0, "enabled": True}
RECHARGE = {"tier": "premium", "threshold_minutes": 10, "recharge_minutes": 100,
            "enabled": True}


def allocation_rule(method: str) -> Build:
    def build(w: World, caller: str, ok: bool) -> Req:
        sid = w.subs["shared"]
        if method != "PUT":
            w.as_owner("PUT", f"/v1/subaccounts/{sid}/auto-allocation", ALLOCATION)
        return Req(f"/v1/subaccounts/{sid}/auto-allocation",
                   ALLOCATION if method == "PUT" else None)
    return build


def recharge_rule(method: str) -> Build:
    def build(w: World, caller: str, ok: bool) -> Req:
        sid = w.subs["shared"]
        if method != "PUT":
            w.as_owner("PUT", f"/v1/subaccounts/{sid}/auto-recharge", RECHARGE)
            return Req(f"/v1/subaccounts/{sid}/auto-recharge?tier=premium")
        return Req(f"/v1/subaccounts/{sid}/auto-recharge", RECHARGE)
    return build


def card_route(suffix: str) -> Build:
    def build(w: World, caller: str, ok: bool) -> Req:
        sid = w.subs["shared"]
        if ok or "pm" not in w.cache:
            pm = w.add_card(sid)
            if not ok:
                w.cache["pm"] = pm
        else:
            pm = w.cache["pm"]
        return Req(f"/v1/subaccounts/{sid}/payment-methods/{pm}{suffix}")
    return build


def purchase(w: World, caller: str, ok: bool) -> Req:
    return Req(f"/v1/subaccounts/{w.subs['shared']}/purchases",
               {"tier": "premium", "minutes": 10}, {"Idempotency-Key": unique("purchase")})


def resource_item(kind: str, method: str) -> Build:
    def build(w: World, caller: str, ok: bool) -> Req:
        sid = w.subs["shared"]
        key = f"resource:{kind}"
        if ok or key not in w.cache:
            rid = w.new_resource(sid, kind)
            if not ok:
                w.cache[key] = rid
        else:
            rid = w.cache[key]
        body = {"status": RESOURCE_KINDS[kind][1]} if method == "PATCH" else None
        return Req(f"/v1/subaccounts/{sid}/{kind}/{rid}", body)
    return build


def create_resource(kind: str) -> Build:
    def build(w: World, caller: str, ok: bool) -> Req:
        body = dict(RESOURCE_KINDS[kind][0])
        if kind == "phone-numbers":  # a number is unique per sub-account
            body = {"number": phone_number()}
        return Req(f"/v1/subaccounts/{w.subs['shared']}/{kind}", body)
    return build


def quote(w: World, caller: str, ok: bool) -> Req:
    return Req("/v1/transfers/quotes", {
        "from_subaccount_id": w.subs["shared"], "to_subaccount_id": w.subs["second"],
        "asset": "premium_minutes", "amount": "1"}, {"Idempotency-Key": unique("quote")})


def confirm(w: World, caller: str, ok: bool) -> Req:
    maker = w.token(caller) if ok else w.a.owner_token
    made = w.quote(maker, w.subs["shared"], w.subs["second"])  # type: ignore[arg-type]
    assert made.status == 201, made.body
    return Req("/v1/transfers", {"quote_id": made.body["quote_id"]},
               {"Idempotency-Key": unique("confirm")})


def _member_id(w: World, ok: bool) -> str:
    if ok or "member" not in w.cache:
        user_id = join(w.client, w.a.owner_token, "agency_member").user_id
        if ok:
            return user_id
        w.cache["member"] = user_id
    return w.cache["member"]


def _invitation_id(w: World, ok: bool) -> str:
    if ok or "invitation" not in w.cache:
        answer = invite(w.client, w.a.owner_token, fresh_email("matrix"), "agency_member")
        assert answer.status == 201, answer.body
        if ok:
            return answer.body["id"]
        w.cache["invitation"] = answer.body["id"]
    return w.cache["invitation"]


def ownership_transfer(w: World, caller: str, ok: bool) -> Req:
    if caller == "owner":  # a throwaway agency: the shared world keeps its owner
        agency = create_agency(w.client)
        target = join(w.client, agency.owner_token, "agency_admin")
        return Req("/v1/agency/ownership-transfer", {"user_id": target.user_id},
                   token=agency.owner_token)
    return Req("/v1/agency/ownership-transfer",
               {"user_id": w.members["agency_member"].user_id})


def close_agency(w: World, caller: str, ok: bool) -> Req:
    if caller == "owner":
        return Req("/v1/agency", token=create_agency(w.client).owner_token)
    return Req("/v1/agency")


def login(w: World, caller: str, ok: bool) -> Req:
    return Req("/v1/auth/login", {"email": w.a.owner_email, "password": w.a.owner_password})


def logout(w: World, caller: str, ok: bool) -> Req:
    """A session of its own for each caller: logging out must not end the world's tokens."""
    from tests.helpers import login as sign_in

    if caller == "anonymous":
        return Req("/v1/auth/logout")
    if caller == "owner":
        email, password = w.a.owner_email, w.a.owner_password
    else:
        member = w.b_admin if caller == "other_agency" else w.members[caller]
        email, password = member.email, member.password
    return Req("/v1/auth/logout", token=sign_in(w.client, email, password))


def accept_invitation(w: World, caller: str, ok: bool) -> Req:
    email = fresh_email("acceptor")
    assert invite(w.client, w.a.owner_token, email, "agency_member").status == 201
    return Req("/v1/auth/invitations/accept",
               {"token": token_from_outbox(w.client, email), "password": "accepted-pass-1"})


def adjustment(w: World, caller: str, ok: bool) -> Req:
    return Req("/v1/platform/adjustments", {"subaccount_id": w.subs["shared"],
                                            "asset": "premium_minutes", "amount": "5",
                                            "reason": "matrix"})


REPORT_RANGE = "?from=2026-01-01&to=2026-01-31"

ROWS: list[Row] = [
    # identity and the agency
    Row("GET", "/v1/me", fixed("/v1/me"), everyone(200, 200)),
    Row("GET", "/v1/agency", fixed("/v1/agency"), everyone(200, 200)),
    Row("PATCH", "/v1/agency", fixed("/v1/agency", {"timezone": "UTC"}), managers(200, 200)),
    Row("POST", "/v1/agency/ownership-transfer", ownership_transfer,
        _cols(200, 403, 403, 403, 403, 401, 403)),
    Row("DELETE", "/v1/agency", close_agency, _cols(204, 403, 403, 403, 403, 401, 403)),
    Row("GET", "/v1/users", fixed("/v1/users"), managers(200, 200)),
    Row("POST", "/v1/users",
        lambda w, c, ok: Req("/v1/users", {"email": fresh_email("matrix"),
                                           "role": "agency_member",
                                           "subaccount_access": "all"}),
        managers(201, 201)),
    Row("PATCH", "/v1/users/{user_id}",
        lambda w, c, ok: Req(f"/v1/users/{_member_id(w, ok)}", {"role": "agency_admin"}),
        managers(200, 404)),
    Row("DELETE", "/v1/users/{user_id}",
        lambda w, c, ok: Req(f"/v1/users/{_member_id(w, ok)}"), managers(204, 404)),
    Row("GET", "/v1/invitations", fixed("/v1/invitations"), managers(200, 200)),
    Row("POST", "/v1/invitations",
        lambda w, c, ok: Req("/v1/invitations", {"email": fresh_email("matrix"),
                                                 "role": "subaccount_member",
                                                 "subaccount_access": "all"}),
        managers(201, 201)),
    Row("POST", "/v1/invitations/{invitation_id}/resend",
        lambda w, c, ok: Req(f"/v1/invitations/{_invitation_id(w, ok)}/resend"),
        managers(200, 404)),
    Row("DELETE", "/v1/invitations/{invitation_id}",
        lambda w, c, ok: Req(f"/v1/invitations/{_invitation_id(w, ok)}"), managers(204, 404)),
    Row("GET", "/v1/audit-log", fixed("/v1/audit-log"), managers(200, 200)),
    Row("GET", "/v1/notifications", fixed("/v1/notifications"), everyone(200, 200)),
    # Connect, payouts, overview ("agency settings, plan, Connect, payouts, profit")
    Row("GET", "/v1/agency/connect", fixed("/v1/agency/connect"), managers(200, 200)),
    Row("POST", "/v1/agency/connect/onboarding", fixed("/v1/agency/connect/onboarding"),
        managers(200, 200)),
    Row("POST", "/v1/agency/connect/dashboard-link", fixed("/v1/agency/connect/dashboard-link"),
        managers(200, 409)),  # B never connected: 409 connect_not_connected
    Row("GET", "/v1/agency/payouts", fixed("/v1/agency/payouts"), managers(200, 200)),
    Row("GET", "/v1/agency/overview", fixed("/v1/agency/overview"), agency_roles(200, 200)),
    # sub-accounts
    Row("GET", "/v1/subaccounts", fixed("/v1/subaccounts"), everyone(200, 200)),
    Row("POST", "/v1/subaccounts",
        lambda w, c, ok: Req("/v1/subaccounts", {
            "name": "Matrix client", "login_email": f"{unique('m')}@c.example.com",
            "prices": {"basic": "0.15", "premium": "0.25"}}),
        managers(201, 201)),
    Row("GET", "/v1/subaccounts/{subaccount_id}", on_sub(), everyone(200, 404)),
    Row("PATCH", "/v1/subaccounts/{subaccount_id}", on_sub("", {"name": "Renamed client"}),
        managers(200, 404)),
    Row("POST", "/v1/subaccounts/{subaccount_id}/suspend", suspend, managers(200, 404)),
    Row("POST", "/v1/subaccounts/{subaccount_id}/restore", restore, managers(200, 404)),
    Row("GET", "/v1/subaccounts/{subaccount_id}/removal", on_sub("/removal"),
        managers(200, 404)),
    Row("POST", "/v1/subaccounts/{subaccount_id}/removal", removal, managers(200, 404)),
    Row("GET", "/v1/subaccounts/{subaccount_id}/wallet", on_sub("/wallet"), everyone(200, 404)),
    Row("GET", "/v1/subaccounts/{subaccount_id}/activity", on_sub("/activity"),
        everyone(200, 404)),
    # moves
    Row("POST", "/v1/transfers/quotes", quote, agency_roles(201, 404)),
    Row("POST", "/v1/transfers", confirm, agency_roles(201, 404)),
    Row("GET", "/v1/transfers", fixed("/v1/transfers"), everyone(200, 200)),
    # payments
    Row("GET", "/v1/subaccounts/{subaccount_id}/payment-methods", on_sub("/payment-methods"),
        everyone(200, 404)),
    Row("POST", "/v1/subaccounts/{subaccount_id}/payment-methods",
        on_sub("/payment-methods", {"payment_method": "pm_card_visa"}), everyone(201, 404)),
    Row("DELETE", "/v1/subaccounts/{subaccount_id}/payment-methods/{payment_method_id}",
        card_route(""), everyone(204, 404)),
    Row("POST", "/v1/subaccounts/{subaccount_id}/payment-methods/{payment_method_id}/default",
        card_route("/default"), everyone(200, 404)),
    Row("POST", "/v1/subaccounts/{subaccount_id}/purchases", purchase, everyone(201, 404)),
    Row("GET", "/v1/subaccounts/{subaccount_id}/auto-allocation", allocation_rule("GET"),
        managers(200, 404)),
    Row("PUT", "/v1/subaccounts/{subaccount_id}/auto-allocation", allocation_rule("PUT"),
        managers(200, 404)),
    Row("DELETE", "/v1/subaccounts/{subaccount_id}/auto-allocation", allocation_rule("DELETE"),
        managers(204, 404)),
    Row("GET", "/v1/subaccounts/{subaccount_id}/auto-recharge", recharge_rule("GET"),
        everyone(200, 404)),
    Row("PUT", "/v1/subaccounts/{subaccount_id}/auto-recharge", recharge_rule("PUT"),
        everyone(200, 404)),
    Row("DELETE", "/v1/subaccounts/{subaccount_id}/auto-recharge", recharge_rule("DELETE"),
        everyone(204, 404)),
    # reports
    Row("GET", "/v1/reports/subaccounts", fixed(f"/v1/reports/subaccounts{REPORT_RANGE}"),
        everyone(200, 200)),
    Row("GET", "/v1/reports/subaccounts/{subaccount_id}", lambda w, c, ok: Req(
        f"/v1/reports/subaccounts/{w.subs['shared']}{REPORT_RANGE}"), everyone(200, 404)),
    # public routes: the bearer token changes nothing
    Row("GET", "/v1/health", fixed("/v1/health"), public(200)),
    Row("GET", "/v1/openapi.json", fixed("/v1/openapi.json"), public(200)),
    Row("POST", "/v1/auth/login", login, public(200)),
    Row("POST", "/v1/auth/invitations/accept", accept_invitation, public(200)),
    Row("POST", "/v1/auth/logout", logout, _cols(204, 204, 204, 204, 204, 401, 204)),
    Row("POST", "/v1/stripe/webhook",
        lambda w, c, ok: Req("/v1/stripe/webhook", {"id": "evt_x", "type": "charge.refunded"},
                             {"Stripe-Signature": "t=1,v1=00"}),
        public(400)),
    # platform routes: no user token opens them
    Row("POST", "/v1/platform/agencies", fixed("/v1/platform/agencies", {
        "name": "Nope", "owner_email": "nope@example.com", "owner_password": "password-123",
        "plan": "agency_pro", "subscription_start": "2026-01-01"}), PLATFORM),
    Row("POST", "/v1/platform/jobs/{name}/runs", fixed("/v1/platform/jobs/payout-sweep/runs",
                                                       {}), PLATFORM),
    Row("GET", "/v1/platform/outbox", fixed("/v1/platform/outbox"), PLATFORM),
    Row("POST", "/v1/platform/usage", fixed("/v1/platform/usage", {"records": [{}]}), PLATFORM),
    Row("POST", "/v1/platform/adjustments", adjustment, PLATFORM),
    Row("POST", "/v1/platform/calls/authorize", lambda w, c, ok: Req(
        "/v1/platform/calls/authorize", {"subaccount_id": w.subs["shared"], "tier": "basic"}),
        PLATFORM),
]

for _kind, (_body, _status) in RESOURCE_KINDS.items():
    _base = f"/v1/subaccounts/{{subaccount_id}}/{_kind}"
    ROWS += [
        Row("GET", _base, on_sub(f"/{_kind}"), everyone(200, 404)),
        Row("POST", _base, create_resource(_kind), resource_writers(201, 404)),
        Row("PATCH", f"{_base}/{{resource_id}}", resource_item(_kind, "PATCH"),
            resource_writers(200, 404)),
        Row("DELETE", f"{_base}/{{resource_id}}", resource_item(_kind, "DELETE"),
            resource_writers(204, 404)),
    ]

#: Cells that fail because of an app bug (the lead removes a mark once fixed).
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _cells() -> list[Any]:
    cells = []
    for row in ROWS:
        for caller in CALLERS:
            marks = []
            if (row.key, caller) in KNOWN_BUGS:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[(row.key, caller)]))
            cells.append(pytest.param(row, caller, id=f"{row.key}-{caller}", marks=marks))
    return cells


def send(world: World, method: str, req: Req, caller: str) -> Any:
    """One cell's request."""
    token = req.token or world.token(caller)
    return call(world.client, method, req.path, token=token, body=req.body, raw=req.raw,
                headers=req.headers)


def test_the_matrix_covers_every_route_of_the_route_table() -> None:
    """A new route must get a row here (and so an expectation per caller)."""
    from app import app  # noqa: F401  (registers every route)
    from chalicelib.api.http import ROUTES

    routes = {f"{spec.method} {spec.path}" for spec in ROUTES}
    rows = [row.key for row in ROWS]
    assert len(rows) == len(set(rows)), "a route has two rows"
    assert routes == set(rows), {"missing": routes - set(rows), "unknown": set(rows) - routes}


@pytest.mark.parametrize(("row", "caller"), _cells())
def test_role_route_matrix(world: World, row: Row, caller: str) -> None:
    """The status SPEC's role matrix gives this caller on this route."""
    expected = row.expected[caller]
    req = row.build(world, caller, expected < 300)
    answer = send(world, row.method, req, caller)
    assert answer.status == expected, (row.key, caller, answer.status, answer.body)
    if expected >= 400:
        assert answer.error_code, answer.body  # the SPEC error envelope


# --------------------------------------------------------------------------- other dimensions

def _roles(owner: int, admin: int, member: int, sub_admin: int, sub_member: int
           ) -> dict[str, int]:
    return dict(zip(CALLERS[:5], (owner, admin, member, sub_admin, sub_member), strict=True))


def _purchase_on(name: str) -> Build:
    def build(w: World, caller: str, ok: bool) -> Req:
        if name == "primary" and "primary-card" not in w.cache:
            w.cache["primary-card"] = w.add_card(w.subs["primary"])
        return Req(f"/v1/subaccounts/{w.subs[name]}/purchases",
                   {"tier": "premium", "minutes": 10}, {"Idempotency-Key": unique("purchase")})
    return build


def _quote_from(name: str) -> Build:
    return lambda w, c, ok: Req("/v1/transfers/quotes", {
        "from_subaccount_id": w.subs[name], "to_subaccount_id": w.subs["second"],
        "asset": "premium_minutes", "amount": "1"}, {"Idempotency-Key": unique("quote")})


def _campaign_on(name: str) -> Build:
    return lambda w, c, ok: Req(f"/v1/subaccounts/{w.subs[name]}/campaigns", {"name": "x"})


def _card_on(name: str) -> Build:
    return lambda w, c, ok: Req(f"/v1/subaccounts/{w.subs[name]}/payment-methods",
                                {"payment_method": "pm_card_visa"})


def _recharge_on(name: str) -> Build:
    return lambda w, c, ok: Req(f"/v1/subaccounts/{w.subs[name]}/auto-recharge", RECHARGE)


def _recharge_rule_of(name: str) -> Build:
    def build(w: World, caller: str, ok: bool) -> Req:
        sid = w.subs[name]
        w.as_owner("PUT", f"/v1/subaccounts/{sid}/auto-recharge", RECHARGE)  # staff still may
        return Req(f"/v1/subaccounts/{sid}/auto-recharge?tier=premium")
    return build


def _get(name: str, suffix: str = "") -> Build:
    return lambda w, c, ok: Req(f"/v1/subaccounts/{w.subs[name]}{suffix}")


#: SPEC "use primary account: Owner, Admin, Member yes; sub-account roles no" — and what a
#: user may not see answers 404.
PRIMARY_ROWS = [
    ("GET primary", "GET", _get("primary"), _roles(200, 200, 200, 404, 404)),
    ("GET primary wallet", "GET", _get("primary", "/wallet"), _roles(200, 200, 200, 404, 404)),
    ("GET primary activity", "GET", _get("primary", "/activity"),
     _roles(200, 200, 200, 404, 404)),
    ("purchase on primary", "POST", _purchase_on("primary"), _roles(201, 201, 201, 404, 404)),
    ("campaign on primary", "POST", _campaign_on("primary"), _roles(201, 201, 201, 404, 404)),
    ("quote from primary", "POST", _quote_from("primary"), _roles(201, 201, 201, 404, 404)),
    ("remove primary", "POST", lambda w, c, ok: Req(
        f"/v1/subaccounts/{w.subs['primary']}/removal",
        {"minutes_destination_id": w.subs["shared"]}, {"Idempotency-Key": unique("rm")}),
     _roles(409, 409, 403, 404, 404)),
    ("suspend primary", "POST", lambda w, c, ok: Req(
        f"/v1/subaccounts/{w.subs['primary']}/suspend", {"note": "no"}),
     _roles(409, 409, 403, 404, 404)),
]

#: A sub-account granted to none of the limited users: 404 for them, never 403.
HIDDEN_ROWS = [
    ("GET hidden", "GET", _get("hidden"), _roles(200, 200, 404, 404, 404)),
    ("GET hidden wallet", "GET", _get("hidden", "/wallet"), _roles(200, 200, 404, 404, 404)),
    ("GET hidden report", "GET", lambda w, c, ok: Req(
        f"/v1/reports/subaccounts/{w.subs['hidden']}{REPORT_RANGE}"),
     _roles(200, 200, 404, 404, 404)),
    ("PATCH hidden", "PATCH", lambda w, c, ok: Req(f"/v1/subaccounts/{w.subs['hidden']}",
                                                    {"name": "Hidden client"}),
     _roles(200, 200, 404, 404, 404)),
    ("campaign on hidden", "POST", _campaign_on("hidden"), _roles(201, 201, 404, 404, 404)),
    ("card on hidden", "POST", _card_on("hidden"), _roles(201, 201, 404, 404, 404)),
    ("quote from hidden", "POST", _quote_from("hidden"), _roles(201, 201, 404, 404, 404)),
]

#: SPEC suspension: every write by sub-account users answers 423; reads still work; agency
#: staff still act (their actions are not "sub-account users writing").
SUSPENDED_ROWS = [
    ("GET suspended", "GET", _get("suspended"), _roles(200, 200, 200, 200, 200)),
    ("GET suspended wallet", "GET", _get("suspended", "/wallet"), _roles(200, 200, 200, 200, 200)),
    ("GET suspended campaigns", "GET", _get("suspended", "/campaigns"),
     _roles(200, 200, 200, 200, 200)),
    ("GET suspended cards", "GET", _get("suspended", "/payment-methods"),
     _roles(200, 200, 200, 200, 200)),
    ("GET suspended auto-recharge", "GET", _recharge_rule_of("suspended"),
     _roles(200, 200, 200, 200, 200)),
    ("campaign on suspended", "POST", _campaign_on("suspended"),
     _roles(201, 201, 201, 423, 403)),
    ("card on suspended", "POST", _card_on("suspended"), _roles(201, 201, 201, 423, 423)),
    ("purchase on suspended", "POST", _purchase_on("suspended"),
     _roles(201, 201, 201, 423, 423)),
    ("auto-recharge on suspended", "PUT", _recharge_on("suspended"),
     _roles(200, 200, 200, 423, 423)),
    ("quote from suspended", "POST", _quote_from("suspended"), _roles(201, 201, 201, 403, 403)),
]


#: Cells of the dimension tables that fail because of an app bug (cell id → reason).
KNOWN_DIMENSION_BUGS: dict[str, str] = {}


def _dimension_cells(rows: list[tuple[str, str, Build, dict[str, int]]]) -> list[Any]:
    cells = []
    for name, method, build, expected in rows:
        for caller, status in expected.items():
            cell_id = f"{name}-{caller}"
            marks = ([pytest.mark.xfail(strict=True, reason=KNOWN_DIMENSION_BUGS[cell_id])]
                     if cell_id in KNOWN_DIMENSION_BUGS else [])
            cells.append(pytest.param(method, build, caller, status, id=cell_id, marks=marks))
    return cells


@pytest.mark.parametrize(("method", "build", "caller", "expected"),
                         _dimension_cells(PRIMARY_ROWS))
def test_primary_account_is_for_agency_roles_only(world: World, method: str, build: Build,
                                                  caller: str, expected: int) -> None:
    """Agency roles use the primary; sub-account roles do not even see it."""
    answer = send(world, method, build(world, caller, expected < 300), caller)
    assert answer.status == expected, (caller, answer.status, answer.body)


@pytest.mark.parametrize(("method", "build", "caller", "expected"),
                         _dimension_cells(HIDDEN_ROWS))
def test_ungranted_subaccount_is_404_for_limited_users(world: World, method: str, build: Build,
                                                       caller: str, expected: int) -> None:
    """Outside a user's access, a sub-account does not exist for it."""
    answer = send(world, method, build(world, caller, expected < 300), caller)
    assert answer.status == expected, (caller, answer.status, answer.body)


@pytest.mark.parametrize(("method", "build", "caller", "expected"),
                         _dimension_cells(SUSPENDED_ROWS))
def test_suspended_subaccount_refuses_writes_of_its_users_with_423(
        world: World, method: str, build: Build, caller: str, expected: int) -> None:
    """423 ``subaccount_suspended`` carrying the agency's note; reads keep working."""
    answer = send(world, method, build(world, caller, expected < 300), caller)
    assert answer.status == expected, (caller, answer.status, answer.body)
    if expected == 423:
        assert answer.error_code == "subaccount_suspended"
        assert answer.body["error"]["details"]["note"] == "unpaid invoice"

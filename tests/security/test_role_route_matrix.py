"""Role × route matrix: every route of SPEC's route table, called by eight callers.

The expectations are data: ``tests/role_matrix_spec.py`` is SPEC's role matrix ("Users and
roles") transcribed by hand onto SPEC's route table (section 3), one line per route, one
column per caller. Nothing there is computed from ``chalicelib``: its permission module is
what this checks.

Callers: the five roles of agency A, the limited ones (Agency Member, Subaccount Admin,
Subaccount Member) each with ``specific`` access to one secondary sub-account, ``shared``,
which every sub-account route targets; an anonymous caller; the owner of agency B (A's ids
answer 404 for it, agency-level routes act on B); and the platform key, which is not a user.

Every cell sends a valid request (the body its route accepts), so that a refusal is about
who calls and never about what was sent. Every refusal leaves everything as it was: every
item of the table, and on routes that call Stripe the Stripe objects of both agencies, are
compared before and after. Cells expected to succeed arrange their own fresh target (a
sub-account to suspend or remove, a card to delete, a quote to confirm...), so cells are
independent.

Three smaller tables add the other dimensions of SPEC's matrix: the primary account (agency
roles only), a sub-account not granted to the caller (404, never 403), and a suspended
sub-account (423 for writes by sub-account users, reads still work).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import TEST_ENV
from tests.e2e.identity.support import fresh_email, invite, join, token_from_outbox
from tests.helpers import Answer, call, create_agency
from tests.role_matrix_spec import EXPECTED, PENDING_ROUTES
from tests.security.support import (
    CALLERS,
    LIMITED_ROLES,
    RESOURCE_KINDS,
    World,
    built_world,
    phone_number,
    unique,
)
from tests.snapshots import assert_same_items, stripe_objects, table_items

#: Routes that call Stripe: their refusals are checked on Stripe's objects too.
STRIPE_ROUTES = {
    "POST /v1/subaccounts/{subaccount_id}/payment-methods",
    "DELETE /v1/subaccounts/{subaccount_id}/payment-methods/{payment_method_id}",
    "POST /v1/subaccounts/{subaccount_id}/payment-methods/{payment_method_id}/default",
    "POST /v1/subaccounts/{subaccount_id}/purchases",
    "POST /v1/subaccounts/{subaccount_id}/removal",
    "POST /v1/agency/connect/onboarding",
    "POST /v1/agency/connect/dashboard-link",
    "DELETE /v1/agency",
}




@pytest.fixture(scope="module")
def world(stripe_emulator: str) -> Iterator[World]:
    """Agencies A and B, both on Stripe Connect; A's limited users granted ``shared`` only."""
    with built_world(stripe_emulator, granted=("shared",)) as built:
        for agency in (built.a, built.b):
            _connect(built, agency.owner_token)
        yield built


def _connect(world: World, owner_token: str) -> None:
    """Onboard an agency on Stripe Connect (the dashboard-link cells need it connected)."""
    import requests

    from tests.stripe_fixtures import wait_for

    started = call(world.client, "POST", "/v1/agency/connect/onboarding", token=owner_token)
    assert started.status == 200, started.body
    account = started.body["account_id"]
    done = requests.post(f"{world.emulator}/v1/test_helpers/accounts/{account}/"
                         "complete_onboarding",
                         headers={"Authorization": f"Bearer {TEST_ENV['STRIPE_SECRET_KEY']}"},
                         timeout=10)
    assert done.status_code == 200, done.text
    wait_for(lambda: call(world.client, "GET", "/v1/agency/connect",
                          token=owner_token).body["status"] == "connected")


@dataclass
class Req:
    """What one cell sends."""

    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    token: str | None = None  # replaces the caller's token (a throwaway agency or session)
    raw: bytes | None = None


Build = Callable[[World, str, bool], Req]  # (world, caller, success expected)


# --------------------------------------------------------------------------- request builders

def fixed(path: str, body: Any = None, **headers: str) -> Build:
    """The same request for every cell."""
    return lambda w, caller, ok: Req(path, body, dict(headers))


def on_sub(suffix: str = "", body: Any = None, name: str = "shared") -> Build:
    """A request on one of A's sub-accounts."""
    return lambda w, caller, ok: Req(f"/v1/subaccounts/{w.subs[name]}{suffix}", body)


def _fresh_sub_if(ok: bool, w: World) -> str:
    return w.new_subaccount() if ok else w.subs["shared"]


def suspend(w: World, caller: str, ok: bool) -> Req:
    return Req(f"/v1/subaccounts/{_fresh_sub_if(ok, w)}/suspend", {"note": "matrix"})


def restore(w: World, caller: str, ok: bool) -> Req:
    """A suspended sub-account to restore; refused callers aim at ``shared`` (the one
    sub-account they can see: the refusal must come from their role)."""
    if not ok:
        return Req(f"/v1/subaccounts/{w.subs['shared']}/restore")
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
        if method != "PUT":  # a rule to read or delete
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


def _cached(w: World, key: str, ok: bool, make: Callable[[], str]) -> str:
    """A fresh target for a cell that succeeds; one shared target for refusals."""
    if ok:
        return make()
    if key not in w.cache:
        w.cache[key] = make()
    return w.cache[key]


def card_route(suffix: str) -> Build:
    def build(w: World, caller: str, ok: bool) -> Req:
        sid = w.subs["shared"]
        pm = _cached(w, "pm", ok, lambda: w.add_card(sid))
        return Req(f"/v1/subaccounts/{sid}/payment-methods/{pm}{suffix}")
    return build


def purchase(w: World, caller: str, ok: bool) -> Req:
    return Req(f"/v1/subaccounts/{w.subs['shared']}/purchases",
               {"tier": "premium", "minutes": 10}, {"Idempotency-Key": unique("purchase")})


def resource_item(kind: str, method: str) -> Build:
    def build(w: World, caller: str, ok: bool) -> Req:
        sid = w.subs["shared"]
        rid = _cached(w, f"resource:{kind}", ok, lambda: w.new_resource(sid, kind))
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


def _move(w: World) -> dict[str, str]:
    """One premium minute from ``shared`` to the primary (both granted to the member)."""
    return {"from_subaccount_id": w.subs["shared"], "to_subaccount_id": w.subs["primary"],
            "asset": "premium_minutes", "amount": "1"}


def quote(w: World, caller: str, ok: bool) -> Req:
    return Req("/v1/transfers/quotes", _move(w), {"Idempotency-Key": unique("quote")})


def confirm(w: World, caller: str, ok: bool) -> Req:
    """A quote of the caller's own when it may move minutes, else one of the owner's."""
    maker = w.token(caller) if ok else w.a.owner_token
    made = call(w.client, "POST", "/v1/transfers/quotes", token=maker, body=_move(w),
                headers={"Idempotency-Key": unique("quote")})
    assert made.status == 201, made.body
    return Req("/v1/transfers", {"quote_id": made.body["quote_id"]},
               {"Idempotency-Key": unique("confirm")})


def _member_id(w: World, ok: bool) -> str:
    return _cached(w, "member", ok,
                   lambda: join(w.client, w.a.owner_token, "agency_member").user_id)


def _invitation_id(w: World, ok: bool) -> str:
    def make() -> str:
        answer = invite(w.client, w.a.owner_token, fresh_email("matrix"), "agency_member")
        assert answer.status == 201, answer.body
        return answer.body["id"]
    return _cached(w, "invitation", ok, make)


def ownership_transfer(w: World, caller: str, ok: bool) -> Req:
    if caller == "owner":  # a throwaway agency: the shared world keeps its owner
        agency = create_agency(w.client)
        target = join(w.client, agency.owner_token, "agency_admin")
        return Req("/v1/agency/ownership-transfer", {"user_id": target.user_id},
                   token=agency.owner_token)
    return Req("/v1/agency/ownership-transfer",
               {"user_id": w.members["agency_member"].user_id})


def close_agency(w: World, caller: str, ok: bool) -> Req:
    if ok:  # A's owner or B's: each closes a throwaway agency of its own
        return Req("/v1/agency", token=create_agency(w.client).owner_token)
    return Req("/v1/agency")


def logout(w: World, caller: str, ok: bool) -> Req:
    """A throwaway session of the caller's kind: logging out must not end the world's."""
    if caller in ("owner", "other_agency"):
        return Req("/v1/auth/logout", token=create_agency(w.client).owner_token)
    if caller == "agency_admin":
        return Req("/v1/auth/logout", token=join(w.client, w.a.owner_token, caller).token)
    if caller in LIMITED_ROLES:
        return Req("/v1/auth/logout", token=join(
            w.client, w.a.owner_token, caller, access="specific",
            subaccount_ids=[w.subs["shared"]]).token)
    return Req("/v1/auth/logout")


def login(w: World, caller: str, ok: bool) -> Req:
    return Req("/v1/auth/login", {"email": w.a.owner_email, "password": w.a.owner_password})


def accept_invitation(w: World, caller: str, ok: bool) -> Req:
    email = fresh_email("acceptor")
    assert invite(w.client, w.a.owner_token, email, "agency_member").status == 201
    return Req("/v1/auth/invitations/accept",
               {"token": token_from_outbox(w.client, email), "password": "accepted-pass-1"})


def webhook(w: World, caller: str, ok: bool) -> Req:
    """An event Stripe signed, of a type the app does not handle: 200, whoever sends it."""
    import json
    import time

    from devstack.stripe_webhooks import signature_header

    payload = json.dumps({
        "id": f"evt_{unique('matrix')}", "object": "event", "type": "customer.created",
        "created": int(time.time()), "api_version": "2024-06-20", "livemode": False,
        "data": {"object": {"id": "cus_matrix", "object": "customer"}},
        "pending_webhooks": 1, "request": {"id": None}}).encode()
    header = signature_header(payload, TEST_ENV["STRIPE_WEBHOOK_SECRET"], None)
    return Req("/v1/stripe/webhook", raw=payload, headers={"Stripe-Signature": header})


def new_agency(w: World, caller: str, ok: bool) -> Req:
    return Req("/v1/platform/agencies", {
        "name": "Platform-made", "owner_email": f"{unique('owner')}@agency.example.com",
        "owner_password": "password-123", "plan": "agency_pro",
        "subscription_start": "2026-01-01"})


def usage(w: World, caller: str, ok: bool) -> Req:
    return Req("/v1/platform/usage", {"records": [{
        "call_id": unique("matrix-call"), "subaccount_id": w.subs["shared"], "tier": "premium",
        "duration_seconds": 30, "direction": "outbound", "status": "completed",
        "started_at": "2026-03-01T10:00:00Z"}]})


def adjustment(w: World, caller: str, ok: bool) -> Req:
    return Req("/v1/platform/adjustments", {"subaccount_id": w.subs["shared"],
                                            "asset": "premium_minutes", "amount": "5",
                                            "reason": "matrix"})


REPORT_RANGE = "?from=2026-01-01&to=2026-01-31"

#: How each route of the table is called (a valid request for it).
REQUESTS: dict[str, Build] = {
    "GET /v1/me": fixed("/v1/me"),
    "POST /v1/auth/logout": logout,
    "GET /v1/users": fixed("/v1/users"),
    "POST /v1/users": lambda w, c, ok: Req("/v1/users", {
        "email": fresh_email("matrix"), "role": "agency_member", "subaccount_access": "all"}),
    "PATCH /v1/users/{user_id}": lambda w, c, ok: Req(f"/v1/users/{_member_id(w, ok)}",
                                                      {"role": "agency_admin"}),
    "DELETE /v1/users/{user_id}": lambda w, c, ok: Req(f"/v1/users/{_member_id(w, ok)}"),
    "GET /v1/invitations": fixed("/v1/invitations"),
    "POST /v1/invitations": lambda w, c, ok: Req("/v1/invitations", {
        "email": fresh_email("matrix"), "role": "subaccount_member",
        "subaccount_access": "all"}),
    "POST /v1/invitations/{invitation_id}/resend": lambda w, c, ok: Req(
        f"/v1/invitations/{_invitation_id(w, ok)}/resend"),
    "DELETE /v1/invitations/{invitation_id}": lambda w, c, ok: Req(
        f"/v1/invitations/{_invitation_id(w, ok)}"),
    "GET /v1/audit-log": fixed("/v1/audit-log"),
    "GET /v1/notifications": fixed("/v1/notifications"),
    "GET /v1/agency": fixed("/v1/agency"),
    "PATCH /v1/agency": fixed("/v1/agency", {"timezone": "UTC"}),
    "POST /v1/agency/ownership-transfer": ownership_transfer,
    "DELETE /v1/agency": close_agency,
    "GET /v1/agency/overview": fixed("/v1/agency/overview"),
    "GET /v1/agency/connect": fixed("/v1/agency/connect"),
    "POST /v1/agency/connect/onboarding": fixed("/v1/agency/connect/onboarding"),
    "POST /v1/agency/connect/dashboard-link": fixed("/v1/agency/connect/dashboard-link"),
    "GET /v1/agency/payouts": fixed("/v1/agency/payouts"),
    "GET /v1/subaccounts": fixed("/v1/subaccounts"),
    "POST /v1/subaccounts": lambda w, c, ok: Req("/v1/subaccounts", {
        "name": "Matrix client", "login_email": f"{unique('m')}@c.example.com",
        "prices": {"basic": "0.15", "premium": "0.25"}}),
    "GET /v1/subaccounts/{subaccount_id}": on_sub(),
    "PATCH /v1/subaccounts/{subaccount_id}": on_sub("", {"name": "Renamed client"}),
    "POST /v1/subaccounts/{subaccount_id}/suspend": suspend,
    "POST /v1/subaccounts/{subaccount_id}/restore": restore,
    "GET /v1/subaccounts/{subaccount_id}/removal": on_sub("/removal"),
    "POST /v1/subaccounts/{subaccount_id}/removal": removal,
    "GET /v1/subaccounts/{subaccount_id}/wallet": on_sub("/wallet"),
    "GET /v1/subaccounts/{subaccount_id}/activity": on_sub("/activity"),
    "POST /v1/transfers/quotes": quote,
    "POST /v1/transfers": confirm,
    "GET /v1/transfers": fixed("/v1/transfers"),
    "GET /v1/subaccounts/{subaccount_id}/payment-methods": on_sub("/payment-methods"),
    "POST /v1/subaccounts/{subaccount_id}/payment-methods": on_sub(
        "/payment-methods", {"payment_method": "pm_card_visa"}),
    "DELETE /v1/subaccounts/{subaccount_id}/payment-methods/{payment_method_id}":
        card_route(""),
    "POST /v1/subaccounts/{subaccount_id}/payment-methods/{payment_method_id}/default":
        card_route("/default"),
    "POST /v1/subaccounts/{subaccount_id}/purchases": purchase,
    "GET /v1/subaccounts/{subaccount_id}/auto-allocation": allocation_rule("GET"),
    "PUT /v1/subaccounts/{subaccount_id}/auto-allocation": allocation_rule("PUT"),
    "DELETE /v1/subaccounts/{subaccount_id}/auto-allocation": allocation_rule("DELETE"),
    "GET /v1/subaccounts/{subaccount_id}/auto-recharge": recharge_rule("GET"),
    "PUT /v1/subaccounts/{subaccount_id}/auto-recharge": recharge_rule("PUT"),
    "DELETE /v1/subaccounts/{subaccount_id}/auto-recharge": recharge_rule("DELETE"),
    "GET /v1/reports/subaccounts": fixed(f"/v1/reports/subaccounts{REPORT_RANGE}"),
    "GET /v1/reports/subaccounts/{subaccount_id}": lambda w, c, ok: Req(
        f"/v1/reports/subaccounts/{w.subs['shared']}{REPORT_RANGE}"),
    "GET /v1/health": fixed("/v1/health"),
    "GET /v1/openapi.json": fixed("/v1/openapi.json"),
    "POST /v1/auth/login": login,
    "POST /v1/auth/invitations/accept": accept_invitation,
    "POST /v1/stripe/webhook": webhook,
    "POST /v1/platform/agencies": new_agency,
    "POST /v1/platform/jobs/{name}/runs": fixed("/v1/platform/jobs/plan-renewal/runs",
                                                {"as_of": "2026-03-01T00:00:00Z"}),
    "GET /v1/platform/outbox": fixed("/v1/platform/outbox"),
    "POST /v1/platform/usage": usage,
    "POST /v1/platform/adjustments": adjustment,
    "POST /v1/platform/calls/authorize": lambda w, c, ok: Req(
        "/v1/platform/calls/authorize", {"subaccount_id": w.subs["shared"], "tier": "basic"}),
}
for _kind in RESOURCE_KINDS:
    _base = f"/v1/subaccounts/{{subaccount_id}}/{_kind}"
    REQUESTS.update({
        f"GET {_base}": on_sub(f"/{_kind}"),
        f"POST {_base}": create_resource(_kind),
        f"PATCH {_base}/{{resource_id}}": resource_item(_kind, "PATCH"),
        f"DELETE {_base}/{{resource_id}}": resource_item(_kind, "DELETE"),
    })

#: Cells that fail because of an app bug (the lead removes a mark once fixed).
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def app_routes() -> set[str]:
    """``METHOD /path`` of every route the app serves."""
    from app import app  # noqa: F401  (registers every route)
    from chalicelib.api.http import ROUTES

    return {f"{spec.method} {spec.path}" for spec in ROUTES}


def _cells() -> list[Any]:
    cells = []
    for key, expected in EXPECTED.items():
        for caller in CALLERS:
            marks = []
            if (key, caller) in KNOWN_BUGS:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[(key, caller)]))
            cells.append(pytest.param(key, caller, expected[caller], id=f"{key}-{caller}",
                                      marks=marks))
    return cells


def send(world: World, method: str, req: Req, caller: str) -> Answer:
    """One cell's request, with the caller's credentials."""
    token = req.token or world.token(caller)
    return call(world.client, method, req.path, token=token, body=req.body, raw=req.raw,
                headers=req.headers, platform=caller == "platform" and req.token is None)


def state_of(world: World, stripe: bool) -> tuple[Any, Any]:
    """Every table item, and (where the route calls Stripe) both agencies' Stripe objects."""
    return table_items(), (stripe_objects(world.emulator, (world.a.agency_id,
                                                           world.b.agency_id))
                           if stripe else None)


def assert_refused_without_effect(world: World, method: str, req: Req, caller: str,
                                  expected: int, stripe: bool) -> Answer:
    """Send a request that must be refused: the status expected, SPEC's error envelope, and
    nothing changed in the table (nor in Stripe)."""
    table_before, stripe_before = state_of(world, stripe)
    answer = send(world, method, req, caller)
    assert answer.status == expected, (method, req.path, caller, answer.status, answer.body)
    assert answer.error_code, answer.body
    table_after, stripe_after = state_of(world, stripe)
    assert_same_items(table_before, table_after)
    assert stripe_after == stripe_before
    return answer


def test_every_route_of_the_app_has_a_row_and_a_request() -> None:
    """A new route cannot land without its row (an expectation per caller) and a valid
    request; a row names a route the app serves or one being added elsewhere."""
    served = app_routes()
    assert served <= set(EXPECTED), {"routes without a row": served - set(EXPECTED)}
    assert set(EXPECTED) - served <= PENDING_ROUTES, set(EXPECTED) - served - PENDING_ROUTES
    assert set(REQUESTS) == set(EXPECTED), set(REQUESTS) ^ set(EXPECTED)


@pytest.mark.parametrize(("key", "caller", "expected"), _cells())
def test_role_route_matrix(world: World, key: str, caller: str, expected: int) -> None:
    """The status SPEC's role matrix gives this caller on this route; a refusal changes
    nothing."""
    if key not in app_routes():
        pytest.skip(f"{key} is not in this build yet")
    method = key.split()[0]
    req = REQUESTS[key](world, caller, expected < 300)
    if expected < 300:
        answer = send(world, method, req, caller)
        assert answer.status == expected, (key, caller, answer.status, answer.body)
        return
    answer = assert_refused_without_effect(world, method, req, caller, expected,
                                           stripe=key in STRIPE_ROUTES)
    if expected == 403:
        assert answer.error_code == "forbidden", answer.body


# --------------------------------------------------------------------------- other dimensions

ROLES = CALLERS[:5]


def _roles(owner: int, admin: int, member: int, sub_admin: int, sub_member: int
           ) -> dict[str, int]:
    return dict(zip(ROLES, (owner, admin, member, sub_admin, sub_member), strict=True))


def _purchase_on(name: str) -> Build:
    def build(w: World, caller: str, ok: bool) -> Req:
        if name == "primary" and "primary-card" not in w.cache:
            w.cache["primary-card"] = w.add_card(w.subs["primary"])
        return Req(f"/v1/subaccounts/{w.subs[name]}/purchases",
                   {"tier": "premium", "minutes": 10}, {"Idempotency-Key": unique("purchase")})
    return build


def _quote(source: str, target: str) -> Build:
    return lambda w, c, ok: Req("/v1/transfers/quotes", {
        "from_subaccount_id": w.subs[source], "to_subaccount_id": w.subs[target],
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


Dimension = tuple[str, str, Build, dict[str, int], bool]  # name, method, build, expected, stripe

#: SPEC "use primary account: Owner, Admin, Member yes; sub-account roles no" — and what a
#: user may not see answers 404.
PRIMARY_ROWS: list[Dimension] = [
    ("GET primary", "GET", _get("primary"), _roles(200, 200, 200, 404, 404), False),
    ("GET primary wallet", "GET", _get("primary", "/wallet"),
     _roles(200, 200, 200, 404, 404), False),
    ("GET primary activity", "GET", _get("primary", "/activity"),
     _roles(200, 200, 200, 404, 404), False),
    ("purchase on primary", "POST", _purchase_on("primary"),
     _roles(201, 201, 201, 404, 404), True),
    ("campaign on primary", "POST", _campaign_on("primary"),
     _roles(201, 201, 201, 404, 404), False),
    ("quote from primary", "POST", _quote("primary", "shared"),
     _roles(201, 201, 201, 404, 404), False),
    ("remove primary", "POST", lambda w, c, ok: Req(
        f"/v1/subaccounts/{w.subs['primary']}/removal",
        {"minutes_destination_id": w.subs["shared"]}, {"Idempotency-Key": unique("rm")}),
     _roles(409, 409, 403, 404, 404), True),
    ("suspend primary", "POST", lambda w, c, ok: Req(
        f"/v1/subaccounts/{w.subs['primary']}/suspend", {"note": "no"}),
     _roles(409, 409, 403, 404, 404), False),
]

#: A sub-account granted to none of the limited users: 404 for them, never 403.
HIDDEN_ROWS: list[Dimension] = [
    ("GET hidden", "GET", _get("hidden"), _roles(200, 200, 404, 404, 404), False),
    ("GET hidden wallet", "GET", _get("hidden", "/wallet"),
     _roles(200, 200, 404, 404, 404), False),
    ("GET hidden report", "GET", lambda w, c, ok: Req(
        f"/v1/reports/subaccounts/{w.subs['hidden']}{REPORT_RANGE}"),
     _roles(200, 200, 404, 404, 404), False),
    ("PATCH hidden", "PATCH", lambda w, c, ok: Req(f"/v1/subaccounts/{w.subs['hidden']}",
                                                    {"name": "Hidden client"}),
     _roles(200, 200, 404, 404, 404), False),
    ("campaign on hidden", "POST", _campaign_on("hidden"),
     _roles(201, 201, 404, 404, 404), False),
    ("card on hidden", "POST", _card_on("hidden"), _roles(201, 201, 404, 404, 404), True),
    ("quote from hidden", "POST", _quote("hidden", "primary"),
     _roles(201, 201, 404, 404, 404), False),
]

#: SPEC suspension: every write by sub-account users answers 423; reads still work; agency
#: staff still act (their actions are not "sub-account users writing"). The limited users
#: of this table are granted the suspended sub-account.
SUSPENDED_ROWS: list[Dimension] = [
    ("GET suspended", "GET", _get("suspended"), _roles(200, 200, 200, 200, 200), False),
    ("GET suspended wallet", "GET", _get("suspended", "/wallet"),
     _roles(200, 200, 200, 200, 200), False),
    ("GET suspended campaigns", "GET", _get("suspended", "/campaigns"),
     _roles(200, 200, 200, 200, 200), False),
    ("GET suspended cards", "GET", _get("suspended", "/payment-methods"),
     _roles(200, 200, 200, 200, 200), False),
    ("GET suspended auto-recharge", "GET", _recharge_rule_of("suspended"),
     _roles(200, 200, 200, 200, 200), False),
    ("campaign on suspended", "POST", _campaign_on("suspended"),
     _roles(201, 201, 201, 423, 403), False),
    ("card on suspended", "POST", _card_on("suspended"), _roles(201, 201, 201, 423, 423), True),
    ("purchase on suspended", "POST", _purchase_on("suspended"),
     _roles(201, 201, 201, 423, 423), True),
    ("auto-recharge on suspended", "PUT", _recharge_on("suspended"),
     _roles(200, 200, 200, 423, 423), False),
    ("quote from suspended", "POST", _quote("suspended", "primary"),
     _roles(201, 201, 201, 403, 403), False),
]


#: Cells of the dimension tables that fail because of an app bug (cell id → reason).
KNOWN_DIMENSION_BUGS: dict[str, str] = {}


def _dimension_cells(rows: list[Dimension]) -> list[Any]:
    cells = []
    for name, method, build, expected, stripe in rows:
        for caller, status in expected.items():
            cell_id = f"{name}-{caller}"
            marks = ([pytest.mark.xfail(strict=True, reason=KNOWN_DIMENSION_BUGS[cell_id])]
                     if cell_id in KNOWN_DIMENSION_BUGS else [])
            cells.append(pytest.param(method, build, caller, status, stripe, id=cell_id,
                                      marks=marks))
    return cells


def _dimension_cell(world: World, method: str, build: Build, caller: str, expected: int,
                    stripe: bool, token: str | None = None) -> Answer:
    req = build(world, caller, expected < 300)
    req.token = token
    if expected < 300:
        answer = send(world, method, req, caller)
        assert answer.status == expected, (caller, answer.status, answer.body)
        return answer
    return assert_refused_without_effect(world, method, req, caller, expected, stripe)


@pytest.mark.parametrize(("method", "build", "caller", "expected", "stripe"),
                         _dimension_cells(PRIMARY_ROWS))
def test_primary_account_is_for_agency_roles_only(world: World, method: str, build: Build,
                                                  caller: str, expected: int,
                                                  stripe: bool) -> None:
    """Agency roles use the primary; sub-account roles do not even see it."""
    _dimension_cell(world, method, build, caller, expected, stripe)


@pytest.mark.parametrize(("method", "build", "caller", "expected", "stripe"),
                         _dimension_cells(HIDDEN_ROWS))
def test_ungranted_subaccount_is_404_for_limited_users(world: World, method: str, build: Build,
                                                       caller: str, expected: int,
                                                       stripe: bool) -> None:
    """Outside a user's access, a sub-account does not exist for it."""
    _dimension_cell(world, method, build, caller, expected, stripe)


@pytest.mark.parametrize(("method", "build", "caller", "expected", "stripe"),
                         _dimension_cells(SUSPENDED_ROWS))
def test_suspended_subaccount_refuses_writes_of_its_users_with_423(
        world: World, method: str, build: Build, caller: str, expected: int,
        stripe: bool) -> None:
    """423 ``subaccount_suspended`` carrying the agency's note; reads keep working."""
    token = (world.limited_users("suspended")[caller].token if caller in LIMITED_ROLES
             else None)
    answer = _dimension_cell(world, method, build, caller, expected, stripe, token)
    if expected == 423:
        assert answer.error_code == "subaccount_suspended"
        assert answer.body["error"]["details"]["note"] == "unpaid invoice"

"""Schema fuzzing: schemathesis drives every route of ``GET /v1/openapi.json`` over real HTTP.

The schema is read from the running app (``fast_app_url``: chalice local's server, with the
Stripe emulator behind it) and every operation gets generated requests: valid ones, invalid
ones (negative mode) and the coverage phase's boundary cases. User routes are called as
every role of one agency in turn (owner, Agency Admin, Agency Member, Subaccount Admin,
Subaccount Member; the limited ones granted the agency's one secondary sub-account), so each
role's code paths get fuzzed, not only the owner's; platform routes with the platform key.
Half of the cases of routes that take a sub-account or resource id are pointed at real ids
the calling role can reach, so that the fuzzed bodies reach the services instead of stopping
at a 404.

Checks on every answer: never a status ≥ 500, the status is one the document declares, the
content type and body match the declared schema.

Not fuzzed: ``DELETE /v1/agency`` (it would close the agency the fuzzer signs in with) and
``POST /v1/auth/logout`` (it would end the session it fuzzes with); both are covered by the
role × route matrix.
"""

from __future__ import annotations

import collections
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ROOT, TEST_ENV, reset_table
from tests.e2e.identity.support import join
from tests.helpers import call, create_agency

#: Generated examples per operation (fuzzing phase), shared by the roles in turn; the
#: coverage phase adds its own cases (about 1,500 requests). 12 keeps the whole run near
#: 2,400 requests and within about a minute on an idle 2-core machine.
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "12"))
#: Minimum number of requests the whole run must have sent.
MINIMUM_REQUESTS = 2000
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
#: Methods the coverage phase may try on a path that does not declare them. TRACE/QUERY are
#: left out: chalice local's development server (not the app) answers them 501 itself.
UNEXPECTED_METHODS = ["get", "put", "post", "delete", "patch"]


#: The roles the user routes are fuzzed as, in turn.
ROLES = ("owner", "agency_admin", "agency_member", "subaccount_admin", "subaccount_member")
#: Routes the fuzzer leaves alone (see the module docstring).
NOT_FUZZED = {("DELETE", "/v1/agency"), ("POST", "/v1/auth/logout")}


@dataclass
class FuzzTarget:
    """The live app, a signed-in user of every role and the real ids each role reaches."""

    url: str
    tokens: dict[str, str]
    real_ids: dict[str, dict[str, list[str]]]  # role → path parameter → ids
    session: requests.Session = field(default_factory=requests.Session)
    sent: collections.Counter[str] = field(default_factory=collections.Counter)
    sent_as: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    turn: Iterator[int] = field(default_factory=itertools.count)


_TARGET: dict[str, FuzzTarget] = {}


@pytest.fixture(scope="module")
def fuzz_target(fast_app_url: str, stripe_emulator: str) -> FuzzTarget:
    """An agency with a secondary sub-account, minutes, a card, one resource of each kind
    and a signed-in user of every role."""
    from chalice.test import Client

    from app import app

    reset_table()
    with Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        agency = create_agency(client, plan="agency_unlimited")
        token = agency.owner_token
        sub = call(client, "POST", "/v1/subaccounts", token=token, body={
            "name": "Fuzz client", "login_email": "fuzz-client@clients.example.com",
            "prices": {"basic": "0.15", "premium": "0.25"}, "subscription_start": "2026-02-15"})
        assert sub.status == 201, sub.body
        sid = sub.body["id"]
        for target in (agency.primary_id, sid):
            for asset in ("basic_minutes", "premium_minutes", "kp_credits"):
                granted = call(client, "POST", "/v1/platform/adjustments", platform=True, body={
                    "subaccount_id": target, "asset": asset, "amount": "500",
                    "reason": "fuzz seed"})
                assert granted.status == 201, granted.body
        card = call(client, "POST", f"/v1/subaccounts/{sid}/payment-methods", token=token,
                    body={"payment_method": "pm_card_visa"})
        assert card.status == 201, card.body
        resources = []
        for kind, body in (("campaigns", {"name": "c"}), ("agents", {"name": "a"}),
                           ("automations", {"name": "w"}),
                           ("phone-numbers", {"number": "+14155550100"})):
            made = call(client, "POST", f"/v1/subaccounts/{sid}/{kind}", token=token, body=body)
            assert made.status == 201, made.body
            resources.append(made.body["id"])
        tokens = {"owner": token,
                  "agency_admin": join(client, token, "agency_admin").token}
        for role in ROLES[2:]:
            tokens[role] = join(client, token, role, access="specific",
                                subaccount_ids=[sid]).token
    reach = {"resource_id": resources, "payment_method_id": [card.body["id"]]}
    target = FuzzTarget(fast_app_url, tokens, {
        role: {**reach, "subaccount_id": [agency.primary_id, sid] if role in ROLES[:3]
               else [sid]}  # sub-account roles never see the primary
        for role in ROLES})
    _TARGET["current"] = target
    return target


@pytest.fixture(scope="module")
def api_schema(fuzz_target: FuzzTarget) -> Any:
    """The app's own OpenAPI document, fetched over HTTP."""
    config = schemathesis.Config.from_dict({
        "seed": int(os.environ.get("FUZZ_SEED", "20260101")),
        "phases": {"coverage": {"unexpected-methods": UNEXPECTED_METHODS}},
    })
    schema = schemathesis.openapi.from_url(f"{fuzz_target.url}/v1/openapi.json", config=config)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")
for _method, _path in sorted(NOT_FUZZED):
    schema = schema.exclude(method=_method, path=_path)


def _point_at_real_ids(case: Any, target: FuzzTarget, role: str) -> None:
    """Every other case of an id-taking route uses real ids the role reaches, so bodies
    reach the services."""
    params = case.path_parameters or {}
    real_ids = target.real_ids[role]
    if not any(name in real_ids for name in params):
        return
    turn = next(target.turn)
    if turn % 2:
        return
    for name, choices in real_ids.items():
        if name in params:
            params[name] = choices[turn // 2 % len(choices)]


def _role_for(case: Any, target: FuzzTarget) -> str:
    """The roles take turns on each operation, so every role gets a share of its cases."""
    operation = f"{case.method} {case.path}"
    return ROLES[sum(target.sent_as[(operation, role)] for role in ROLES) % len(ROLES)]


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
          suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_route_answers_fuzzed_input_with_a_declared_non_5xx_answer(
        case: Any, fuzz_target: FuzzTarget) -> None:
    """Generated requests: no 5xx, declared status, body matching the declared schema."""
    operation = f"{case.method} {case.path}"
    if case.path.startswith("/v1/platform/"):
        role, token = "platform", TEST_ENV["PLATFORM_API_KEY"]
    else:
        role = _role_for(case, fuzz_target)
        token = fuzz_target.tokens[role]
        _point_at_real_ids(case, fuzz_target, role)
    headers = {"Authorization": f"Bearer {token}"}
    response = case.call(base_url=fuzz_target.url, session=fuzz_target.session,
                         headers=headers, timeout=30)
    fuzz_target.sent[operation] += 1
    fuzz_target.sent_as[(operation, role)] += 1
    fuzz_target.statuses[response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)


def test_fuzzing_sent_enough_requests_to_every_route_as_every_role() -> None:
    """≥ 2,000 requests in total; every documented operation among them, every user route
    as each of the five roles."""
    target = _TARGET.get("current")
    if target is None:
        pytest.skip("runs after the fuzz test of this module")
    from app import app  # noqa: F401  (registers every route)
    from chalicelib.api.http import ROUTES

    total = sum(target.sent.values())
    assert total >= MINIMUM_REQUESTS, (total, dict(target.statuses))
    # every route the document describes (it does not describe itself)
    expected = {f"{spec.method} {spec.path}" for spec in ROUTES} - {
        f"{method} {path}" for method, path in NOT_FUZZED} - {"GET /v1/openapi.json"}
    assert expected <= set(target.sent), expected - set(target.sent)
    user_routes = {f"{spec.method} {spec.path}" for spec in ROUTES
                   if spec.auth == "user"} & expected
    missed = {(route, role) for route in user_routes for role in ROLES
              if not target.sent_as[(route, role)]}
    assert not missed, sorted(missed)
    assert not [status for status in target.statuses if status >= 500], target.statuses


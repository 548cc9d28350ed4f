"""Schema fuzzing: schemathesis drives every route of ``GET /v1/openapi.json`` over real HTTP.

The schema is read from the running app (``fast_app_url``: chalice local's server, with the
Stripe emulator behind it) and every operation gets generated requests: valid ones, invalid
ones (negative mode) and the coverage phase's boundary cases. User routes are called as the
owner of a real agency, platform routes with the platform key. Half of the cases of routes
that take a sub-account or resource id are pointed at real ids of that agency so that the
fuzzed bodies reach the services instead of stopping at a 404.

Checks on every answer: never a status ≥ 500, the status is one the document declares, the
content type and body match the declared schema.

Not fuzzed: ``DELETE /v1/agency`` (it would close the agency the fuzzer signs in with; it is
covered by the role × route matrix).
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
from tests.helpers import call, create_agency

#: Generated examples per operation (fuzzing phase); the coverage phase adds its own cases.
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "24"))
#: Minimum number of requests the whole run must have sent.
MINIMUM_REQUESTS = 2000
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
#: Methods the coverage phase may try on a path that does not declare them. TRACE/QUERY are
#: left out: chalice local's development server (not the app) answers them 501 itself.
UNEXPECTED_METHODS = ["get", "put", "post", "delete", "patch"]


@dataclass
class FuzzTarget:
    """The live app, a signed-in owner and real ids of its agency."""

    url: str
    owner_token: str
    real_ids: dict[str, list[str]]
    session: requests.Session = field(default_factory=requests.Session)
    sent: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    turn: Iterator[int] = field(default_factory=itertools.count)


_TARGET: dict[str, FuzzTarget] = {}


@pytest.fixture(scope="module")
def fuzz_target(fast_app_url: str, stripe_emulator: str) -> FuzzTarget:
    """An agency with a secondary sub-account, minutes, a card and one resource of each kind."""
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
    target = FuzzTarget(fast_app_url, token, {
        "subaccount_id": [agency.primary_id, sid],
        "resource_id": resources,
        "payment_method_id": [card.body["id"]],
    })
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


# Closing the agency or logging out would end the one session every other case uses (and
# logout takes no input to fuzz); both have their own tests.
schema = (schemathesis.pytest.from_fixture("api_schema")
          .exclude(method="DELETE", path="/v1/agency")
          .exclude(method="POST", path="/v1/auth/logout"))


def _point_at_real_ids(case: Any, target: FuzzTarget) -> None:
    """Every other case of an id-taking route uses real ids, so bodies reach the services."""
    params = case.path_parameters or {}
    if not any(name in target.real_ids for name in params):
        return
    turn = next(target.turn)
    if turn % 2:
        return
    for name, choices in target.real_ids.items():
        if name in params:
            params[name] = choices[turn // 2 % len(choices)]


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
          suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_route_answers_fuzzed_input_with_a_declared_non_5xx_answer(
        case: Any, fuzz_target: FuzzTarget) -> None:
    """Generated requests: no 5xx, declared status, body matching the declared schema."""
    platform = case.path.startswith("/v1/platform/")
    token = TEST_ENV["PLATFORM_API_KEY"] if platform else fuzz_target.owner_token
    headers = {"Authorization": f"Bearer {token}"}
    _point_at_real_ids(case, fuzz_target)
    response = case.call(base_url=fuzz_target.url, session=fuzz_target.session,
                         headers=headers, timeout=30)
    fuzz_target.sent[f"{case.method} {case.path}"] += 1
    fuzz_target.statuses[response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)


def test_fuzzing_sent_enough_requests_to_every_route() -> None:
    """≥ 2,000 requests in total, every documented operation among them."""
    target = _TARGET.get("current")
    if target is None:
        pytest.skip("runs after the fuzz test of this module")
    from app import app  # noqa: F401  (registers every route)
    from chalicelib.api.http import ROUTES

    total = sum(target.sent.values())
    assert total >= MINIMUM_REQUESTS, (total, dict(target.statuses))
    # every route the document describes (it does not describe itself)
    expected = {f"{spec.method} {spec.path}" for spec in ROUTES} - {
        "DELETE /v1/agency", "POST /v1/auth/logout", "GET /v1/openapi.json"}
    assert expected <= set(target.sent), expected - set(target.sent)
    assert not [status for status in target.statuses if status >= 500], target.statuses


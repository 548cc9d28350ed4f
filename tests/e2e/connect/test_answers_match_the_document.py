"""Every answer of the Connect, payout and overview routes is what ``GET /v1/openapi.json``
declares for it, in every state the agency goes through: not connected, onboarding,
connected with a payout, a bank failure, a clawback, restricted (the schema fuzzer only sees
the states its own agency is in)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.e2e.connect.helpers import add_profit, connect, stripe_post, sweep
from tests.e2e.connect.test_connect_payouts import ANCHOR, at, cycle_dates
from tests.helpers import AgencyFixture, call, create_agency
from tests.stripe_fixtures import wait_for

ROUTES = [("GET", "/v1/agency/connect"), ("GET", "/v1/agency/payouts"),
          ("GET", "/v1/agency/overview")]


class Document:
    """The served OpenAPI document: checks an answer against a route's success schema."""

    def __init__(self, client: Any) -> None:
        self.document = call(client, "GET", "/v1/openapi.json").body

    def check(self, method: str, path: str, body: Any) -> None:
        responses = self.document["paths"][path][method.lower()]["responses"]
        schema = responses["200"]["content"]["application/json"]["schema"]
        assert schema.get("$ref"), f"{method} {path} declares no response model"
        jsonschema.validate(body, {**schema, "components": self.document["components"]})


def answers(client: Any, agency: AgencyFixture, document: Document) -> dict[str, Any]:
    """Every read route's answer, each checked against the document."""
    found = {}
    for method, path in ROUTES:
        answer = call(client, method, path, token=agency.owner_token)
        assert answer.status == 200, answer.body
        document.check(method, path, answer.body)
        found[path] = answer.body
    return found


def action_codes(found: dict[str, Any]) -> set[str]:
    return {action["code"] for action in found["/v1/agency/overview"]["action_needed"]}


class TestAnswersMatchTheDocument:
    def test_in_every_state_of_the_agency(self, stripe_emulator, app_client) -> None:
        document = Document(app_client)
        agency = create_agency(app_client, subscription_start=ANCHOR)
        assert action_codes(answers(app_client, agency, document)) == {"connect_not_connected"}

        started = call(app_client, "POST", "/v1/agency/connect/onboarding",
                       token=agency.owner_token)
        assert started.status == 200, started.body
        document.check("POST", "/v1/agency/connect/onboarding", started.body)
        assert "connect_onboarding_incomplete" in action_codes(
            answers(app_client, agency, document))
        refused = call(app_client, "POST", "/v1/agency/connect/dashboard-link",
                       token=agency.owner_token)
        assert (refused.status, refused.body["error"]["code"]) == (409, "connect_not_connected")

        account_id = connect(app_client, agency, stripe_emulator)
        link = call(app_client, "POST", "/v1/agency/connect/dashboard-link",
                    token=agency.owner_token)
        assert link.status == 200, link.body
        document.check("POST", "/v1/agency/connect/dashboard-link", link.body)
        stripe_post(stripe_emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
        add_profit(agency, 150_000_000, "document")
        assert sweep(app_client, at(cycle_dates()[0]))["succeeded"] == 1
        paid = answers(app_client, agency, document)
        assert paid["/v1/agency/overview"]["last_payout"]["amount_usd"] == "150.00"
        assert [p["status"] for p in paid["/v1/agency/payouts"]["payouts"]] == ["in_transit"]

        stripe_post(stripe_emulator, f"/v1/test_helpers/accounts/{account_id}/fail_payout",
                    failure_code="account_closed")
        wait_for(lambda: "bank_details_need_fixing" in action_codes(
            answers(app_client, agency, document)))
        add_profit(agency, -30_000_000, "document-clawback")
        assert "profit_clawback" in action_codes(answers(app_client, agency, document))

        stripe_post(stripe_emulator, f"/v1/test_helpers/accounts/{account_id}/restrict")
        wait_for(lambda: "connect_restricted" in action_codes(
            answers(app_client, agency, document)))


@pytest.mark.parametrize(("method", "path"), [
    *ROUTES, ("POST", "/v1/agency/connect/onboarding"),
    ("POST", "/v1/agency/connect/dashboard-link")])
def test_every_route_declares_its_response_model(app_client, method: str, path: str) -> None:
    operation = Document(app_client).document["paths"][path][method.lower()]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert "403" in operation["responses"]

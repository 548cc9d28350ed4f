"""Every sub-account and resource answer matches what the OpenAPI document declares for its
route and status: the response model's schema, and no field the model does not name."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.e2e.subaccounts.support import grant, make_user, new_subaccount
from tests.helpers import Answer, call, create_agency


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    from app import app  # noqa: F401  (registers every route)
    from chalicelib.api.openapi import build_document

    return build_document()


def _check(document: dict[str, Any], method: str, path: str, answer: Answer) -> None:
    """``answer`` is one the document declares for the route, in the declared shape."""
    operation = document["paths"][path][method.lower()]
    declared = operation["responses"].get(str(answer.status))
    assert declared is not None, (method, path, answer.status, answer.body)
    content = declared.get("content")
    if content is None:
        assert answer.body is None, (method, path, answer.body)
        return
    schema = content["application/json"]["schema"]
    assert schema, f"{method} {path} {answer.status} declares no response model"
    jsonschema.validate(answer.body, {**schema, "components": document["components"]})
    if "$ref" in schema and schema["$ref"] != "#/components/schemas/Error":
        model = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        assert set(answer.body) <= set(model["properties"]), (method, path, answer.body)


class TestAnswersMatchTheDocument:
    def test_a_sub_accounts_life_as_the_owner(self, app_client, document) -> None:
        agency = create_agency(app_client)
        owner = agency.owner_token

        def checked(method: str, path: str, concrete: str, body: Any = None,
                    token: str = owner) -> Answer:
            answer = call(app_client, method, concrete, token=token, body=body)
            _check(document, method, path, answer)
            return answer

        one = "/v1/subaccounts/{subaccount_id}"
        created = checked("POST", "/v1/subaccounts", "/v1/subaccounts", body={
            "name": "Client", "login_email": "client@c.example.com",
            "prices": {"basic": "0.25", "premium": "0.30"}})
        assert created.status == 201
        sid = created.body["id"]
        grant(agency.agency_id, sid, "basic_minutes", 600)
        checked("GET", "/v1/subaccounts", "/v1/subaccounts?limit=1")
        checked("GET", one, f"/v1/subaccounts/{sid}")
        checked("PATCH", one, f"/v1/subaccounts/{sid}", body={
            "name": "Renamed", "prices": {"basic": "0.26"}})
        below = checked("PATCH", one, f"/v1/subaccounts/{sid}", body={
            "prices": {"basic": "0.01"}})
        assert below.error_code == "price_below_base_cost"
        for kind, body in (("campaigns", {"name": "Spring"}), ("agents", {"name": "Ava"}),
                           ("automations", {"name": "Follow up"}),
                           ("phone-numbers", {"number": "+14155550142"})):
            collection = f"/v1/subaccounts/{{subaccount_id}}/{kind}"
            made = checked("POST", collection, f"/v1/subaccounts/{sid}/{kind}", body=body)
            assert made.status == 201, made.body
            checked("GET", collection, f"/v1/subaccounts/{sid}/{kind}?limit=1")
            checked("PATCH", f"{collection}/{{resource_id}}",
                    f"/v1/subaccounts/{sid}/{kind}/{made.body['id']}",
                    body={"status": "active" if kind != "automations" else "enabled"})
        extra = checked("POST", "/v1/subaccounts/{subaccount_id}/campaigns",
                        f"/v1/subaccounts/{sid}/campaigns", body={"name": "Extra"})
        checked("DELETE", "/v1/subaccounts/{subaccount_id}/campaigns/{resource_id}",
                f"/v1/subaccounts/{sid}/campaigns/{extra.body['id']}")
        suspended = checked("POST", f"{one}/suspend", f"/v1/subaccounts/{sid}/suspend",
                            body={"note": "Invoice overdue"})
        assert suspended.body["banner"]["suspended"] is True
        assert checked("POST", f"{one}/suspend", f"/v1/subaccounts/{sid}/suspend",
                       body={}).error_code == "already_suspended"
        checked("POST", f"{one}/restore", f"/v1/subaccounts/{sid}/restore")
        preview = checked("GET", f"{one}/removal", f"/v1/subaccounts/{sid}/removal")
        assert preview.body["phone_numbers"] and preview.body["eligible_destinations"]
        removed = checked("POST", f"{one}/removal", f"/v1/subaccounts/{sid}/removal",
                          body={"minutes_destination_id": agency.primary_id})
        assert removed.body["transaction_id"] == f"removal:{sid}"
        checked("GET", one, f"/v1/subaccounts/{sid}")

    def test_what_a_sub_account_admin_sees_and_is_refused(self, app_client, document) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)["id"]
        admin = make_user(agency.agency_id, "subaccount_admin", subaccount_ids=(sid,))
        one = "/v1/subaccounts/{subaccount_id}"
        for method, path, concrete, body in (
                ("GET", "/v1/subaccounts", "/v1/subaccounts", None),
                ("GET", one, f"/v1/subaccounts/{sid}", None),
                ("PATCH", one, f"/v1/subaccounts/{sid}", {"name": "Mine"}),
                ("POST", f"{one}/suspend", f"/v1/subaccounts/{sid}/suspend", {}),
                ("GET", f"{one}/removal", f"/v1/subaccounts/{sid}/removal", None),
                ("POST", "/v1/subaccounts/{subaccount_id}/agents",
                 f"/v1/subaccounts/{sid}/agents", {"name": "Bot"}),
                ("GET", one, f"/v1/subaccounts/{agency.primary_id}", None)):
            _check(document, method, path,
                   call(app_client, method, concrete, token=admin, body=body))

"""Listing sub-accounts costs the same number of DynamoDB calls however many there are."""

from __future__ import annotations

from tests.helpers import call, create_agency


def add_subaccounts(client, agency, count: int, start: int) -> None:
    for n in range(start, start + count):
        answer = call(client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
            "name": f"Client {n}", "login_email": f"client{n}@{agency.agency_id}.example.com",
            "prices": {"basic": "0.12", "premium": "0.20"}, "subscription_start": "2026-01-31"})
        assert answer.status == 201, answer.body


class TestListReadCost:
    def test_calls_do_not_grow_with_the_number_of_subaccounts(self, app_client,
                                                              dynamodb_calls) -> None:
        agency = create_agency(app_client)
        add_subaccounts(app_client, agency, 2, 0)
        dynamodb_calls.reset()
        few = call(app_client, "GET", "/v1/subaccounts", token=agency.owner_token)
        calls_for_few = dynamodb_calls.total
        add_subaccounts(app_client, agency, 6, 2)
        dynamodb_calls.reset()
        many = call(app_client, "GET", "/v1/subaccounts", token=agency.owner_token)
        assert len(few.body["subaccounts"]) == 3 and len(many.body["subaccounts"]) == 9
        assert dynamodb_calls.total == calls_for_few
        assert "Scan" not in dynamodb_calls.calls

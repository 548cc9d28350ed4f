"""Report answers are exactly their declared response models, for agency roles (with
``profit_usd``) and for clients (without it), with and without the daily series."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel

from chalicelib.api.reports import ReportListOut, ReportOut
from tests.e2e.reports.scenario import Book, add_subaccount, add_user
from tests.helpers import call, create_agency


def exactly(model: type[BaseModel], body: Any) -> None:
    """``body`` validates against ``model`` and carries exactly the fields it sets."""
    parsed = model.model_validate(body)
    assert parsed.model_dump(mode="json", by_alias=True, exclude_unset=True) == body


class TestReportAnswersMatchTheirModels:
    def test_list_and_single_reports_for_an_owner_and_a_client(self, reports_client) -> None:
        agency = create_agency(reports_client, subscription_start="2026-01-31")
        client = add_subaccount(agency.agency_id, "Client", basic=150_000, premium=250_000)
        book = Book(agency.agency_id)
        book.purchase(client, "basic", 30, date(2026, 2, 1))
        book.usage(client, "basic", 125, "completed", "outbound", date(2026, 2, 2))
        member = add_user(agency.agency_id, "subaccount_member", access_all=False,
                          subaccount_ids=(client.subaccount_id,))
        span = "from=2026-02-01&to=2026-02-03"
        for token, margin in ((agency.owner_token, True), (member, False)):
            for daily in ("true", "false"):
                listed = call(reports_client, "GET", f"/v1/reports/subaccounts?{span}"
                              f"&daily={daily}", token=token)
                assert listed.status == 200, listed.body
                assert ("profit_usd" in listed.body["totals"]) is margin
                assert ("daily" in listed.body["subaccounts"][0]) is (daily == "true")
                exactly(ReportListOut, listed.body)
            single = call(reports_client, "GET",
                          f"/v1/reports/subaccounts/{client.subaccount_id}?{span}", token=token)
            assert single.status == 200, single.body
            assert ("profit_usd" in single.body["daily"][0]) is margin
            exactly(ReportOut, single.body)

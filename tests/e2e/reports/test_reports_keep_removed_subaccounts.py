"""Removed sub-accounts keep their history in the agency report (SPEC "Reporting").

The totals of a range include every sub-account that had activity in it; the list shows a
removed one (``status: removed``) for ranges where it had activity, live ones always.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from tests.helpers import AgencyFixture, call, create_agency

JANUARY = ("2026-01-01", "2026-01-31")
DECEMBER = ("2025-12-01", "2025-12-31")


def _new_client(client: Any, agency: AgencyFixture, name: str) -> str:
    answer = call(client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
        "name": name, "login_email": f"{uuid.uuid4().hex[:10]}@clients.example.com",
        "prices": {"basic": "0.15", "premium": "0.25"}, "subscription_start": "2026-01-31"})
    assert answer.status == 201, answer.body
    return answer.body["id"]


def _grant_basic_minutes(client: Any, sid: str, minutes: str) -> None:
    granted = call(client, "POST", "/v1/platform/adjustments", platform=True,
                   headers={"Idempotency-Key": uuid.uuid4().hex},
                   body={"subaccount_id": sid, "asset": "basic_minutes", "amount": minutes,
                         "reason": "test grant"})
    assert granted.status == 201, granted.body


def _calls(client: Any, records: list[tuple[str, int, str]]) -> None:
    ingested = call(client, "POST", "/v1/platform/usage", platform=True, body={"records": [
        {"call_id": f"call-{uuid.uuid4().hex}", "subaccount_id": sid, "tier": "basic",
         "duration_seconds": seconds, "direction": "outbound", "status": "completed",
         "started_at": started} for sid, seconds, started in records]})
    assert ingested.status == 200, ingested.body
    assert ingested.body["recorded"] == len(records), ingested.body


def _report(client: Any, agency: AgencyFixture, span: tuple[str, str]) -> dict[str, Any]:
    answer = call(client, "GET", f"/v1/reports/subaccounts?from={span[0]}&to={span[1]}",
                  token=agency.owner_token)
    assert answer.status == 200, answer.body
    return answer.body


class TestRemovedSubaccountsInTheAgencyReport:
    def test_agency_report_totals_keep_removed_subaccounts(self, app_client) -> None:
        client = app_client
        agency = create_agency(client, subscription_start="2026-01-31")
        kept = _new_client(client, agency, "Kept client")
        gone = _new_client(client, agency, "Gone client")
        for sid in (kept, gone):
            _grant_basic_minutes(client, sid, "10")
        # January activity in both: 120 s in the kept one, 90 + 30 s in the one removed later.
        _calls(client, [(kept, 120, "2026-01-10T12:00:00Z"),
                        (gone, 90, "2026-01-12T12:00:00Z"),
                        (gone, 30, "2026-01-20T12:00:00Z")])
        removed = call(client, "POST", f"/v1/subaccounts/{gone}/removal",
                       token=agency.owner_token,
                       body={"minutes_destination_id": agency.primary_id})
        assert removed.status in (200, 201), removed.body

        january = _report(client, agency, JANUARY)
        rows = {row["subaccount_id"]: row for row in january["subaccounts"]}
        # Live ones always, the removed one because it had January activity.
        assert set(rows) == {agency.primary_id, kept, gone}
        assert rows[gone]["status"] == "removed"
        assert rows[kept]["status"] == "active"
        assert rows[agency.primary_id]["status"] == "active"
        assert rows[gone]["seconds_used"] == {"basic": 120, "premium": 0}
        assert rows[gone]["calls"]["total"] == 2
        # SPEC: the totals of the range count every sub-account with activity in it.
        assert january["totals"]["seconds_used"] == {"basic": 120 + 120, "premium": 0}
        assert january["totals"]["calls"]["total"] == 3
        # 240 s at $0.15 a minute.
        assert january["totals"]["spent_usd"] == "0.60"

    def test_a_range_without_its_activity_does_not_list_a_removed_subaccount(
            self, app_client) -> None:
        client = app_client
        agency = create_agency(client, subscription_start="2026-01-31")
        gone = _new_client(client, agency, "Gone client")
        _grant_basic_minutes(client, gone, "10")
        _calls(client, [(gone, 60, "2026-01-12T12:00:00Z")])
        removed = call(client, "POST", f"/v1/subaccounts/{gone}/removal",
                       token=agency.owner_token,
                       body={"minutes_destination_id": agency.primary_id})
        assert removed.status in (200, 201), removed.body

        december = _report(client, agency, DECEMBER)
        assert [row["subaccount_id"] for row in december["subaccounts"]] == [agency.primary_id]
        assert december["totals"]["seconds_used"] == {"basic": 0, "premium": 0}
        january = _report(client, agency, JANUARY)
        assert {row["subaccount_id"] for row in january["subaccounts"]} == {
            agency.primary_id, gone}
        # The CSV lists it too, as removed.
        csv_answer = call(client, "GET",
                          f"/v1/reports/subaccounts?from={JANUARY[0]}&to={JANUARY[1]}",
                          token=agency.owner_token, headers={"Accept": "text/csv"})
        assert csv_answer.status == 200
        lines = {line["subaccount_id"]: line
                 for line in csv.DictReader(io.StringIO(csv_answer.body, newline=""))}
        assert lines[gone]["status"] == "removed"
        assert int(lines[gone]["basic_seconds_used"]) == 60

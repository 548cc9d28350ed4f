"""The report list costs the same number of DynamoDB calls for 2 or 12 sub-accounts
(SPEC quality bars: no N+1), and the single sub-account report does not read the agency."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.e2e.reports.scenario import Book, add_subaccount
from tests.helpers import AgencyFixture, call, create_agency

START, END = date(2026, 1, 1), date(2026, 1, 31)


def _agency_with(client: Any, count: int) -> tuple[AgencyFixture, list[str]]:
    """An agency with ``count`` sub-accounts (the primary included), each with a January
    purchase and call, so every one of them has counter rows in the range."""
    from chalicelib.services.access import get_subaccount

    agency = create_agency(client, subscription_start="2026-01-31")
    subs = [get_subaccount(agency.agency_id, agency.primary_id)]
    subs += [add_subaccount(agency.agency_id, f"Client {n:02d}", basic=150_000,
                            premium=250_000) for n in range(count - 1)]
    book = Book(agency.agency_id)
    for n, sub in enumerate(subs):
        book.purchase(sub, "basic", 5, date(2026, 1, 2 + n))
        book.usage(sub, "basic", 60, "completed", "outbound", date(2026, 1, 3 + n))
    return agency, [sub.subaccount_id for sub in subs]


def _list_cost(client: Any, agency: AgencyFixture, dynamodb_calls: Any) -> dict[str, int]:
    dynamodb_calls.reset()
    answer = call(client, "GET", f"/v1/reports/subaccounts?from={START}&to={END}",
                  token=agency.owner_token)
    assert answer.status == 200, answer.body
    return dict(dynamodb_calls.calls)


class TestReportListCost:
    def test_report_list_costs_the_same_for_2_and_12_subaccounts(
            self, reports_client, dynamodb_calls) -> None:
        small, _ = _agency_with(reports_client, 2)
        large, large_ids = _agency_with(reports_client, 12)

        small_cost = _list_cost(reports_client, small, dynamodb_calls)
        large_cost = _list_cost(reports_client, large, dynamodb_calls)
        assert small_cost == large_cost
        assert "Scan" not in large_cost
        # Bounded: the session, the sub-accounts, the counters of the range, the wallets.
        assert sum(large_cost.values()) <= 5

        # ...and it still reports every sub-account's own figures.
        answer = call(reports_client, "GET", f"/v1/reports/subaccounts?from={START}&to={END}",
                      token=large.owner_token)
        rows = {row["subaccount_id"]: row for row in answer.body["subaccounts"]}
        assert set(rows) == set(large_ids)
        for sid in large_ids:
            assert rows[sid]["seconds_used"] == {"basic": 60, "premium": 0}
            assert rows[sid]["calls"]["total"] == 1
        assert answer.body["totals"]["seconds_used"] == {"basic": 60 * 12, "premium": 0}
        assert answer.body["totals"]["calls"]["total"] == 12

    def test_single_subaccount_report_does_not_read_the_whole_agency(
            self, reports_client, dynamodb_calls) -> None:
        small, small_ids = _agency_with(reports_client, 2)
        large, large_ids = _agency_with(reports_client, 12)

        costs = []
        for agency, sid in ((small, small_ids[1]), (large, large_ids[1])):
            dynamodb_calls.reset()
            answer = call(reports_client, "GET",
                          f"/v1/reports/subaccounts/{sid}?from={START}&to={END}",
                          token=agency.owner_token)
            assert answer.status == 200, answer.body
            assert answer.body["seconds_used"] == {"basic": 60, "premium": 0}
            costs.append(dict(dynamodb_calls.calls))
        assert costs[0] == costs[1]
        assert costs[1].get("Query") == 1  # its own counter rows only

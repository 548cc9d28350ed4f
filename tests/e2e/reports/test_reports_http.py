"""Reports over HTTP: a scripted month, JSON and CSV, ranges, access and read cost."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.domain.money import minutes_cost, render_minutes, render_usd
from chalicelib.domain.reporting import CALL_STATUSES, DAILY_CSV_COLUMNS, LIST_CSV_COLUMNS
from tests.e2e.reports.scenario import Book, add_subaccount, add_user, ledger_sums
from tests.helpers import call, create_agency

JAN_31, FEB_1, FEB_28, MAR_1 = (date(2026, 1, 31), date(2026, 2, 1), date(2026, 2, 28),
                                date(2026, 3, 1))
TODAY = datetime.now(UTC).date()


def report_path(sid: str | None, start: date | str, end: date | str) -> str:
    base = "/v1/reports/subaccounts" + (f"/{sid}" if sid else "")
    return f"{base}?from={start}&to={end}"


@pytest.fixture(scope="module")
def month(reports_client):
    """An agency (anchor 2026-01-31) with two clients and a scripted February of events.

    The primary buys Premium and moves some to Client A; Client A buys Basic and talks;
    Client B ("=Evil, Inc." tests CSV escaping) has only a call that finds an empty wallet.
    """
    app_client = reports_client
    agency = create_agency(app_client, subscription_start="2026-01-31")
    client_a = add_subaccount(agency.agency_id, "Client A", basic=150_000, premium=250_000,
                              subscription_start="2026-01-31")
    client_b = add_subaccount(agency.agency_id, '=Evil, "Inc."', basic=120_000,
                              premium=200_000, subscription_start="2026-03-15")
    from chalicelib.services.access import get_subaccount

    primary = get_subaccount(agency.agency_id, agency.primary_id)
    book = Book(agency.agency_id)
    book.purchase(primary, "premium", 100, JAN_31)       # outside February
    book.purchase(client_a, "basic", 30, FEB_1)           # 30 × 0.15 = 4.50, profit 1.50
    book.usage(client_a, "basic", 125, "completed", "outbound", FEB_1)
    book.usage(client_a, "basic", 61, "no_answer", "outbound", date(2026, 2, 14))
    book.move(primary, client_a, "premium", 600, date(2026, 2, 14))
    book.usage(client_a, "premium", 90, "completed", "inbound", FEB_28)
    book.usage(client_b, "basic", 30, "busy", "inbound", FEB_28)  # empty wallet: shortfall
    book.purchase(client_a, "premium", 10, FEB_28)        # 10 × 0.25 = 2.50, profit 0.90
    book.usage(client_a, "basic", 60, "completed", "outbound", MAR_1)  # outside February
    return app_client, agency, primary, client_a, client_b, book


class TestScriptedMonth:
    def test_list_report_figures_equal_the_ledger_and_the_model(self, month) -> None:
        client, agency, primary, client_a, client_b, book = month
        answer = call(client, "GET", report_path(None, FEB_1, FEB_28), token=agency.owner_token)
        assert answer.status == 200, answer.body
        rows = {row["subaccount_id"]: row for row in answer.body["subaccounts"]}
        assert list(rows) == [primary.subaccount_id, client_b.subaccount_id,
                              client_a.subaccount_id]  # primary first, then by name
        a = rows[client_a.subaccount_id]
        assert a["from"] == "2026-02-01" and a["to"] == "2026-02-28"
        assert a["seconds_used"] == {"basic": 186, "premium": 90}
        assert a["minutes_used"] == {"basic": "3.10", "premium": "1.50"}
        assert a["calls"]["total"] == 3
        assert a["calls"]["by_status"]["completed"] == 2
        assert a["calls"]["by_status"]["no_answer"] == 1
        assert set(a["calls"]["by_status"]) == set(CALL_STATUSES)
        assert a["calls"]["by_direction"] == {"inbound": 1, "outbound": 2}
        spent = minutes_cost(186, 150_000) + minutes_cost(90, 250_000)
        assert a["spent_usd"] == render_usd(spent) == "0.84"
        assert a["purchases_usd"] == "7.00"
        assert a["profit_usd"] == "2.40"
        for sid, row in rows.items():
            ledger = ledger_sums(agency.agency_id, sid, FEB_1, FEB_28)
            assert row["seconds_used"] == {"basic": ledger["used_basic_seconds"],
                                           "premium": ledger["used_premium_seconds"]}
            assert row["purchases_usd"] == render_usd(ledger["purchases_micros"])
            assert row["profit_usd"] == render_usd(ledger["profit_micros"])
            model = book.model.sum([sid], FEB_1, FEB_28)
            assert row["spent_usd"] == render_usd(model["spent_micros"])
            assert row["calls"]["total"] == model["calls_total"]
            assert len(row["daily"]) == 28

    def test_each_row_carries_wallet_now_and_next_billing_date(self, month) -> None:
        client, agency, _primary, client_a, client_b, _ = month
        rows = {r["subaccount_id"]: r for r in call(
            client, "GET", report_path(None, FEB_1, FEB_28), token=agency.owner_token
        ).body["subaccounts"]}
        # Client A now holds 30 min Basic − 246 s used, Premium 600 s moved at 0.16→0.25
        # (384 s) + 600 s bought − 90 s used.
        basic_left, premium_left = 1800 - 246, 384 + 600 - 90
        wallet = minutes_cost(basic_left, 150_000) + minutes_cost(premium_left, 250_000)
        assert rows[client_a.subaccount_id]["wallet_balance_usd"] == render_usd(wallet)
        assert rows[client_b.subaccount_id]["wallet_balance_usd"] == "0.00"
        # Anchors: 31st (clamped month ends) and 15th.
        from chalicelib.domain.billing import next_cycle_date

        assert rows[client_a.subaccount_id]["next_billing_date"] == next_cycle_date(
            JAN_31, TODAY).isoformat()
        assert rows[client_b.subaccount_id]["next_billing_date"] == next_cycle_date(
            date(2026, 3, 15), TODAY).isoformat()

    def test_totals_are_sums_over_the_rows(self, month) -> None:
        client, agency, *_ = month
        body = call(client, "GET", report_path(None, FEB_1, FEB_28),
                    token=agency.owner_token).body
        rows, totals = body["subaccounts"], body["totals"]
        for tier in ("basic", "premium"):
            seconds = sum(r["seconds_used"][tier] for r in rows)
            assert totals["seconds_used"][tier] == seconds
            assert totals["minutes_used"][tier] == render_minutes(seconds)
        assert totals["calls"]["total"] == sum(r["calls"]["total"] for r in rows) == 4
        assert totals["calls"]["by_status"]["busy"] == 1
        for money in ("spent_usd", "purchases_usd", "profit_usd", "wallet_balance_usd"):
            micros = sum(_micros(r[money]) for r in rows)
            assert _micros(totals[money]) == micros, money

    def test_shortfall_is_reported_next_to_the_call(self, month) -> None:
        client, agency, _, _, client_b, _ = month
        row = call(client, "GET", report_path(client_b.subaccount_id, FEB_1, FEB_28),
                   token=agency.owner_token).body
        assert row["seconds_used"] == {"basic": 0, "premium": 0}
        assert row["shortfall_seconds"] == 30
        assert row["calls"]["by_status"]["busy"] == 1

    def test_single_report_has_one_daily_entry_per_day_zero_days_included(self, month) -> None:
        client, agency, _, client_a, _, _ = month
        row = call(client, "GET", report_path(client_a.subaccount_id, JAN_31, MAR_1),
                   token=agency.owner_token).body
        days = [entry["date"] for entry in row["daily"]]
        assert days[0] == "2026-01-31" and days[-1] == "2026-03-01" and len(days) == 30
        by_day = {entry["date"]: entry for entry in row["daily"]}
        assert by_day["2026-02-01"]["seconds_used"] == {"basic": 125, "premium": 0}
        assert by_day["2026-02-01"]["minutes_used"] == {"basic": "2.08", "premium": "0.00"}
        assert by_day["2026-02-01"]["calls"] == 1
        assert by_day["2026-02-01"]["purchases_usd"] == "4.50"
        assert by_day["2026-02-02"] == {
            "date": "2026-02-02", "minutes_used": {"basic": "0.00", "premium": "0.00"},
            "seconds_used": {"basic": 0, "premium": 0}, "calls": 0, "spent_usd": "0.00",
            "purchases_usd": "0.00", "profit_usd": "0.00"}
        assert by_day["2026-03-01"]["seconds_used"]["basic"] == 60
        assert row["seconds_used"]["basic"] == 125 + 61 + 60


def _micros(text: str) -> int:
    from chalicelib.domain.money import parse_usd

    return parse_usd(text, signed=True)


def _csv(answer) -> list[dict[str, str]]:
    text = answer.body if isinstance(answer.body, str) else str(answer.body)
    return list(csv.DictReader(io.StringIO(text, newline="")))


class TestCsv:
    def test_list_csv_parses_back_to_the_json_figures(self, month) -> None:
        client, agency, *_ = month
        json_rows = call(client, "GET", report_path(None, FEB_1, FEB_28),
                         token=agency.owner_token).body["subaccounts"]
        answer = call(client, "GET", report_path(None, FEB_1, FEB_28), token=agency.owner_token,
                      headers={"Accept": "text/csv"})
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "text/csv"
        assert answer.headers["Content-Disposition"] == (
            'attachment; filename="report-subaccounts-2026-02-01-2026-02-28.csv"')
        text = answer.body
        assert text.splitlines()[0].split(",") == list(LIST_CSV_COLUMNS)
        parsed = _csv(answer)
        assert len(parsed) == len(json_rows)
        for line, row in zip(parsed, json_rows, strict=True):
            assert line["subaccount_id"] == row["subaccount_id"]
            assert int(line["basic_seconds_used"]) == row["seconds_used"]["basic"]
            assert int(line["premium_seconds_used"]) == row["seconds_used"]["premium"]
            assert line["basic_minutes_used"] == row["minutes_used"]["basic"]
            assert int(line["calls_total"]) == row["calls"]["total"]
            for status in CALL_STATUSES:
                assert int(line[f"calls_{status}"]) == row["calls"]["by_status"][status]
            for money in ("spent_usd", "purchases_usd", "profit_usd", "wallet_balance_usd"):
                assert _micros(line[money]) == _micros(row[money])
            assert line["next_billing_date"] == row["next_billing_date"]
        # A name that a spreadsheet would run as a formula is defused; commas/quotes survive.
        assert '\'=Evil, "Inc."' in [line["name"] for line in parsed]

    def test_single_csv_is_one_row_per_day(self, month) -> None:
        client, agency, _, client_a, _, _ = month
        json_row = call(client, "GET", report_path(client_a.subaccount_id, FEB_28, MAR_1),
                        token=agency.owner_token).body
        answer = call(client, "GET", report_path(client_a.subaccount_id, FEB_28, MAR_1),
                      token=agency.owner_token, headers={"Accept": "text/csv, */*;q=0.1"})
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "text/csv"
        assert answer.body.splitlines()[0].split(",") == list(DAILY_CSV_COLUMNS)
        parsed = _csv(answer)
        assert [line["date"] for line in parsed] == ["2026-02-28", "2026-03-01"]
        for line, entry in zip(parsed, json_row["daily"], strict=True):
            assert int(line["basic_seconds_used"]) == entry["seconds_used"]["basic"]
            assert int(line["premium_seconds_used"]) == entry["seconds_used"]["premium"]
            assert int(line["calls_total"]) == entry["calls"]
            assert line["purchases_usd"] == entry["purchases_usd"]
            assert line["spent_usd"] == entry["spent_usd"]
        assert sum(int(line["premium_seconds_used"]) for line in parsed) == 90


class TestRanges:
    @pytest.mark.parametrize("query", [
        "", "?from=2026-02-01", "?to=2026-02-01", "?from=2026-02-30&to=2026-03-01",
        "?from=2026/02/01&to=2026-03-01", "?from=20260201&to=2026-03-01",
        "?from=2026-02-01&to=tomorrow", "?from=2026-03-02&to=2026-03-01",
        "?from=2026-01-01&to=2027-01-02",
    ])
    def test_missing_garbled_reversed_or_too_long_is_422(self, month, query) -> None:
        app_client, agency, *_ = month
        for path in ("/v1/reports/subaccounts", f"/v1/reports/subaccounts/{agency.primary_id}"):
            answer = call(app_client, "GET", path + query, token=agency.owner_token)
            assert answer.status == 422, (path, query, answer.body)
            assert answer.error_code == "validation_failed"

    def test_a_whole_leap_year_is_366_days(self, reports_client) -> None:
        app_client = reports_client
        agency = create_agency(app_client)
        book = Book(agency.agency_id)
        from chalicelib.services.access import get_subaccount

        primary = get_subaccount(agency.agency_id, agency.primary_id)
        book.purchase(primary, "basic", 5, date(2028, 2, 29))
        book.usage(primary, "basic", 42, "completed", "inbound", date(2028, 2, 29))
        book.usage(primary, "basic", 18, "completed", "inbound", date(2028, 12, 31))
        row = call(app_client, "GET", report_path(agency.primary_id, "2028-01-01", "2028-12-31"),
                   token=agency.owner_token).body
        assert len(row["daily"]) == 366
        leap = next(e for e in row["daily"] if e["date"] == "2028-02-29")
        assert leap["seconds_used"]["basic"] == 42
        assert row["seconds_used"]["basic"] == 60
        assert row["minutes_used"]["basic"] == "1.00"
        assert row["purchases_usd"] == "0.50" and row["profit_usd"] == "0.00"  # primary: base
        # 2027 is not a leap year: 2027-01-01..2028-01-01 is 366 days, one more is refused.
        assert call(app_client, "GET", report_path(None, "2027-01-01", "2028-01-01"),
                    token=agency.owner_token).status == 200
        assert call(app_client, "GET", report_path(None, "2027-01-01", "2028-01-02"),
                    token=agency.owner_token).status == 422

    def test_ranges_split_at_month_ends_add_up(self, month) -> None:
        client, agency, _, client_a, _, _ = month
        sid = client_a.subaccount_id

        def seconds(start: date, end: date) -> dict:
            return call(client, "GET", report_path(sid, start, end),
                        token=agency.owner_token).body["seconds_used"]

        whole = seconds(JAN_31, MAR_1)
        parts = [seconds(JAN_31, JAN_31), seconds(FEB_1, FEB_28), seconds(MAR_1, MAR_1)]
        for tier in ("basic", "premium"):
            assert whole[tier] == sum(part[tier] for part in parts)
        assert whole == {"basic": 246, "premium": 90}
        before = seconds(FEB_1 - timedelta(days=60), JAN_31)
        assert before == {"basic": 0, "premium": 0}

    def test_list_can_leave_out_the_daily_series(self, month) -> None:
        client, agency, *_ = month
        body = call(client, "GET", report_path(None, FEB_1, FEB_28) + "&daily=false",
                    token=agency.owner_token).body
        assert all("daily" not in row for row in body["subaccounts"])
        assert call(client, "GET", report_path(None, FEB_1, FEB_28) + "&daily=maybe",
                    token=agency.owner_token).status == 422


class TestAccess:
    def test_unknown_or_foreign_ids_are_404(self, month) -> None:
        client, agency, *_ = month
        other = create_agency(client)
        for sid in ("sub_doesnotexist", other.primary_id):
            answer = call(client, "GET", report_path(sid, FEB_1, FEB_28),
                          token=agency.owner_token)
            assert answer.status == 404 and answer.error_code == "not_found"

    def test_without_a_token_is_401(self, reports_client) -> None:
        assert call(reports_client, "GET", report_path(None, FEB_1, FEB_28)).status == 401

    def test_subaccount_member_sees_only_what_is_assigned(self, month) -> None:
        client, agency, primary, client_a, client_b, _ = month
        token = add_user(agency.agency_id, "subaccount_member", access_all=False,
                         subaccount_ids=(client_a.subaccount_id,))
        body = call(client, "GET", report_path(None, FEB_1, FEB_28), token=token).body
        assert [r["subaccount_id"] for r in body["subaccounts"]] == [client_a.subaccount_id]
        assert body["totals"]["seconds_used"] == {"basic": 186, "premium": 90}
        assert call(client, "GET", report_path(client_a.subaccount_id, FEB_1, FEB_28),
                    token=token).status == 200
        for hidden in (primary.subaccount_id, client_b.subaccount_id):
            assert call(client, "GET", report_path(hidden, FEB_1, FEB_28),
                        token=token).status == 404

    def test_agency_member_sees_primary_and_granted(self, month) -> None:
        client, agency, primary, client_a, client_b, _ = month
        token = add_user(agency.agency_id, "agency_member", access_all=False,
                         subaccount_ids=(client_b.subaccount_id,))
        body = call(client, "GET", report_path(None, FEB_1, FEB_28), token=token).body
        assert [r["subaccount_id"] for r in body["subaccounts"]] == [
            primary.subaccount_id, client_b.subaccount_id]
        assert call(client, "GET", report_path(client_a.subaccount_id, FEB_1, FEB_28),
                    token=token).status == 404

    def test_subaccount_user_with_nothing_assigned_gets_an_empty_list(self, month) -> None:
        client, agency, *_ = month
        token = add_user(agency.agency_id, "subaccount_admin", access_all=False)
        body = call(client, "GET", report_path(None, FEB_1, FEB_28), token=token).body
        assert body["subaccounts"] == []
        assert body["totals"]["wallet_balance_usd"] == "0.00"
        assert body["totals"]["calls"]["total"] == 0


class TestReadCost:
    def test_no_query_per_subaccount_and_no_scan(self, month, dynamodb_calls) -> None:
        client, agency, *_ = month
        dynamodb_calls.reset()
        answer = call(client, "GET", report_path(None, "2025-03-01", "2026-02-28"),
                      token=agency.owner_token)
        assert answer.status == 200 and len(answer.body["subaccounts"]) == 3
        assert dynamodb_calls.calls["Scan"] == 0
        # 1 Query for the sub-accounts + 1 for every sub-account's counters of the range.
        assert dynamodb_calls.calls["Query"] == 1 + 1
        # Session (user + agency) and every wallet balance, one batch each.
        assert dynamodb_calls.calls["BatchGetItem"] == 2
        assert dynamodb_calls.total == 2 + 2

    def test_single_report_reads_three_items_groups(self, month, dynamodb_calls) -> None:
        client, agency, _, client_a, _, _ = month
        dynamodb_calls.reset()
        assert call(client, "GET", report_path(client_a.subaccount_id, "2025-03-01",
                                               "2026-02-28"), token=agency.owner_token
                    ).status == 200
        assert dict(dynamodb_calls.calls) == {"BatchGetItem": 2, "GetItem": 1, "Query": 1}

"""Pure reporting rules: ranges, sums, the row, totals, CSV layout, next billing date."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.money import parse_usd
from chalicelib.domain.reporting import (
    DAILY_CSV_COLUMNS,
    LIST_CSV_COLUMNS,
    MAX_RANGE_DAYS,
    REPORT_COUNTERS,
    DateRange,
    SubaccountFacts,
    build_report,
    csv_filename,
    parse_date_range,
    render_report,
    render_report_list,
    report_daily_csv,
    report_list_csv,
    safe_text_cell,
    sum_counters,
    wallet_balance_micros,
)

BASE = {"basic": 100_000, "premium": 160_000}


def facts(name: str = "Client", sid: str = "sub_1", anchor: date = date(2026, 1, 31),
          balance: dict | None = None, prices: dict | None = None) -> SubaccountFacts:
    return SubaccountFacts(sid, name, anchor, prices or BASE,
                           balance or {"basic": 0, "premium": 0})


class TestStoreAgreement:
    def test_every_report_counter_is_an_integer_attribute_of_the_day_row(self) -> None:
        from chalicelib.store.base import IntegerAttribute
        from chalicelib.store.stats import DailyStats

        attributes = DailyStats.get_attributes()
        for name in REPORT_COUNTERS:
            assert isinstance(attributes[name], IntegerAttribute), name


class TestParseDateRange:
    def test_inclusive_days(self) -> None:
        span = parse_date_range("2026-01-31", "2026-03-01")
        assert span == DateRange(date(2026, 1, 31), date(2026, 3, 1))
        assert span.day_count == 30
        assert span.dates()[1] == date(2026, 2, 1)

    def test_one_day(self) -> None:
        assert parse_date_range("2026-02-28", "2026-02-28").day_count == 1

    @pytest.mark.parametrize(("raw_from", "raw_to", "field"), [
        (None, "2026-01-01", "from"), ("2026-01-01", None, "to"), ("", "2026-01-01", "from"),
        ("2026-1-1", "2026-01-02", "from"), ("2026-01-01", "2026-02-30", "to"),
        ("2025-02-29", "2025-03-01", "from"), ("20260101", "2026-01-02", "from"),
        ("2026-01-01T00:00", "2026-01-02", "from"), ("x", "y", "from"),
        ("2026-01-02", "2026-01-01", "to"),
    ])
    def test_bad_input_is_a_validation_failure_naming_the_field(self, raw_from, raw_to,
                                                                 field) -> None:
        with pytest.raises(ValidationFailed) as error:
            parse_date_range(raw_from, raw_to)
        assert error.value.details["field"] == field

    def test_at_most_366_days(self) -> None:
        assert parse_date_range("2028-01-01", "2028-12-31").day_count == MAX_RANGE_DAYS
        assert parse_date_range("2026-01-01", "2027-01-01").day_count == 366
        with pytest.raises(ValidationFailed) as error:
            parse_date_range("2026-01-01", "2027-01-02")
        assert error.value.details["days"] == 367

    def test_leap_day_is_a_date_only_in_leap_years(self) -> None:
        assert parse_date_range("2028-02-29", "2028-02-29").day_count == 1
        with pytest.raises(ValidationFailed):
            parse_date_range("2027-02-29", "2027-03-01")


class TestBuildReport:
    def test_daily_series_has_every_day_with_zeros(self) -> None:
        span = parse_date_range("2028-02-27", "2028-03-02")
        rows = {date(2028, 2, 29): {"used_basic_seconds": 90, "calls_total": 1,
                                    "calls_completed": 1, "spent_micros": 150_000}}
        row = render_report(build_report(facts(), span, rows, date(2028, 2, 29)))
        assert [d["date"] for d in row["daily"]] == [
            "2028-02-27", "2028-02-28", "2028-02-29", "2028-03-01", "2028-03-02"]
        assert row["daily"][2]["minutes_used"] == {"basic": "1.50", "premium": "0.00"}
        assert row["daily"][2]["seconds_used"] == {"basic": 90, "premium": 0}
        assert row["daily"][0]["calls"] == 0 and row["daily"][0]["spent_usd"] == "0.00"
        assert row["seconds_used"] == {"basic": 90, "premium": 0}
        assert row["calls"] == {
            "total": 1,
            "by_status": {"completed": 1, "failed": 0, "busy": 0, "no_answer": 0,
                          "canceled": 0, "other": 0},
            "by_direction": {"inbound": 0, "outbound": 0}}
        assert row["spent_usd"] == "0.15"

    def test_rows_outside_the_range_are_ignored(self) -> None:
        span = parse_date_range("2026-02-01", "2026-02-28")
        rows = {date(2026, 1, 31): {"purchases_micros": 5}, date(2026, 3, 1): {"calls_total": 7}}
        report = build_report(facts(), span, rows, date(2026, 2, 1))
        assert report.totals == dict.fromkeys(REPORT_COUNTERS, 0)

    def test_minutes_are_rounded_down_next_to_exact_seconds(self) -> None:
        span = parse_date_range("2026-02-01", "2026-02-01")
        rows = {date(2026, 2, 1): {"used_premium_seconds": 59}}
        row = render_report(build_report(facts(), span, rows, date(2026, 2, 1)))
        assert row["minutes_used"]["premium"] == "0.98"
        assert row["seconds_used"]["premium"] == 59

    def test_negative_profit_of_a_refund_is_rendered_signed(self) -> None:
        span = parse_date_range("2026-02-01", "2026-02-01")
        rows = {date(2026, 2, 1): {"profit_micros": -900_000, "refunds_micros": 2_500_000}}
        row = render_report(build_report(facts(), span, rows, date(2026, 2, 1)))
        assert row["profit_usd"] == "-0.90" and row["refunds_usd"] == "2.50"

    @pytest.mark.parametrize(("anchor", "today", "expected"), [
        (date(2026, 1, 31), date(2026, 1, 31), date(2026, 2, 28)),
        (date(2026, 1, 31), date(2026, 2, 15), date(2026, 2, 28)),
        (date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)),
        (date(2027, 1, 31), date(2028, 2, 1), date(2028, 2, 29)),
        (date(2026, 3, 15), date(2026, 2, 1), date(2026, 3, 15)),  # not started yet
        (date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 31)),
    ])
    def test_next_billing_date_from_the_anchor_with_clamped_month_ends(
            self, anchor, today, expected) -> None:
        span = parse_date_range("2026-01-01", "2026-01-01")
        report = build_report(facts(anchor=anchor), span, {}, today)
        assert render_report(report)["next_billing_date"] == expected.isoformat()

    def test_wallet_balance_is_minutes_left_at_the_current_price(self) -> None:
        assert wallet_balance_micros({"basic": 90, "premium": 1}, BASE) == 150_000 + 2_667
        span = parse_date_range("2026-01-01", "2026-01-01")
        report = build_report(facts(balance={"basic": 600, "premium": 0},
                                    prices={"basic": 150_000, "premium": 250_000}),
                              span, {}, date(2026, 1, 1))
        assert render_report(report)["wallet_balance_usd"] == "1.50"


counter_rows = st.dictionaries(
    st.integers(0, 40).map(lambda n: date(2028, 2, 10) + timedelta(days=n)),
    st.fixed_dictionaries({name: st.integers(-10**9, 10**9) for name in REPORT_COUNTERS}),
    max_size=20,
)


class TestSums:
    @settings(max_examples=60, deadline=None)
    @given(rows=counter_rows, a=st.integers(0, 40), b=st.integers(0, 40))
    def test_totals_equal_the_sum_of_the_daily_series_and_of_the_rows(self, rows, a,
                                                                       b) -> None:
        start, end = sorted((date(2028, 2, 10) + timedelta(days=a),
                             date(2028, 2, 10) + timedelta(days=b)))
        report = build_report(facts(), DateRange(start, end), rows, date(2028, 2, 10))
        assert report.totals == sum_counters(c for _, c in report.daily)
        brute = dict.fromkeys(REPORT_COUNTERS, 0)
        for day, counters in rows.items():
            if start <= day <= end:
                for name, value in counters.items():
                    brute[name] += value
        assert report.totals == brute
        assert len(report.daily) == (end - start).days + 1

    @settings(max_examples=30, deadline=None)
    @given(many=st.lists(counter_rows, min_size=0, max_size=4))
    def test_list_totals_are_integer_sums_of_the_rows(self, many) -> None:
        span = DateRange(date(2028, 2, 10), date(2028, 3, 21))
        reports = [build_report(facts(sid=f"sub_{n}"), span, rows, date(2028, 2, 10))
                   for n, rows in enumerate(many)]
        body = render_report_list(reports, span)
        totals = body["totals"]
        for tier in ("basic", "premium"):
            assert totals["seconds_used"][tier] == sum(
                r["seconds_used"][tier] for r in body["subaccounts"])
        for money in ("spent_usd", "purchases_usd", "profit_usd"):
            assert parse_usd(totals[money], signed=True) == sum(
                parse_usd(r[money], signed=True) for r in body["subaccounts"])


class TestCsv:
    def _reports(self):
        span = parse_date_range("2026-02-27", "2026-03-01")
        rows = {date(2026, 2, 28): {"used_basic_seconds": 125, "calls_total": 2,
                                    "calls_busy": 1, "calls_other": 1, "calls_inbound": 2,
                                    "purchases_micros": 4_500_000, "profit_micros": 1_500_000,
                                    "spent_micros": 312_500}}
        return span, [build_report(facts(name='Acme, "The" Co.\nLtd'), span, rows,
                                   date(2026, 2, 1)),
                      build_report(facts(name="=HYPERLINK(1)", sid="sub_2"), span, {},
                                   date(2026, 2, 1))]

    def test_list_csv_has_a_header_and_one_row_per_subaccount(self) -> None:
        _, reports = self._reports()
        lines = list(csv.reader(io.StringIO(report_list_csv(reports), newline="")))
        assert tuple(lines[0]) == LIST_CSV_COLUMNS
        assert len(lines) == 3
        first = dict(zip(LIST_CSV_COLUMNS, lines[1], strict=True))
        assert first["name"] == 'Acme, "The" Co.\nLtd'
        assert first["basic_seconds_used"] == "125" and first["basic_minutes_used"] == "2.08"
        assert first["calls_busy"] == "1" and first["calls_inbound"] == "2"
        assert first["purchases_usd"] == "4.50" and first["profit_usd"] == "1.50"
        assert first["spent_usd"] == "0.3125"
        assert first["next_billing_date"] == "2026-02-28"
        second = dict(zip(LIST_CSV_COLUMNS, lines[2], strict=True))
        assert second["name"] == "'=HYPERLINK(1)"

    def test_daily_csv_has_one_row_per_day(self) -> None:
        _, reports = self._reports()
        lines = list(csv.DictReader(io.StringIO(report_daily_csv(reports[0]), newline="")))
        assert list(lines[0]) == list(DAILY_CSV_COLUMNS)
        assert [line["date"] for line in lines] == ["2026-02-27", "2026-02-28", "2026-03-01"]
        assert sum(int(line["basic_seconds_used"]) for line in lines) == 125
        assert lines[0]["purchases_usd"] == "0.00"

    def test_figures_are_never_defused_only_names(self) -> None:
        assert safe_text_cell("-5") == "'-5"
        assert safe_text_cell("Client") == "Client"
        span = DateRange(date(2026, 1, 1), date(2026, 1, 1))
        report = build_report(facts(), span, {date(2026, 1, 1): {"profit_micros": -1}},
                              date(2026, 1, 1))
        line = next(csv.DictReader(io.StringIO(report_daily_csv(report), newline="")))
        assert line["profit_usd"] == "-0.000001"

    def test_filename_is_safe(self) -> None:
        span = DateRange(date(2026, 1, 1), date(2026, 1, 31))
        assert csv_filename('sub_1"; x', span) == "report-sub_1___x-2026-01-01-2026-01-31.csv"

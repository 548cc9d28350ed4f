"""Pure reporting rules for removed sub-accounts: listed as removed, no billing date ahead."""

from __future__ import annotations

import csv
import io
from datetime import date

from chalicelib.domain.reporting import (
    LIST_CSV_COLUMNS,
    DateRange,
    SubaccountFacts,
    build_report,
    had_activity,
    render_report,
    report_list_csv,
)

SPAN = DateRange(date(2026, 1, 1), date(2026, 1, 31))
PRICES = {"basic": 150_000, "premium": 250_000}


def _facts(status: str) -> SubaccountFacts:
    return SubaccountFacts("sub_1", "Client", date(2026, 1, 31), PRICES,
                           {"basic": 0, "premium": 0}, status=status)


class TestRemovedRows:
    def test_a_removed_row_says_removed_and_has_no_next_billing_date(self) -> None:
        report = build_report(_facts("removed"), SPAN, {date(2026, 1, 5): {"calls_total": 1}},
                              date(2026, 2, 10))
        row = render_report(report)
        assert row["status"] == "removed"
        assert row["next_billing_date"] is None
        assert row["calls"]["total"] == 1
        line = dict(zip(LIST_CSV_COLUMNS,
                        list(csv.reader(io.StringIO(report_list_csv([report]))))[1],
                        strict=True))
        assert line["status"] == "removed"
        assert line["next_billing_date"] == ""

    def test_a_live_row_keeps_its_status_and_billing_date(self) -> None:
        row = render_report(build_report(_facts("suspended"), SPAN, {}, date(2026, 2, 10)))
        assert row["status"] == "suspended"
        assert row["next_billing_date"] == "2026-02-28"


class TestActivity:
    def test_only_a_moved_counter_is_activity(self) -> None:
        assert not had_activity([])
        assert not had_activity([{"calls_total": 0, "spent_micros": 0}])
        assert had_activity([{"calls_total": 0}, {"refunds_micros": 5}])
        assert had_activity([{"profit_micros": -3}])

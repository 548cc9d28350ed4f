"""Report figures equal brute-force sums of the ledger and of an independent model.

Random books of purchases, refunds, calls and moves over a window that crosses two month ends
and a leap day (2028-02-29) are posted with their counters; then, for random ranges, every
report figure is compared with (a) the model's per-day sums and (b) a recomputation from the
ledger entries themselves.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.reporting import REPORT_COUNTERS
from chalicelib.domain.roles import Principal, Role
from chalicelib.services.reports import (
    agency_usage_totals,
    subaccount_report,
    subaccounts_report,
)
from tests.e2e.reports.scenario import Book, LedgerView, add_subaccount

WINDOW_START = date(2028, 1, 25)
WINDOW_DAYS = 42  # to 2028-03-06: Jan→Feb, Feb 29, Feb→Mar
TIERS = st.sampled_from(["basic", "premium"])
DAY = st.integers(min_value=0, max_value=WINDOW_DAYS - 1)

purchase = st.tuples(st.just("purchase"), st.integers(0, 2), TIERS, st.integers(1, 40), DAY)
usage = st.tuples(st.just("usage"), st.integers(0, 2), TIERS, st.integers(1, 1500),
                  st.sampled_from(["completed", "failed", "busy", "no_answer", "canceled",
                                   "voicemail"]),
                  st.sampled_from(["inbound", "outbound"]), DAY)
move = st.tuples(st.just("move"), st.integers(0, 2), st.integers(0, 2), TIERS,
                 st.integers(1, 1200), DAY)
refund = st.tuples(st.just("refund"), st.integers(0, 50), DAY)
EVENTS = st.lists(st.one_of(purchase, purchase, usage, usage, move, refund), min_size=1,
                  max_size=18)
RANGE = st.tuples(st.integers(-3, WINDOW_DAYS + 3), st.integers(0, WINDOW_DAYS + 3))


def day_at(offset: int) -> date:
    return WINDOW_START + timedelta(days=offset)


def play(events: list[tuple]) -> tuple[str, list, Book]:
    """Post the events for a new agency with a primary and two clients."""
    agency_id = f"agy_{uuid.uuid4().hex[:24]}"
    subs = [
        add_subaccount(agency_id, "Primary", basic=100_000, premium=160_000, primary=True,
                       subscription_start="2027-01-31"),
        add_subaccount(agency_id, "Client B", basic=150_000, premium=250_000,
                       subscription_start="2027-03-31"),
        add_subaccount(agency_id, "Client C", basic=123_457, premium=200_001,
                       subscription_start="2028-01-30"),
    ]
    book = Book(agency_id)
    for event in sorted(events, key=lambda e: e[-1]):
        kind = event[0]
        if kind == "purchase":
            _, who, tier, minutes, offset = event
            book.purchase(subs[who], tier, minutes, day_at(offset))
        elif kind == "usage":
            _, who, tier, seconds, status, direction, offset = event
            book.usage(subs[who], tier, seconds, status, direction, day_at(offset))
        elif kind == "move":
            _, src, dst, tier, seconds, offset = event
            if src != dst:
                book.move(subs[src], subs[dst], tier, seconds, day_at(offset))
        elif kind == "refund" and book.purchases:
            _, index, offset = event
            bought_on = book.purchases[index % len(book.purchases)][-1]
            book.refund(index % len(book.purchases), max(bought_on, day_at(offset)))
    return agency_id, subs, book


class TestReportFiguresEqualBruteForce:
    @settings(max_examples=5, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(events=EVENTS, ranges=st.lists(RANGE, min_size=2, max_size=3))
    def test_random_books_and_ranges(self, reports_client, events, ranges) -> None:
        agency_id, subs, book = play(events)
        owner = Principal("usr_owner", agency_id, Role.AGENCY_OWNER)
        sids = [sub.subaccount_id for sub in subs]
        ledger = LedgerView(agency_id)
        for a, b in ranges:
            start, end = sorted((day_at(a), day_at(b)))
            _, reports = subaccounts_report(owner, start.isoformat(), end.isoformat())
            assert [r.facts.subaccount_id for r in reports] == sids  # primary first, by name
            for report in reports:
                sid = report.facts.subaccount_id
                expected = book.model.sum([sid], start, end)
                assert report.totals == expected
                from_ledger = ledger.sums(sid, start, end)
                for name, value in from_ledger.items():
                    assert report.totals[name] == value, name
                assert len(report.daily) == (end - start).days + 1
                for day, counters in report.daily:
                    assert counters == book.model.sum([sid], day, day)
            agency = agency_usage_totals(agency_id, start, end)
            everything = book.model.sum(sids, start, end)
            assert agency["total_used_seconds"] == {
                "basic": everything["used_basic_seconds"],
                "premium": everything["used_premium_seconds"]}
            for name in ("profit_micros", "purchases_micros", "spent_micros", "refunds_micros"):
                assert agency[name] == everything[name], name
            assert agency["calls_total"] == everything["calls_total"]
            single = subaccount_report(owner, sids[1], start.isoformat(), end.isoformat())
            assert single.totals == book.model.sum([sids[1]], start, end)


class TestModelSanity:
    def test_counters_cover_every_report_counter(self) -> None:
        # The model's brute-force sum speaks the same counter names as the reports.
        from tests.e2e.reports.scenario import Model

        assert set(Model().sum([], WINDOW_START, WINDOW_START)) == set(REPORT_COUNTERS)

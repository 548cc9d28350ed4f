"""store.quotes, store.transfers and store.stats against the local DynamoDB."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.store import quotes, stats, transfers
from chalicelib.store.quotes import QuoteUsed
from chalicelib.store.transact import commit

AT = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)


def quote(agency_id: str = "agy_1", quote_id: str = "qte_1") -> quotes.TransferQuote:
    return quotes.create(
        agency_id=agency_id, quote_id=quote_id, from_subaccount_id="sub_a",
        to_subaccount_id="sub_b", from_is_primary=True, to_is_primary=False,
        asset="kp_credits", amount_sent=5, amount_received=5, from_price=None, to_price=None,
        from_price_version=1, to_price_version=1, from_balance_version=3, value_micros=0,
        created_by="usr_1", created_at=AT, valid_until=AT + timedelta(minutes=10))


class TestQuotes:
    def test_a_quote_is_read_back_within_its_agency_only(self, table) -> None:
        quote()
        found = quotes.get("agy_1", "qte_1")
        assert found is not None and (found.status, found.from_balance_version) == ("pending", 3)
        assert quotes.get("agy_2", "qte_1") is None

    def test_a_quote_is_used_once(self, table) -> None:
        stored = quote()
        commit([quotes.use(stored)])
        with pytest.raises(QuoteUsed):
            commit([quotes.use(stored)])
        used = quotes.get("agy_1", "qte_1")
        assert used is not None and used.status == "used"


class TestTransfers:
    def test_moves_page_newest_first(self, table) -> None:
        for n in range(3):
            commit([transfers.record(transfers.new(
                agency_id="agy_1", transfer_id=f"move:q{n}", quote_id=f"q{n}",
                from_subaccount_id="sub_a", to_subaccount_id="sub_b", asset="kp_credits",
                amount_sent=1, amount_received=1, from_price=None, to_price=None,
                value_micros=0, created_by="usr_1", created_at=AT + timedelta(seconds=n)))])
        first, cursor = transfers.newest_first("agy_1", limit=2, cursor=None)
        assert [m.quote_id for m in first] == ["q2", "q1"]
        rest, end = transfers.newest_first("agy_1", limit=2, cursor=cursor)
        assert [m.quote_id for m in rest] == ["q0"]
        assert end is None
        assert transfers.newest_first("agy_2", limit=2, cursor=None) == ([], None)


class TestDailyCounters:
    def test_counts_add_up_on_the_local_date_of_the_event(self, table) -> None:
        commit([stats.count("agy_1", "sub_a", AT, "UTC", calls_total=1, spent_micros=5)])
        commit([stats.count("agy_1", "sub_a", AT, "UTC", calls_total=2)])
        # 23:30 UTC is already March 2nd in Berlin
        commit([stats.count("agy_1", "sub_b", AT, "Europe/Berlin", calls_total=7)])
        rows = stats.days_of("agy_1", "sub_a", date(2026, 3, 1), date(2026, 3, 2))
        assert [(r.subaccount_id, r.day, r.counters["calls_total"], r.counters["spent_micros"])
                for r in rows] == [("sub_a", date(2026, 3, 1), 3, 5)]
        every = stats.agency_days("agy_1", date(2026, 3, 1), date(2026, 3, 2))
        assert sorted((r.subaccount_id, r.day, r.counters["calls_total"]) for r in every) == [
            ("sub_a", date(2026, 3, 1), 3), ("sub_b", date(2026, 3, 2), 7)]
        assert stats.agency_days("agy_1", date(2026, 3, 2), date(2026, 3, 2))[0].subaccount_id \
            == "sub_b"

    def test_an_unknown_counter_is_a_programming_error(self) -> None:
        with pytest.raises(ValueError):
            stats.count("agy_1", "sub_a", AT, "UTC", calls_made=1)

"""``store.notifications`` against the emulator: newest-first pages, with and without a
filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.store import notifications
from chalicelib.store.activity import Notification
from chalicelib.store.transact import commit

AT = datetime(2026, 3, 10, tzinfo=UTC)


def write(count: int, *, subaccount_id: str | None = None, start: int = 0) -> None:
    for n in range(start, start + count):
        commit([notifications.new("agy_1", "low_balance", f"n{n}", subaccount_id=subaccount_id,
                                  data={"n": n}, at=AT + timedelta(minutes=n))])


def messages(items: list[Notification]) -> list[str]:
    return [item.message for item in items]


class TestNewestFirst:
    def test_what_is_written_reads_back_newest_first(self, table: None) -> None:
        write(3)
        notifications.add("agy_1", "payout_failed", "alone", subaccount_id=None, data=None,
                          at=AT + timedelta(hours=1))
        items, _ = notifications.newest_first("agy_1", limit=10, cursor=None)
        assert messages(items) == ["alone", "n2", "n1", "n0"]
        assert (items[0].type, items[0].data, items[1].data) == ("payout_failed", {}, {"n": 2})

    def test_pages_follow_each_other(self, table: None) -> None:
        write(5)
        first, cursor = notifications.newest_first("agy_1", limit=3, cursor=None)
        second, _ = notifications.newest_first("agy_1", limit=3, cursor=cursor)
        assert messages(first) + messages(second) == ["n4", "n3", "n2", "n1", "n0"]


class TestMatching:
    def test_only_kept_items_and_the_next_page_starts_after_the_last_one(self,
                                                                       table: None) -> None:
        write(3, subaccount_id="sub_a")
        write(3, subaccount_id="sub_b", start=3)
        write(3, subaccount_id="sub_a", start=6)

        def mine(item: Notification) -> bool:
            return item.subaccount_id == "sub_a"

        first, cursor = notifications.newest_first_matching("agy_1", mine, limit=4,
                                                            cursor=None, budget=500)
        assert messages(first) == ["n8", "n7", "n6", "n2"]
        second, _ = notifications.newest_first_matching("agy_1", mine, limit=4, cursor=cursor,
                                                        budget=500)
        assert messages(second) == ["n1", "n0"]

    def test_a_budget_stops_the_reading_and_the_cursor_carries_on(self, table: None) -> None:
        write(6, subaccount_id="sub_b")
        write(1, subaccount_id="sub_a", start=6)
        write(6, subaccount_id="sub_b", start=7)

        def mine(item: Notification) -> bool:
            return item.subaccount_id == "sub_a"

        first, cursor = notifications.newest_first_matching("agy_1", mine, limit=2,
                                                            cursor=None, budget=4)
        assert first == [] and cursor is not None
        found: list[str] = []
        for _ in range(5):
            page, cursor = notifications.newest_first_matching("agy_1", mine, limit=2,
                                                               cursor=cursor, budget=4)
            found += messages(page)
            if cursor is None:
                break
        assert found == ["n6"]

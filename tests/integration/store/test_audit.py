"""``store.audit`` against the emulator: the newest-first log, its filters and ranges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.domain.errors import ValidationFailed
from chalicelib.store import audit
from chalicelib.store.activity import AuditEvent
from chalicelib.store.transact import commit

DAY = datetime(2026, 3, 10, tzinfo=UTC)


def record(agency_id: str, at: datetime, action: str = "user.removed", actor: str = "usr_a",
           subaccount_id: str | None = None) -> None:
    commit([audit.event(agency_id, actor, action, subaccount_id=subaccount_id, target="t",
                        before={"x": 1}, after=None, at=at)])


def read_all(agency_id: str, *, start: date | datetime | None = None,
             end: date | datetime | None = None, action: str | None = None,
             actor: str | None = None, subaccount_id: str | None = None) -> list[AuditEvent]:
    events, _ = audit.newest_first(agency_id, start=start, end=end, action=action,
                                   actor=actor, subaccount_id=subaccount_id, limit=50,
                                   cursor=None)
    return events


class TestTheLog:
    def test_events_come_newest_first_with_what_was_recorded(self, table: None) -> None:
        for hours in (1, 3, 2):
            record("agy_1", DAY + timedelta(hours=hours))
        events = read_all("agy_1")
        assert [e.at for e in events] == [DAY + timedelta(hours=h) for h in (3, 2, 1)]
        assert (events[0].action, events[0].actor_user_id, events[0].before,
                events[0].after) == ("user.removed", "usr_a", {"x": 1}, None)
        assert read_all("agy_2") == []

    def test_filters_keep_only_matching_events(self, table: None) -> None:
        record("agy_1", DAY, action="user.removed", actor="usr_a")
        record("agy_1", DAY + timedelta(minutes=1), action="agency.updated", actor="usr_b")
        record("agy_1", DAY + timedelta(minutes=2), action="user.removed", actor="usr_b",
               subaccount_id="sub_1")
        assert [e.actor_user_id for e in read_all("agy_1", action="user.removed")] == [
            "usr_b", "usr_a"]
        assert [e.action for e in read_all("agy_1", actor="usr_b",
                                           subaccount_id="sub_1")] == ["user.removed"]

    def test_pages_are_full_until_the_log_ends(self, table: None) -> None:
        for minute in range(5):
            record("agy_1", DAY + timedelta(minutes=minute))
        seen: list[datetime] = []
        cursor = None
        for _ in range(5):
            page, cursor = audit.newest_first("agy_1", start=None, end=None, action=None,
                                              actor=None, subaccount_id=None, limit=2,
                                              cursor=cursor)
            seen += [e.at for e in page]
            if cursor is None:
                break
        assert seen == [DAY + timedelta(minutes=m) for m in (4, 3, 2, 1, 0)]


class TestRanges:
    def test_dates_are_whole_utc_days_inclusive(self, table: None) -> None:
        record("agy_1", DAY - timedelta(microseconds=1))
        record("agy_1", DAY)
        record("agy_1", DAY + timedelta(hours=23, minutes=59, seconds=59))
        record("agy_1", DAY + timedelta(days=1))
        events = read_all("agy_1", start=date(2026, 3, 10), end=date(2026, 3, 10))
        assert [e.at for e in events] == [DAY + timedelta(hours=23, minutes=59, seconds=59),
                                          DAY]

    def test_datetimes_bound_to_the_instant(self, table: None) -> None:
        for minute in range(4):
            record("agy_1", DAY + timedelta(minutes=minute))
        events = read_all("agy_1", start=DAY + timedelta(minutes=1),
                          end=DAY + timedelta(minutes=2))
        assert [e.at for e in events] == [DAY + timedelta(minutes=2),
                                          DAY + timedelta(minutes=1)]

    def test_an_end_before_the_start_is_a_422(self, table: None) -> None:
        with pytest.raises(ValidationFailed) as refused:
            read_all("agy_1", start=date(2026, 3, 11), end=date(2026, 3, 10))
        assert refused.value.details == {"field": "to"}

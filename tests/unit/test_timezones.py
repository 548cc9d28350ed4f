"""The agency timezone rules: which local date an instant falls on, which names are zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.reporting import parse_date_range
from chalicelib.domain.timezones import (
    DEFAULT_TIMEZONE,
    is_known_timezone,
    local_date,
    require_known_timezone,
    zone_of,
)

ZONES = ["UTC", "America/New_York", "America/Los_Angeles", "Asia/Kolkata", "Asia/Kathmandu",
         "Australia/Lord_Howe", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/London",
         "Pacific/Chatham"]

instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.just(UTC))


class TestLocalDate:
    @pytest.mark.parametrize(("moment", "zone", "expected"), [
        ("2026-03-01T04:59:59", "America/New_York", "2026-02-28"),  # EST, UTC−5
        ("2026-03-01T05:00:00", "America/New_York", "2026-03-01"),
        ("2026-03-09T03:59:59", "America/New_York", "2026-03-08"),  # EDT after 8 March
        ("2026-03-09T04:00:00", "America/New_York", "2026-03-09"),
        ("2026-02-28T18:29:59", "Asia/Kolkata", "2026-02-28"),  # UTC+5:30
        ("2026-02-28T18:30:00", "Asia/Kolkata", "2026-03-01"),
        ("2026-02-28T18:14:59", "Asia/Kathmandu", "2026-02-28"),  # UTC+5:45
        ("2026-02-28T18:15:00", "Asia/Kathmandu", "2026-03-01"),
        ("2028-02-28T10:00:00", "Pacific/Kiritimati", "2028-02-29"),  # leap day, UTC+14
        ("2026-11-25T10:59:59", "Pacific/Pago_Pago", "2026-11-24"),  # UTC−11
        ("2026-12-31T23:59:59", "UTC", "2026-12-31"),
    ])
    def test_known_midnights(self, moment: str, zone: str, expected: str) -> None:
        at = datetime.fromisoformat(moment).replace(tzinfo=UTC)
        assert local_date(at, zone) == date.fromisoformat(expected)

    def test_naive_means_utc_and_other_offsets_are_converted(self) -> None:
        assert local_date(datetime(2026, 3, 1, 4, 0), "America/New_York") == date(2026, 2, 28)
        plus_two = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
        shifted = plus_two.astimezone(zone_of("Europe/Helsinki"))  # same instant, +02:00
        assert local_date(shifted, "UTC") == date(2026, 3, 1)
        assert local_date(shifted, "America/New_York") == date(2026, 2, 28)

    @pytest.mark.parametrize("name", [None, "", "Mars/Olympus", "../../etc/passwd"])
    def test_unknown_or_missing_zone_counts_in_utc(self, name: str | None) -> None:
        # Never stored by the API; a money path must still not fail on it.
        at = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
        assert local_date(at, name) == date(2026, 3, 1)

    @given(instants, st.sampled_from(ZONES))
    def test_local_date_is_within_a_day_of_utc(self, at: datetime, zone: str) -> None:
        assert abs((local_date(at, zone) - at.date()).days) <= 1

    @given(instants, st.sampled_from(ZONES))
    def test_local_dates_never_go_backwards(self, at: datetime, zone: str) -> None:
        # Counters are keyed by these dates: a later event never lands on an earlier day.
        assert local_date(at, zone) <= local_date(at + timedelta(minutes=1), zone)

    @given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
           st.sampled_from(ZONES))
    def test_every_local_day_is_reached(self, day: date, zone: str) -> None:
        # Noon local time of any day maps back to that day (no day is skipped by a zone).
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=zone_of(zone))
        assert local_date(noon.astimezone(UTC), zone) == day


class TestTimezoneNames:
    @pytest.mark.parametrize("name", ["UTC", "America/New_York", "Asia/Kolkata",
                                      "Etc/GMT+5", "Europe/Paris"])
    def test_iana_names_are_known(self, name: str) -> None:
        assert is_known_timezone(name)
        assert require_known_timezone(name) == name

    @pytest.mark.parametrize("name", ["localtime", "posixrules", "Mars/Olympus", "UTC+5",
                                      "america/new_york", "", " UTC", "../UTC", None, 5])
    def test_other_names_are_refused_with_the_field(self, name: object) -> None:
        assert not is_known_timezone(name)
        with pytest.raises(ValidationFailed) as refused:
            require_known_timezone(name)
        assert refused.value.details == {"field": "timezone"}

    def test_default_is_utc(self) -> None:
        assert DEFAULT_TIMEZONE == "UTC"
        assert parse_date_range("2026-01-01", "2026-01-31").timezone == "UTC"
        assert parse_date_range("2026-01-01", "2026-01-31", "Asia/Tokyo").timezone == "Asia/Tokyo"

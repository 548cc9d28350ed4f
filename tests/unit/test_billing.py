"""Billing cycles: monthly from the anchor, month ends clamped."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.billing import (
    current_period,
    cycle_date,
    is_cycle_date,
    next_cycle_date,
)


class TestCycles:
    def test_31_january_clamps_to_february_end_then_back_to_31_march(self) -> None:
        anchor = date(2026, 1, 31)
        assert [cycle_date(anchor, i) for i in range(3)] == [
            date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]

    def test_leap_year_february_has_29(self) -> None:
        assert cycle_date(date(2028, 1, 31), 1) == date(2028, 2, 29)

    def test_next_cycle_date_is_strictly_after(self) -> None:
        anchor = date(2026, 1, 31)
        assert next_cycle_date(anchor, date(2026, 2, 28)) == date(2026, 3, 31)
        assert next_cycle_date(anchor, date(2026, 2, 27)) == date(2026, 2, 28)

    @given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
           st.integers(min_value=0, max_value=3000))
    def test_every_day_falls_in_exactly_one_period(self, anchor: date, offset: int) -> None:
        day = anchor + timedelta(days=offset)
        start, end = current_period(anchor, day)
        assert start <= day < end
        assert is_cycle_date(anchor, start)
        assert next_cycle_date(anchor, day) == end

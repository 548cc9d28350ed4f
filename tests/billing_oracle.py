"""SPEC's billing cycles written out on their own, so that tests do not take expected dates
from ``chalicelib.domain.billing`` (the code they check): "monthly from the anchor date; a
day that a month lacks is clamped to the month's last day (31 Jan → 28/29 Feb → 31 Mar)"."""

from __future__ import annotations

import calendar
from datetime import date


def cycle_on(anchor: date, months: int) -> date:
    """The cycle date ``months`` months after the anchor, clamped to that month's end."""
    index = anchor.month - 1 + months
    year, month = anchor.year + index // 12, index % 12 + 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def next_cycle_after(anchor: date, day: date) -> date:
    """The first cycle date strictly after ``day`` (the anchor when ``day`` precedes it)."""
    months = 0
    while cycle_on(anchor, months) <= day:
        months += 1
    return cycle_on(anchor, months)

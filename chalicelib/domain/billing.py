"""Billing cycles: monthly from an anchor date, month ends clamped.

31 Jan → 28/29 Feb → 31 Mar: every cycle date is computed from the anchor, never from the
previous (already clamped) date, so a short month does not drag later cycles earlier.
"""

from __future__ import annotations

from datetime import date

from dateutil.relativedelta import relativedelta


def cycle_date(anchor: date, index: int) -> date:
    """The ``index``-th cycle date after ``anchor`` (index 0 is the anchor itself)."""
    return anchor + relativedelta(months=index)


def cycle_index_on_or_before(anchor: date, day: date) -> int:
    """Index of the last cycle date that is ``<= day`` (-1 when ``day`` precedes the anchor)."""
    if day < anchor:
        return -1
    months = (day.year - anchor.year) * 12 + (day.month - anchor.month)
    while months > 0 and cycle_date(anchor, months) > day:
        months -= 1
    return months


def current_period(anchor: date, day: date) -> tuple[date, date]:
    """The billing period containing ``day``: (start inclusive, end exclusive)."""
    index = max(cycle_index_on_or_before(anchor, day), 0)
    return cycle_date(anchor, index), cycle_date(anchor, index + 1)


def next_cycle_date(anchor: date, day: date) -> date:
    """The first cycle date strictly after ``day``."""
    if day < anchor:
        return anchor
    return cycle_date(anchor, cycle_index_on_or_before(anchor, day) + 1)


def is_cycle_date(anchor: date, day: date) -> bool:
    """True when ``day`` is one of the anchor's cycle dates."""
    index = cycle_index_on_or_before(anchor, day)
    return index >= 0 and cycle_date(anchor, index) == day

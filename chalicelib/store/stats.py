"""The daily counters repository: per sub-account and date, written with each money or call
event.

Reports read these rows instead of scanning entries: one sub-account's range is one Query of
its partition; every sub-account's range at once is one Query (paged) of GSI1, where each row
is also keyed by agency and date (written by the same update, so in the same transaction as
its event). The busiest row is one sub-account's day: never an agency-wide item (SPEC "No hot
items"); the agency-wide GSI1 partition is an index, not a row that transactions contend on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pynamodb.attributes import UnicodeAttribute

from chalicelib.domain.reporting import REPORT_COUNTERS, Counters, counters_of
from chalicelib.domain.timezones import local_date
from chalicelib.store import keys
from chalicelib.store.base import IntegerAttribute, TableItem
from chalicelib.store.transact import Op, update

# The counter names are a domain fact (what a report sums); the store only persists them.
COUNTERS = REPORT_COUNTERS


class DailyStats(TableItem, discriminator="DailyStats"):
    """PK: ``STATS#<aid>#<sid>`` / SK: ``DAY#<yyyy-mm-dd>``. Counters of one sub-account-day.

    GSI1: ``STATSDAY#<aid>`` / ``<yyyy-mm-dd>#<sid>`` (the agency's rows by date). Rows written
    before GSI1 was set on them are not in the index until their day is counted again.
    """

    day = UnicodeAttribute(null=True)
    subaccount_id = UnicodeAttribute(null=True)
    used_basic_seconds = IntegerAttribute(default=0)
    used_premium_seconds = IntegerAttribute(default=0)
    shortfall_seconds = IntegerAttribute(default=0)
    calls_total = IntegerAttribute(default=0)
    calls_completed = IntegerAttribute(default=0)
    calls_failed = IntegerAttribute(default=0)
    calls_busy = IntegerAttribute(default=0)
    calls_no_answer = IntegerAttribute(default=0)
    calls_canceled = IntegerAttribute(default=0)
    calls_other = IntegerAttribute(default=0)
    calls_inbound = IntegerAttribute(default=0)
    calls_outbound = IntegerAttribute(default=0)
    spent_micros = IntegerAttribute(default=0)
    purchases_micros = IntegerAttribute(default=0)
    profit_micros = IntegerAttribute(default=0)
    refunds_micros = IntegerAttribute(default=0)
    moved_in_seconds = IntegerAttribute(default=0)
    moved_out_seconds = IntegerAttribute(default=0)


@dataclass(frozen=True)
class DayCounters:
    """The counters of one sub-account on one (local) date, as read."""

    subaccount_id: str
    day: date
    counters: Counters


def count(agency_id: str, subaccount_id: str, at: datetime, timezone: str | None,
          **increments: int) -> Op:
    """An op adding ``increments`` (counter name → int) to a sub-account's day row.

    The row is the local date of ``at`` in the agency's ``timezone`` (its setting when the
    event is recorded), so reports in local dates read exactly their days.
    """
    day = local_date(at, timezone)
    unknown = set(increments) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown counters: {sorted(unknown)}")
    actions = [DailyStats.kind.set(DailyStats), DailyStats.day.set(day.isoformat()),
               DailyStats.subaccount_id.set(subaccount_id),
               DailyStats.GSI1PK.set(keys.stats_by_day_pk(agency_id)),
               DailyStats.GSI1SK.set(keys.stats_by_day_sk(day.isoformat(), subaccount_id))]
    for name, amount in increments.items():
        if amount:
            actions.append(getattr(DailyStats, name).add(amount))
    return update(
        DailyStats(keys.stats_pk(agency_id, subaccount_id), keys.stats_sk(day.isoformat())),
        actions=actions,
    )


#: The name other areas use until they move (issue 19).
stats_op = count


def _read(agency_id: str, row: DailyStats) -> DayCounters:
    return DayCounters(
        subaccount_id=row.subaccount_id or row.PK.removeprefix(keys.stats_pk(agency_id, "")),
        day=date.fromisoformat(row.SK.removeprefix(keys.stats_sk(""))),
        counters=counters_of(row.attribute_values))


def days_of(agency_id: str, subaccount_id: str, start: date, end: date) -> list[DayCounters]:
    """Day rows of a sub-account from ``start`` to ``end`` inclusive: one Query (paged)."""
    return [_read(agency_id, row) for row in DailyStats.query(
        keys.stats_pk(agency_id, subaccount_id),
        DailyStats.SK.between(keys.stats_sk(start.isoformat()), keys.stats_sk(end.isoformat())),
    )]


def agency_days(agency_id: str, start: date, end: date) -> list[DayCounters]:
    """Day rows of every sub-account of the agency (removed ones included) from ``start`` to
    ``end`` inclusive: one Query of GSI1 (paged), whatever the number of sub-accounts.

    GSI reads are eventually consistent: a counter written a moment ago may be missing for
    that moment, which a report can live with (a money decision never reads this).
    """
    after_end = (end + timedelta(days=1)).isoformat()  # sort keys are ``<date>#<sid>``
    return [
        _read(agency_id, row) for row in DailyStats.lookup_index.query(
            keys.stats_by_day_pk(agency_id),
            DailyStats.GSI1SK.between(start.isoformat(), after_end))
        if isinstance(row, DailyStats)
    ]

"""Reports: date ranges, summing daily counters, the report row, its totals and CSV layout.

Pure rules, no I/O. The service reads the daily counter rows of the range (one Query for a
sub-account, one for the whole agency) and the wallet balances, and hands them here as plain
mappings of counter name → int. Everything is summed as integers (seconds, micro-dollars,
counts) and rendered once at the end: minutes with ``render_minutes`` (2 decimals, rounded
down) next to the exact seconds, USD with ``render_usd``. Totals are sums of the integers,
never of the rendered strings.

Days are dates in the agency's timezone: each counter row is keyed by the local date of its
event (``domain.timezones``), so ``from`` and ``to`` are local dates too, and every answer
names the timezone it speaks in (README "Reports").
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from chalicelib.domain.billing import next_cycle_date
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.money import minutes_cost, render_minutes, render_usd
from chalicelib.domain.plans import TIERS
from chalicelib.domain.timezones import DEFAULT_TIMEZONE

#: Longest custom range, both ends included (a leap year).
MAX_RANGE_DAYS = 366

#: Call statuses counted one by one; any other status counts as ``other``.
CALL_STATUSES = ("completed", "failed", "busy", "no_answer", "canceled", "other")
CALL_DIRECTIONS = ("inbound", "outbound")

#: The counters a report reads and sums.
REPORT_COUNTERS = (
    "used_basic_seconds",
    "used_premium_seconds",
    "shortfall_seconds",
    "calls_total",
    *(f"calls_{status}" for status in CALL_STATUSES),
    *(f"calls_{direction}" for direction in CALL_DIRECTIONS),
    "spent_micros",
    "purchases_micros",
    "profit_micros",
    "refunds_micros",
    "moved_in_seconds",
    "moved_out_seconds",
)

Counters = dict[str, int]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- ranges ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of dates (``start`` ≤ ``end``, at most ``MAX_RANGE_DAYS`` days),
    read as calendar days of ``timezone`` (an IANA name, the agency's)."""

    start: date
    end: date
    timezone: str = DEFAULT_TIMEZONE

    @property
    def day_count(self) -> int:
        """Number of days, both ends included."""
        return (self.end - self.start).days + 1

    def dates(self) -> list[date]:
        """Every date of the range, oldest first."""
        return [self.start + timedelta(days=n) for n in range(self.day_count)]


def parse_report_date(raw: str | None, field_name: str) -> date:
    """A required ``YYYY-MM-DD`` query value; missing or garbled → 422 naming the field."""
    if raw is None or raw == "":
        raise ValidationFailed(f"{field_name} is required (YYYY-MM-DD)",
                               details={"field": field_name})
    text = raw.strip()
    if not _ISO_DATE.match(text):
        raise ValidationFailed(f"{field_name} must be a date written YYYY-MM-DD",
                               details={"field": field_name})
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"{field_name} is not a calendar date",
                               details={"field": field_name}) from None


def parse_date_range(raw_from: str | None, raw_to: str | None,
                     timezone: str = DEFAULT_TIMEZONE) -> DateRange:
    """Validate ``from``/``to`` (inclusive): both required, ``to`` ≥ ``from``, ≤ 366 days.

    The dates are days of ``timezone`` (the agency's).
    """
    start = parse_report_date(raw_from, "from")
    end = parse_report_date(raw_to, "to")
    if end < start:
        raise ValidationFailed("to must not be before from",
                               details={"field": "to", "from": start.isoformat(),
                                        "to": end.isoformat()})
    span = DateRange(start, end, timezone)
    if span.day_count > MAX_RANGE_DAYS:
        raise ValidationFailed(f"a report covers at most {MAX_RANGE_DAYS} days",
                               details={"field": "to", "days": span.day_count,
                                        "max_days": MAX_RANGE_DAYS})
    return span


# --- counters -------------------------------------------------------------------------------


def zero_counters() -> Counters:
    """Every report counter at zero."""
    return dict.fromkeys(REPORT_COUNTERS, 0)


def counters_of(row: Mapping[str, Any]) -> Counters:
    """The report counters of one stored row (absent or empty counters are zero)."""
    return {name: int(row.get(name) or 0) for name in REPORT_COUNTERS}


def sum_counters(rows: Iterable[Mapping[str, int]]) -> Counters:
    """Counter-by-counter integer sum of ``rows``."""
    total = zero_counters()
    for row in rows:
        for name in REPORT_COUNTERS:
            total[name] += int(row.get(name) or 0)
    return total


def had_activity(rows: Iterable[Mapping[str, int]]) -> bool:
    """Whether any counter of ``rows`` moved (a removed sub-account is listed only then)."""
    return any(int(row.get(name) or 0) for row in rows for name in REPORT_COUNTERS)


def wallet_balance_micros(seconds_by_tier: Mapping[str, int],
                          price_by_tier: Mapping[str, int]) -> int:
    """Wallet balance in USD: remaining minutes × the current price, per tier (SPEC)."""
    return sum(minutes_cost(int(seconds_by_tier.get(tier, 0)), int(price_by_tier[tier]))
               for tier in TIERS)


# --- the report of one sub-account ----------------------------------------------------------


@dataclass(frozen=True)
class SubaccountFacts:
    """What a report needs to know of a sub-account besides its counters."""

    subaccount_id: str
    name: str
    subscription_start: date
    prices: Mapping[str, int]  # tier → micro-USD per minute
    balance_seconds: Mapping[str, int]  # tier → seconds in the wallet now
    status: str = "active"  # active | suspended | removed

    @property
    def removed(self) -> bool:
        """A removed sub-account keeps its history but bills nothing any more."""
        return self.status == "removed"


@dataclass(frozen=True)
class SubaccountReport:
    """One sub-account over a range: integer totals, the daily series and the wallet now."""

    facts: SubaccountFacts
    span: DateRange
    totals: Counters
    daily: list[tuple[date, Counters]]
    wallet_micros: int
    next_billing_date: date | None  # None once removed
    include_daily: bool = field(default=True)


def build_report(facts: SubaccountFacts, span: DateRange,
                 rows_by_day: Mapping[date, Mapping[str, int]], today: date,
                 *, include_daily: bool = True) -> SubaccountReport:
    """Sum the day rows inside ``span`` and lay out one entry per day (zero days included).

    Rows outside the range are ignored, so a caller may pass more than it queried.
    """
    daily = [(day, counters_of(rows_by_day.get(day, {}))) for day in span.dates()]
    return SubaccountReport(
        facts=facts,
        span=span,
        totals=sum_counters(counters for _, counters in daily),
        daily=daily,
        wallet_micros=wallet_balance_micros(facts.balance_seconds, facts.prices),
        next_billing_date=(None if facts.removed
                           else next_cycle_date(facts.subscription_start, today)),
        include_daily=include_daily,
    )


def _minutes(counters: Mapping[str, int]) -> dict[str, str]:
    return {tier: render_minutes(counters[f"used_{tier}_seconds"]) for tier in TIERS}


def _seconds(counters: Mapping[str, int]) -> dict[str, int]:
    return {tier: counters[f"used_{tier}_seconds"] for tier in TIERS}


def _calls(counters: Mapping[str, int]) -> dict[str, Any]:
    return {
        "total": counters["calls_total"],
        "by_status": {status: counters[f"calls_{status}"] for status in CALL_STATUSES},
        "by_direction": {d: counters[f"calls_{d}"] for d in CALL_DIRECTIONS},
    }


#: Report fields and CSV columns that carry the agency's margin: agency roles only (SPEC
#: "Clients never see the agency's margin"). For sub-account roles they are left out, not null.
MARGIN_FIELDS = frozenset({"profit_usd"})


def _without_margin(row: dict[str, Any], show_margin: bool) -> dict[str, Any]:
    return row if show_margin else {k: v for k, v in row.items() if k not in MARGIN_FIELDS}


def render_daily_entry(day: date, counters: Mapping[str, int], *,
                       show_margin: bool = True) -> dict[str, Any]:
    """One day of the series: minutes (and seconds), call count, USD figures."""
    return _without_margin({
        "date": day.isoformat(),
        "minutes_used": _minutes(counters),
        "seconds_used": _seconds(counters),
        "calls": counters["calls_total"],
        "spent_usd": render_usd(counters["spent_micros"]),
        "purchases_usd": render_usd(counters["purchases_micros"]),
        "profit_usd": render_usd(counters["profit_micros"]),
    }, show_margin)


def _iso_or_none(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def render_report(report: SubaccountReport, *, show_margin: bool = True) -> dict[str, Any]:
    """The SPEC report row of one sub-account (``profit_usd`` only with ``show_margin``)."""
    totals = report.totals
    row: dict[str, Any] = {
        "subaccount_id": report.facts.subaccount_id,
        "name": report.facts.name,
        "status": report.facts.status,
        "from": report.span.start.isoformat(),
        "to": report.span.end.isoformat(),
        "timezone": report.span.timezone,
        "minutes_used": _minutes(totals),
        "seconds_used": _seconds(totals),
        "shortfall_seconds": totals["shortfall_seconds"],
        "calls": _calls(totals),
        "spent_usd": render_usd(totals["spent_micros"]),
        "purchases_usd": render_usd(totals["purchases_micros"]),
        "profit_usd": render_usd(totals["profit_micros"]),
        "refunds_usd": render_usd(totals["refunds_micros"]),
        "seconds_moved": {"in": totals["moved_in_seconds"], "out": totals["moved_out_seconds"]},
        "wallet_balance_usd": render_usd(report.wallet_micros),
        "next_billing_date": _iso_or_none(report.next_billing_date),
    }
    row = _without_margin(row, show_margin)
    if report.include_daily:
        row["daily"] = [render_daily_entry(day, counters, show_margin=show_margin)
                        for day, counters in report.daily]
    return row


def render_totals(reports: Sequence[SubaccountReport], *,
                  show_margin: bool = True) -> dict[str, Any]:
    """The ``totals`` of the list route: integer sums over the rows, rendered once."""
    totals = sum_counters(report.totals for report in reports)
    return _without_margin({
        "minutes_used": _minutes(totals),
        "seconds_used": _seconds(totals),
        "shortfall_seconds": totals["shortfall_seconds"],
        "calls": _calls(totals),
        "spent_usd": render_usd(totals["spent_micros"]),
        "purchases_usd": render_usd(totals["purchases_micros"]),
        "profit_usd": render_usd(totals["profit_micros"]),
        "refunds_usd": render_usd(totals["refunds_micros"]),
        "wallet_balance_usd": render_usd(sum(report.wallet_micros for report in reports)),
    }, show_margin)


def render_report_list(reports: Sequence[SubaccountReport], span: DateRange, *,
                       show_margin: bool = True) -> dict[str, Any]:
    """The list route's answer: ``{from, to, timezone, subaccounts, totals}``."""
    return {
        "from": span.start.isoformat(),
        "to": span.end.isoformat(),
        "timezone": span.timezone,
        "subaccounts": [render_report(report, show_margin=show_margin) for report in reports],
        "totals": render_totals(reports, show_margin=show_margin),
    }


# --- CSV ------------------------------------------------------------------------------------

_FIGURE_COLUMNS = (
    "basic_minutes_used",
    "premium_minutes_used",
    "basic_seconds_used",
    "premium_seconds_used",
    "calls_total",
    *(f"calls_{status}" for status in CALL_STATUSES),
    *(f"calls_{direction}" for direction in CALL_DIRECTIONS),
    "spent_usd",
    "purchases_usd",
    "profit_usd",
    "refunds_usd",
)

#: Header of the list CSV: one row per sub-account.
LIST_CSV_COLUMNS = ("subaccount_id", "name", "status", "from", "to", *_FIGURE_COLUMNS,
                    "wallet_balance_usd", "next_billing_date")

#: Header of the single sub-account CSV: one row per day of the range.
DAILY_CSV_COLUMNS = ("subaccount_id", "date", *_FIGURE_COLUMNS)

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_text_cell(text: str) -> str:
    """Free text as a spreadsheet will not run it: a leading ``= + - @`` gets a quote mark.

    Only names are free text; figures are never touched, so they parse back exactly.
    """
    return f"'{text}" if text.startswith(_FORMULA_PREFIXES) else text


def _figures(counters: Mapping[str, int]) -> list[str | int]:
    return [
        render_minutes(counters["used_basic_seconds"]),
        render_minutes(counters["used_premium_seconds"]),
        counters["used_basic_seconds"],
        counters["used_premium_seconds"],
        counters["calls_total"],
        *(counters[f"calls_{status}"] for status in CALL_STATUSES),
        *(counters[f"calls_{direction}"] for direction in CALL_DIRECTIONS),
        render_usd(counters["spent_micros"]),
        render_usd(counters["purchases_micros"]),
        render_usd(counters["profit_micros"]),
        render_usd(counters["refunds_micros"]),
    ]


def _write_csv(header: Sequence[str], rows: Iterable[Sequence[str | int]],
               show_margin: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: quoting where needed, CRLF line ends
    # Margin columns are dropped from the header and every row alike (absent, not blank).
    kept = [i for i, name in enumerate(header) if show_margin or name not in MARGIN_FIELDS]
    writer.writerow([header[i] for i in kept])
    writer.writerows([row[i] for i in kept] for row in rows)
    return buffer.getvalue()


def report_list_csv(reports: Sequence[SubaccountReport], *, show_margin: bool = True) -> str:
    """The list report as CSV: a header, then one row per sub-account (no totals row)."""
    return _write_csv(LIST_CSV_COLUMNS, (
        [
            report.facts.subaccount_id,
            safe_text_cell(report.facts.name),
            report.facts.status,
            report.span.start.isoformat(),
            report.span.end.isoformat(),
            *_figures(report.totals),
            render_usd(report.wallet_micros),
            _iso_or_none(report.next_billing_date) or "",
        ]
        for report in reports
    ), show_margin)


def report_daily_csv(report: SubaccountReport, *, show_margin: bool = True) -> str:
    """One sub-account's report as CSV: a header, then one row per day of the range."""
    return _write_csv(DAILY_CSV_COLUMNS, (
        [report.facts.subaccount_id, day.isoformat(), *_figures(counters)]
        for day, counters in report.daily
    ), show_margin)


def csv_filename(kind: str, span: DateRange) -> str:
    """A download name such as ``report-subaccounts-2026-01-01-2026-01-31.csv``."""
    safe_kind = re.sub(r"[^A-Za-z0-9_-]", "_", kind)
    return f"report-{safe_kind}-{span.start.isoformat()}-{span.end.isoformat()}.csv"

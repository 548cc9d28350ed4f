"""Routes: reports per sub-account and for every sub-account the caller sees (JSON or CSV)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import Reply, RequestContext, route
from chalicelib.api.render import sees_margin
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.reporting import (
    csv_filename,
    render_report,
    render_report_list,
    report_daily_csv,
    report_list_csv,
)
from chalicelib.services.reports import subaccount_report as build_report
from chalicelib.services.reports import subaccounts_report

bp = Blueprint(__name__)


# ---------------------------------------------------------------- response models


class ReportMinutes(BaseModel):
    """Minutes used per tier (decimal strings, rounded down)."""

    basic: str
    premium: str


class ReportSeconds(BaseModel):
    """Exact seconds used per tier."""

    basic: int
    premium: int


class ReportCallsByStatus(BaseModel):
    """Calls per status (any other status counts as ``other``)."""

    completed: int
    failed: int
    busy: int
    no_answer: int
    canceled: int
    other: int


class ReportCallsByDirection(BaseModel):
    """Calls per direction."""

    inbound: int
    outbound: int


class ReportCalls(BaseModel):
    """Calls of the range."""

    total: int
    by_status: ReportCallsByStatus
    by_direction: ReportCallsByDirection


class ReportSecondsMoved(BaseModel):
    """Seconds moved into and out of the sub-account."""

    model_config = ConfigDict(populate_by_name=True)

    moved_in: int = Field(alias="in")
    moved_out: int = Field(alias="out")


class ReportDayOut(BaseModel):
    """One day of the series (``profit_usd`` for agency roles only)."""

    date: str
    minutes_used: ReportMinutes
    seconds_used: ReportSeconds
    calls: int
    spent_usd: str
    purchases_usd: str
    profit_usd: str | None = None


class ReportOut(BaseModel):
    """One sub-account over the range (``profit_usd`` for agency roles only; ``daily``
    unless left out)."""

    model_config = ConfigDict(populate_by_name=True)

    subaccount_id: str
    name: str
    status: str
    start: str = Field(alias="from")
    to: str
    timezone: str
    minutes_used: ReportMinutes
    seconds_used: ReportSeconds
    shortfall_seconds: int
    calls: ReportCalls
    spent_usd: str
    purchases_usd: str
    profit_usd: str | None = None
    refunds_usd: str
    seconds_moved: ReportSecondsMoved
    wallet_balance_usd: str
    next_billing_date: str | None
    daily: list[ReportDayOut] | None = None


class ReportTotalsOut(BaseModel):
    """Sums over the listed rows (``profit_usd`` for agency roles only)."""

    minutes_used: ReportMinutes
    seconds_used: ReportSeconds
    shortfall_seconds: int
    calls: ReportCalls
    spent_usd: str
    purchases_usd: str
    profit_usd: str | None = None
    refunds_usd: str
    wallet_balance_usd: str


class ReportListOut(BaseModel):
    """Every sub-account the caller may see over the range, and the totals."""

    model_config = ConfigDict(populate_by_name=True)

    start: str = Field(alias="from")
    to: str
    timezone: str
    subaccounts: list[ReportOut]
    totals: ReportTotalsOut


# ------------------------------------------------------------------------- helpers


def parse_flag(raw: str | None, field_name: str, default: bool) -> bool:
    """A boolean query value: ``true/false/1/0`` (absent → ``default``)."""
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValidationFailed(f"{field_name} must be true or false", details={"field": field_name})


def wants_csv(ctx: RequestContext) -> bool:
    """Whether the caller asked for CSV (``Accept`` mentions ``text/csv``)."""
    return "text/csv" in (ctx.header("Accept") or "").lower()


def csv_reply(text: str, filename: str) -> Reply:
    """A CSV download."""
    return Reply(body=text, status=200, headers={
        "Content-Type": "text/csv",
        "Content-Disposition": f'attachment; filename="{filename}"',
    })


# --------------------------------------------------------------------------- routes


@route(bp, "/v1/reports/subaccounts", "GET", query=("from", "to", "daily"),
       summary="Reports of every sub-account the caller may see (JSON, or CSV)",
       response=ReportListOut)
def list_reports(ctx: RequestContext) -> dict[str, Any] | Reply:
    """``{from, to, timezone, subaccounts: [rows], totals}``; CSV: one row per sub-account."""
    csv_wanted = wants_csv(ctx)
    include_daily = parse_flag(ctx.query.get("daily"), "daily", default=True)
    span, reports = subaccounts_report(ctx.user, ctx.query.get("from"), ctx.query.get("to"),
                                       include_daily=include_daily and not csv_wanted)
    margin = sees_margin(ctx.user)  # clients get no profit field or column at all
    if csv_wanted:
        return csv_reply(report_list_csv(reports, show_margin=margin),
                         csv_filename("subaccounts", span))
    return render_report_list(reports, span, show_margin=margin)


@route(bp, "/v1/reports/subaccounts/{subaccount_id}", "GET", query=("from", "to"),
       summary="One sub-account's report with its daily series (JSON, or CSV per day)",
       response=ReportOut, errors={404: ("not_found",)})
def subaccount_report(ctx: RequestContext, subaccount_id: str) -> dict[str, Any] | Reply:
    """The report row with ``daily``; CSV: one row per day of the range."""
    report = build_report(ctx.user, subaccount_id, ctx.query.get("from"), ctx.query.get("to"))
    margin = sees_margin(ctx.user)
    if wants_csv(ctx):
        return csv_reply(report_daily_csv(report, show_margin=margin),
                         csv_filename(subaccount_id, report.span))
    return render_report(report, show_margin=margin)

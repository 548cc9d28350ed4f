"""Routes: reports per sub-account and for every sub-account the caller sees (JSON or CSV)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import Reply, RequestContext, route
from chalicelib.api.render import sees_margin
from chalicelib.domain.reporting import (
    csv_filename,
    render_report,
    render_report_list,
    report_daily_csv,
    report_list_csv,
)

bp = Blueprint(__name__)


def wants_csv(ctx: RequestContext) -> bool:
    """Whether the caller asked for CSV (``Accept`` mentions ``text/csv``)."""
    return "text/csv" in (ctx.header("Accept") or "").lower()


def csv_reply(text: str, filename: str) -> Reply:
    """A CSV download."""
    return Reply(body=text, status=200, headers={
        "Content-Type": "text/csv",
        "Content-Disposition": f'attachment; filename="{filename}"',
    })


@route(bp, "/v1/reports/subaccounts", "GET", query=("from", "to", "daily"),
       summary="Reports of every sub-account the caller may see (JSON, or CSV)")
def list_reports(ctx: RequestContext) -> dict[str, Any] | Reply:
    """``{from, to, timezone, subaccounts: [rows], totals}``; CSV: one row per sub-account."""
    from chalicelib.services.reports import parse_flag, subaccounts_report

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
       summary="One sub-account's report with its daily series (JSON, or CSV per day)")
def subaccount_report(ctx: RequestContext, subaccount_id: str) -> dict[str, Any] | Reply:
    """The report row with ``daily``; CSV: one row per day of the range."""
    from chalicelib.services.reports import subaccount_report as build

    report = build(ctx.user, subaccount_id, ctx.query.get("from"), ctx.query.get("to"))
    margin = sees_margin(ctx.user)
    if wants_csv(ctx):
        return csv_reply(report_daily_csv(report, show_margin=margin),
                         csv_filename(subaccount_id, report.span))
    return render_report(report, show_margin=margin)

"""Routes: Stripe Connect onboarding, payouts and the Monthly Overview.

Connect and payouts are Owner/Admin (``agency.manage``); every agency role may view the
overview (SPEC role matrix: "Member: view overview").
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import RequestContext, page_limit, route

bp = Blueprint(__name__)


@route(bp, "/v1/agency/connect", "GET", summary="Stripe Connect status of the agency")
def get_connect(ctx: RequestContext) -> dict[str, Any]:
    """``{status, account_id, payouts_enabled, details_submitted, requirements_due, …}``."""
    from chalicelib.services.connect import connect_status

    return connect_status(ctx.user)


@route(bp, "/v1/agency/connect/onboarding", "POST",
       summary="Start or resume Stripe Connect onboarding (a fresh account link)")
def start_onboarding(ctx: RequestContext) -> dict[str, Any]:
    """``{url, account_id, status}``: same Express account every call, a new link each time."""
    from chalicelib.services.connect import start_onboarding as start

    return start(ctx.user)


@route(bp, "/v1/agency/connect/dashboard-link", "POST",
       summary="A fresh Stripe Express dashboard link (connected accounts only)")
def dashboard_link(ctx: RequestContext) -> dict[str, Any]:
    """``{url}``; 409 ``connect_not_connected`` unless connected."""
    from chalicelib.services.connect import dashboard_link as link

    return link(ctx.user)


@route(bp, "/v1/agency/payouts", "GET", query=("limit", "cursor"),
       summary="Profit payouts of the agency, newest first")
def list_payouts(ctx: RequestContext) -> dict[str, Any]:
    """``{payouts: [{id, amount_usd, status, failure_stage, failure_code, cycle_date}],
    next_cursor}``."""
    from chalicelib.services.payouts import list_payouts as payouts

    return payouts(ctx.user, limit=page_limit(ctx), cursor=ctx.query.get("cursor"))


@route(bp, "/v1/agency/overview", "GET", summary="Monthly Overview of the agency")
def overview(ctx: RequestContext) -> dict[str, Any]:
    """This period's profit and usage, available profit, next and last payout, Connect."""
    from chalicelib.services.overview import monthly_overview

    return monthly_overview(ctx.user)

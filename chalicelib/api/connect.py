"""Routes: Stripe Connect onboarding, payouts and the Monthly Overview.

Connect and payouts are Owner/Admin (``agency.manage``); every agency role may view the
overview (SPEC role matrix: "Member: view overview").
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Protocol

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.domain.money import render_minutes, render_usd
from chalicelib.services.connect import Onboarding, connect_status, dashboard_link
from chalicelib.services.connect import start_onboarding as start
from chalicelib.services.overview import (
    BANK_DETAILS,
    CONNECT_RESTRICTED,
    ONBOARDING_INCOMPLETE,
    PROFIT_CLAWBACK,
    ActionNeeded,
    MonthlyOverview,
    monthly_overview,
)
from chalicelib.services.payouts import PayoutPage, list_payouts

bp = Blueprint(__name__)


# -- what the renderers read of the records the services return -----------------------------


class ConnectRecord(Protocol):
    """The agency's Connect account as read."""

    @property
    def status(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def payouts_enabled(self) -> bool: ...
    @property
    def details_submitted(self) -> bool: ...
    @property
    def requirements_due(self) -> list[str]: ...
    @property
    def disabled_reason(self) -> str | None: ...
    @property
    def bank_action_needed(self) -> bool: ...
    @property
    def bank_failure_code(self) -> str | None: ...


class PayoutRecord(Protocol):
    """A payout as read."""

    @property
    def payout_id(self) -> str: ...
    @property
    def amount_micros(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def failure_stage(self) -> str | None: ...
    @property
    def failure_code(self) -> str | None: ...
    @property
    def cycle_date(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def transfer_id(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...


# -- response models -------------------------------------------------------------------------

#: USD as a decimal string (``"150.00"``), never a float.
Usd = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]{2,6}$", examples=["150.00"])]
#: Minutes as a decimal string rounded down to 2 decimals (``"12.50"``).
Minutes = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]{2}$", examples=["12.50"])]
ConnectStatusOut = Literal["not_connected", "initiating", "connected", "restricted"]


class Out(BaseModel):
    """An answer: exactly the fields listed (the document says so: no others)."""

    model_config = ConfigDict(extra="forbid")


class ConnectOut(Out):
    """The agency's Stripe Connect state (``not_connected`` before onboarding)."""

    status: ConnectStatusOut
    account_id: str | None
    payouts_enabled: bool
    details_submitted: bool
    requirements_due: list[str]
    disabled_reason: str | None
    bank_action_needed: bool
    #: Stripe's code while the bank details need fixing, else null.
    bank_failure_code: str | None


class OnboardingOut(Out):
    """A fresh, single-use account link to the agency's (one) Express account."""

    url: str
    account_id: str
    status: ConnectStatusOut
    expires_at: int | None


class LinkOut(Out):
    """A short-lived Stripe Express dashboard login link."""

    url: str


class PayoutOut(Out):
    """One transfer attempt of a cycle's profit payout."""

    id: str
    amount_usd: Usd
    status: Literal["in_transit", "paid", "failed"]
    failure_stage: Literal["transfer", "bank"] | None
    failure_code: str | None
    cycle_date: date
    attempt: int
    transfer_id: str | None
    created_at: str


class PayoutPageOut(Out):
    """The agency's payouts, newest first."""

    payouts: list[PayoutOut]
    next_cursor: str | None


class MinutesOut(Out):
    """Minutes by tier (display strings) next to the exact seconds."""

    basic: Minutes
    premium: Minutes
    total: Minutes
    basic_seconds: int
    premium_seconds: int


class ActionNeededOut(Out):
    """Something the agency has to do; the fields after ``message`` appear only with the codes
    they concern."""

    code: Literal["connect_not_connected", "connect_onboarding_incomplete",
                  "connect_restricted", "bank_details_need_fixing", "profit_clawback"]
    message: str
    requirements_due: list[str] | None = None
    disabled_reason: str | None = None
    failure_code: str | None = None
    amount_usd: Usd | None = None


class OverviewOut(Out):
    """The Monthly Overview card; dates are the agency's local dates."""

    period_start: date
    period_end: date
    timezone: str
    profit_this_period_usd: Usd
    available_profit_usd: Usd
    payout_threshold_usd: Usd
    next_payout_date: date | None
    payout_expected: bool
    last_payout: PayoutOut | None
    connect_status: ConnectStatusOut
    plan_renewal_date: date
    total_minutes_used: MinutesOut
    minutes_used_this_period: MinutesOut
    action_needed: list[ActionNeededOut]


# -- renderers -------------------------------------------------------------------------------


def render_connect(item: ConnectRecord | None) -> dict[str, Any]:
    """The agency's Connect state (``not_connected`` when there is no account)."""
    if item is None:
        return {"status": "not_connected", "account_id": None,
                "payouts_enabled": False, "details_submitted": False, "requirements_due": [],
                "disabled_reason": None, "bank_action_needed": False, "bank_failure_code": None}
    return {
        "status": item.status,
        "account_id": item.account_id,
        "payouts_enabled": bool(item.payouts_enabled),
        "details_submitted": bool(item.details_submitted),
        "requirements_due": list(item.requirements_due or []),
        "disabled_reason": item.disabled_reason,
        "bank_action_needed": bool(item.bank_action_needed),
        "bank_failure_code": item.bank_failure_code if item.bank_action_needed else None,
    }


def render_onboarding(link: Onboarding) -> dict[str, Any]:
    """An onboarding link."""
    return {"url": link.url, "account_id": link.account_id, "status": link.status,
            "expires_at": link.expires_at}


def render_payout(payout: PayoutRecord) -> dict[str, Any]:
    """A payout."""
    return {
        "id": payout.payout_id,
        "amount_usd": render_usd(payout.amount_micros),
        "status": payout.status,
        "failure_stage": payout.failure_stage,
        "failure_code": payout.failure_code,
        "cycle_date": payout.cycle_date,
        "attempt": payout.attempt or 1,
        "transfer_id": payout.transfer_id,
        "created_at": payout.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def render_payout_page(page: PayoutPage) -> dict[str, Any]:
    """A page of payouts."""
    return {"payouts": [render_payout(p) for p in page.payouts],
            "next_cursor": page.next_cursor}


def render_minutes_figure(seconds: dict[str, int]) -> dict[str, Any]:
    """Seconds by tier as minutes by tier, with their total."""
    basic, premium = int(seconds.get("basic", 0)), int(seconds.get("premium", 0))
    return {"basic": render_minutes(basic), "premium": render_minutes(premium),
            "total": render_minutes(basic + premium), "basic_seconds": basic,
            "premium_seconds": premium}


def render_action(action: ActionNeeded) -> dict[str, Any]:
    """What the agency has to do, with the fields its code concerns."""
    body: dict[str, Any] = {"code": action.code, "message": action.message}
    if action.code in (ONBOARDING_INCOMPLETE, CONNECT_RESTRICTED):
        body["requirements_due"] = list(action.requirements_due)
    if action.code == CONNECT_RESTRICTED:
        body["disabled_reason"] = action.disabled_reason
    if action.code == BANK_DETAILS:
        body["failure_code"] = action.failure_code
    if action.code == PROFIT_CLAWBACK:
        body["amount_usd"] = render_usd(action.clawback_micros)
    return body


def render_overview(view: MonthlyOverview) -> dict[str, Any]:
    """The Monthly Overview card."""
    return {
        "period_start": view.period_start.isoformat(),
        "period_end": view.period_end.isoformat(),
        "timezone": view.timezone,
        "profit_this_period_usd": render_usd(view.profit_this_period_micros),
        "available_profit_usd": render_usd(view.available_profit_micros),
        "payout_threshold_usd": render_usd(view.payout_threshold_micros),
        "next_payout_date": view.next_payout_date,
        "payout_expected": view.payout_expected,
        "last_payout": render_payout(view.last_payout) if view.last_payout is not None
        else None,
        "connect_status": view.connect_status,
        "plan_renewal_date": view.plan_renewal_date.isoformat(),
        "total_minutes_used": render_minutes_figure(view.total_used_seconds),
        "minutes_used_this_period": render_minutes_figure(view.used_seconds_this_period),
        "action_needed": [render_action(action) for action in view.action_needed],
    }


# -- routes ----------------------------------------------------------------------------------

#: Stripe refused or could not be reached (503 ``temporarily_unavailable`` is common).
STRIPE_REFUSED = {422: ("payment_request_refused",)}


@route(bp, "/v1/agency/connect", "GET", summary="Stripe Connect status of the agency",
       response=ConnectOut, errors={403: ("forbidden",)})
def get_connect(ctx: RequestContext) -> dict[str, Any]:
    """``{status, account_id, payouts_enabled, details_submitted, requirements_due, …}``."""
    return render_connect(connect_status(ctx.user))


@route(bp, "/v1/agency/connect/onboarding", "POST",
       summary="Start or resume Stripe Connect onboarding (a fresh account link)",
       response=OnboardingOut,
       errors={403: ("forbidden",), 404: ("not_found",), 409: ("concurrent_update",),
               **STRIPE_REFUSED})
def start_onboarding(ctx: RequestContext) -> dict[str, Any]:
    """``{url, account_id, status}``: same Express account every call, a new link each time."""
    return render_onboarding(start(ctx.user))


@route(bp, "/v1/agency/connect/dashboard-link", "POST",
       summary="A fresh Stripe Express dashboard link (connected accounts only)",
       response=LinkOut,
       errors={403: ("forbidden",), 409: ("connect_not_connected",), **STRIPE_REFUSED})
def get_dashboard_link(ctx: RequestContext) -> dict[str, Any]:
    """``{url}``; 409 ``connect_not_connected`` unless connected."""
    return {"url": dashboard_link(ctx.user)}


@route(bp, "/v1/agency/payouts", "GET", query=("limit", "cursor"),
       summary="Profit payouts of the agency, newest first", response=PayoutPageOut,
       errors={400: ("invalid_cursor",), 403: ("forbidden",)})
def get_payouts(ctx: RequestContext) -> dict[str, Any]:
    """``{payouts: [{id, amount_usd, status, failure_stage, failure_code, cycle_date}],
    next_cursor}``."""
    return render_payout_page(list_payouts(ctx.user, limit=page_limit(ctx),
                                           cursor=ctx.query.get("cursor")))


@route(bp, "/v1/agency/overview", "GET", summary="Monthly Overview of the agency",
       response=OverviewOut, errors={403: ("forbidden",)})
def overview(ctx: RequestContext) -> dict[str, Any]:
    """This period's profit and usage, available profit, next and last payout, Connect."""
    return render_overview(monthly_overview(ctx.user))

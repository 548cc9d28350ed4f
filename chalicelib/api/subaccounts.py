"""Routes: sub-accounts — create, list, get, edit, suspend / restore, two-step removal."""

from __future__ import annotations

from datetime import date
from typing import Any

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.guards import removal_guard
from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.api.models import DecimalInput, Email, StrictBody
from chalicelib.api.render import render_subaccount

bp = Blueprint(__name__)


class PricesBody(StrictBody):
    """Per-minute prices in USD (decimal strings or integers, at most 6 decimals)."""

    basic: DecimalInput
    premium: DecimalInput


class PricesPatchBody(StrictBody):
    """Either or both prices."""

    basic: DecimalInput | None = None
    premium: DecimalInput | None = None


class CreateSubaccountBody(StrictBody):
    """``POST /v1/subaccounts``. ``subscription_start`` defaults to today (UTC)."""

    name: str = Field(min_length=1, max_length=120)
    login_email: Email
    prices: PricesBody
    subscription_start: date | None = None


class UpdateSubaccountBody(StrictBody):
    """``PATCH /v1/subaccounts/{id}``: any of the fields."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    login_email: Email | None = None
    prices: PricesPatchBody | None = None
    subscription_start: date | None = None


class SuspendBody(StrictBody):
    """``POST /v1/subaccounts/{id}/suspend``: an optional note shown in the banner."""

    note: str | None = Field(default=None, max_length=150)


class RemovalBody(StrictBody):
    """``POST /v1/subaccounts/{id}/removal``: where the minutes go."""

    minutes_destination_id: str = Field(min_length=1, max_length=64)


def _with_wallet(view: Any) -> dict[str, Any]:
    return {**render_subaccount(view.sub), "wallet": view.wallet}


def _prices(body: PricesBody | PricesPatchBody | None) -> dict[str, object]:
    if body is None:
        return {}
    return {tier: value for tier, value in body.model_dump().items() if value is not None}


@route(bp, "/v1/subaccounts", "POST", status=201, body=CreateSubaccountBody,
       summary="Create a sub-account (plan cap, prices ≥ base cost, login invitation)")
def create_subaccount(ctx: RequestContext) -> dict[str, Any]:
    """Owner/Admin: a new sub-account; its login email receives an invitation."""
    from chalicelib.services.subaccounts import create_subaccount as create

    body: CreateSubaccountBody = ctx.body
    return _with_wallet(create(ctx.user, name=body.name, login_email=body.login_email,
                               prices=_prices(body.prices),
                               subscription_start=body.subscription_start))


@route(bp, "/v1/subaccounts", "GET", query=("limit", "cursor"),
       summary="Sub-accounts the caller may see, with balances")
def list_subaccounts(ctx: RequestContext) -> dict[str, Any]:
    """Visible sub-accounts, each with its wallet block."""
    from chalicelib.services.subaccounts import list_subaccounts as listing

    views, next_cursor = listing(ctx.user, limit=page_limit(ctx, default=50, maximum=100),
                                 cursor=ctx.query.get("cursor"))
    return {"subaccounts": [_with_wallet(view) for view in views], "next_cursor": next_cursor}


@route(bp, "/v1/subaccounts/{subaccount_id}", "GET", summary="One sub-account with its wallet")
def get_subaccount(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """A sub-account (banner included) and its wallet."""
    from chalicelib.services.subaccounts import get_subaccount_view

    return _with_wallet(get_subaccount_view(ctx.user, subaccount_id))


@route(bp, "/v1/subaccounts/{subaccount_id}", "PATCH", body=UpdateSubaccountBody,
       summary="Edit name, login email, prices or billing anchor")
def update_subaccount(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Owner/Admin: change a sub-account (a price change bumps its price version)."""
    from chalicelib.services.subaccounts import update_subaccount as change

    body: UpdateSubaccountBody = ctx.body
    return _with_wallet(change(ctx.user, subaccount_id, name=body.name,
                               login_email=body.login_email, prices=_prices(body.prices),
                               subscription_start=body.subscription_start))


@route(bp, "/v1/subaccounts/{subaccount_id}/suspend", "POST", body=SuspendBody,
       summary="Suspend a sub-account (pauses its campaigns, agents, automations)")
def suspend_subaccount(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Owner/Admin: suspend with an optional note (≤ 150 characters)."""
    from chalicelib.services.subaccounts import suspend_subaccount as suspend

    return render_subaccount(suspend(ctx.user, subaccount_id, ctx.body.note))


@route(bp, "/v1/subaccounts/{subaccount_id}/restore", "POST",
       summary="Restore a suspended sub-account (re-activates what the suspension paused)")
def restore_subaccount(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Owner/Admin: lift the suspension."""
    from chalicelib.services.subaccounts import restore_subaccount as restore

    return render_subaccount(restore(ctx.user, subaccount_id))


@route(bp, "/v1/subaccounts/{subaccount_id}/removal", "GET",
       summary="Removal preview: balances, numbers, automations, eligible destinations")
def removal_preview(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Owner/Admin: step one of removal."""
    from chalicelib.services.subaccounts import removal_preview as preview

    return preview(ctx.user, subaccount_id)


@route(bp, "/v1/subaccounts/{subaccount_id}/removal", "POST", body=RemovalBody,
       idempotent=True, guard=removal_guard,
       summary="Remove a sub-account, moving its minutes and credits out")
def remove_subaccount(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Owner/Admin: step two of removal (one ledger transaction)."""
    from chalicelib.services.subaccounts import remove_subaccount as remove

    done = remove(ctx.user, subaccount_id, ctx.body.minutes_destination_id)
    return {
        "removed": True,
        "subaccount_id": done.subaccount_id,
        "destination_id": done.destination_id,
        "transaction_id": done.transaction_id,
        "moved": {
            "basic_seconds_sent": done.basic_seconds_sent,
            "basic_seconds_received": done.basic_seconds_received,
            "premium_seconds_sent": done.premium_seconds_sent,
            "premium_seconds_received": done.premium_seconds_received,
            "kp_credits": done.kp_credits,
        },
    }

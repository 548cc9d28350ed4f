"""Routes: sub-accounts — create, list, get, edit, suspend / restore, two-step removal."""

from __future__ import annotations

from datetime import date
from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib.api.guards import removal_guard
from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.api.models import DecimalInput, Email, StrictBody
from chalicelib.api.render import render_subaccount
from chalicelib.api.resources import ResourceOut, render_resource
from chalicelib.api.wallets import WalletOut, WalletPrices, render_wallet
from chalicelib.domain.money import render_minutes
from chalicelib.services.removals import Removal, RemovalPreview
from chalicelib.services.removals import removal_preview as preview
from chalicelib.services.removals import remove_subaccount as remove
from chalicelib.services.subaccounts import SubaccountView, get_subaccount_view
from chalicelib.services.subaccounts import create_subaccount as create
from chalicelib.services.subaccounts import list_subaccounts as listing
from chalicelib.services.subaccounts import update_subaccount as change
from chalicelib.services.suspensions import restore_subaccount as restore
from chalicelib.services.suspensions import suspend_subaccount as suspend
from chalicelib.services.wallets import wallet_of

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


# --------------------------------------------------------------------------- answers


class SuspensionBanner(BaseModel):
    """What the sub-account's users see while it is suspended."""

    suspended: bool
    note: str | None
    since: str | None


class SubaccountOut(BaseModel):
    """A sub-account with its prices and suspension banner (``render_subaccount``)."""

    id: str
    agency_id: str
    name: str
    login_email: str | None
    is_primary: bool
    prices: WalletPrices
    subscription_start: str
    next_billing_date: str
    status: str
    banner: SuspensionBanner
    created_at: str | None


class SubaccountWithWalletOut(SubaccountOut):
    """A sub-account and its wallet."""

    wallet: WalletOut


class SubaccountListOut(BaseModel):
    """One page of the sub-accounts the caller may see."""

    subaccounts: list[SubaccountWithWalletOut]
    next_cursor: str | None


class SecondsByTier(BaseModel):
    """Seconds per tier."""

    basic_seconds: int
    premium_seconds: int


class HeldSeconds(BaseModel):
    """Seconds held for calls in progress, per tier."""

    basic: int
    premium: int


class RemovalDestinationOut(BaseModel):
    """A sub-account that may receive the minutes, and what it would receive today."""

    id: str
    name: str
    is_primary: bool
    status: str
    would_receive: SecondsByTier


class RemovalPreviewOut(BaseModel):
    """Step one of removal: what the sub-account holds and where its minutes may go."""

    subaccount_id: str
    basic_minutes: str
    premium_minutes: str
    basic_seconds: int
    premium_seconds: int
    held_seconds: HeldSeconds
    kp_credits: int
    phone_numbers: list[ResourceOut]
    automations: list[ResourceOut]
    eligible_destinations: list[RemovalDestinationOut]


class RemovalMoved(BaseModel):
    """What the removal moved (seconds sent and received per tier, KP credits)."""

    basic_seconds_sent: int
    basic_seconds_received: int
    premium_seconds_sent: int
    premium_seconds_received: int
    kp_credits: int


class RemovalOut(BaseModel):
    """Step two of removal: done, and what moved (no ledger transaction when nothing did)."""

    removed: bool
    subaccount_id: str
    destination_id: str
    transaction_id: str | None
    moved: RemovalMoved


def render_with_wallet(view: SubaccountView) -> dict[str, Any]:
    """A sub-account and its wallet block."""
    return {**render_subaccount(view.sub),
            "wallet": render_wallet(wallet_of(view.sub, view.balances))}


def render_preview(preview: RemovalPreview) -> dict[str, Any]:
    """The removal preview."""
    return {
        "subaccount_id": preview.sub.subaccount_id,
        "basic_minutes": render_minutes(preview.basic_seconds),
        "premium_minutes": render_minutes(preview.premium_seconds),
        "basic_seconds": preview.basic_seconds,
        "premium_seconds": preview.premium_seconds,
        "held_seconds": {"basic": preview.held_basic_seconds,
                         "premium": preview.held_premium_seconds},
        "kp_credits": preview.kp_credits,
        "phone_numbers": [render_resource(item) for item in preview.phone_numbers],
        "automations": [render_resource(item) for item in preview.automations],
        "eligible_destinations": [{
            "id": destination.sub.subaccount_id,
            "name": destination.sub.name,
            "is_primary": bool(destination.sub.is_primary),
            "status": destination.sub.status,
            "would_receive": {"basic_seconds": destination.basic_seconds,
                              "premium_seconds": destination.premium_seconds},
        } for destination in preview.destinations],
    }


def render_removal(done: Removal) -> dict[str, Any]:
    """What a removal did."""
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


# --------------------------------------------------------------------------- routes

#: A sub-account out of the caller's reach is absent (404); a role that may see it but not
#: manage it gets 403.
_MANAGE = {403: ("forbidden",), 404: ("not_found",)}


def _prices(body: PricesBody | PricesPatchBody | None) -> dict[str, object]:
    if body is None:
        return {}
    return {tier: value for tier, value in body.model_dump().items() if value is not None}


@route(bp, "/v1/subaccounts", "POST", status=201, body=CreateSubaccountBody,
       response=SubaccountWithWalletOut,
       errors={403: ("forbidden",),
               409: ("plan_limit_reached", "email_taken", "concurrent_update"),
               422: ("price_below_base_cost",)},
       summary="Create a sub-account (plan cap, prices ≥ base cost, login invitation)")
def create_subaccount(ctx: RequestContext) -> dict[str, Any]:
    """Owner/Admin: a new sub-account; its login email receives an invitation."""
    body: CreateSubaccountBody = ctx.body
    return render_with_wallet(create(
        ctx.user, name=body.name, login_email=body.login_email, prices=_prices(body.prices),
        subscription_start=body.subscription_start))


@route(bp, "/v1/subaccounts", "GET", query=("limit", "cursor"), response=SubaccountListOut,
       errors={400: ("invalid_cursor",)},
       summary="Sub-accounts the caller may see, with balances")
def list_subaccounts(ctx: RequestContext) -> dict[str, Any]:
    """Visible sub-accounts, each with its wallet block."""
    views, next_cursor = listing(
        ctx.user, limit=page_limit(ctx, default=50, maximum=100), cursor=ctx.query.get("cursor"))
    return {"subaccounts": [render_with_wallet(view) for view in views],
            "next_cursor": next_cursor}


@route(bp, "/v1/subaccounts/{subaccount_id}", "GET", response=SubaccountWithWalletOut,
       errors={404: ("not_found",)}, summary="One sub-account with its wallet")
def get_subaccount(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """A sub-account (banner included) and its wallet."""
    return render_with_wallet(get_subaccount_view(ctx.user, subaccount_id))


@route(bp, "/v1/subaccounts/{subaccount_id}", "PATCH", body=UpdateSubaccountBody,
       response=SubaccountWithWalletOut,
       errors={**_MANAGE, 409: ("primary_subaccount", "email_taken", "concurrent_update"),
               422: ("price_below_base_cost",)},
       summary="Edit name, login email, prices or billing anchor")
def update_subaccount(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Owner/Admin: change a sub-account (a price change bumps its price version)."""
    body: UpdateSubaccountBody = ctx.body
    return render_with_wallet(change(
        ctx.user, subaccount_id, name=body.name, login_email=body.login_email,
        prices=_prices(body.prices), subscription_start=body.subscription_start))


@route(bp, "/v1/subaccounts/{subaccount_id}/suspend", "POST", body=SuspendBody,
       response=SubaccountOut,
       errors={**_MANAGE, 409: ("primary_subaccount", "already_suspended",
                                "concurrent_update")},
       summary="Suspend a sub-account (pauses its campaigns, agents, automations)")
def suspend_subaccount(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Owner/Admin: suspend with an optional note (≤ 150 characters)."""
    return render_subaccount(suspend(ctx.user, subaccount_id, ctx.body.note))


@route(bp, "/v1/subaccounts/{subaccount_id}/restore", "POST", response=SubaccountOut,
       errors={**_MANAGE, 409: ("not_suspended", "concurrent_update")},
       summary="Restore a suspended sub-account (re-activates what the suspension paused)")
def restore_subaccount(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Owner/Admin: lift the suspension."""
    return render_subaccount(restore(ctx.user, subaccount_id))


@route(bp, "/v1/subaccounts/{subaccount_id}/removal", "GET", response=RemovalPreviewOut,
       errors={**_MANAGE, 409: ("primary_subaccount",)},
       summary="Removal preview: balances, numbers, automations, eligible destinations")
def removal_preview(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Owner/Admin: step one of removal."""
    return render_preview(preview(ctx.user, subaccount_id))


@route(bp, "/v1/subaccounts/{subaccount_id}/removal", "POST", body=RemovalBody,
       idempotent=True, guard=removal_guard, response=RemovalOut,
       errors={**_MANAGE, 409: ("primary_subaccount", "purchase_in_progress",
                                "concurrent_update", "slot_counter_inconsistent"),
               422: ("invalid_destination",)},
       summary="Remove a sub-account, moving its minutes and credits out")
def remove_subaccount(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Owner/Admin: step two of removal (one ledger transaction)."""
    return render_removal(remove(ctx.user, subaccount_id, ctx.body.minutes_destination_id))

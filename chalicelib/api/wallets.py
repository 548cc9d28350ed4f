"""Wallet and ledger activity of a sub-account, and the renderers of ledger figures."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel

from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.ledger import MINUTE_ASSETS, Asset
from chalicelib.domain.money import render_minutes, render_usd
from chalicelib.domain.roles import Action
from chalicelib.services.access import load_subaccount
from chalicelib.services.wallets import ActivityPage, Wallet, activity, wallet_of

bp = Blueprint(__name__)


# ------------------------------------------------------------------------ renderers


def iso_second(moment: datetime) -> str:
    """An aware UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def render_amount(asset: str, amount: int) -> str:
    """An amount in its asset's display unit (minutes, credits, USD)."""
    if asset in MINUTE_ASSETS:
        return render_minutes(amount)
    if asset == Asset.USD:
        return render_usd(amount)
    return str(amount)


class WalletPrices(BaseModel):
    """Per-minute prices, USD decimal strings."""

    basic: str
    premium: str


class WalletOut(BaseModel):
    """SPEC wallet: minutes (display, rounded down) next to exact seconds, KP credits, the
    USD value at the sub-account's prices, and the prices."""

    subaccount_id: str
    basic_minutes: str
    premium_minutes: str
    basic_seconds: int
    premium_seconds: int
    kp_credits: int
    wallet_balance_usd: str
    prices: WalletPrices


def render_wallet(held: Wallet) -> dict[str, Any]:
    """A wallet as ``WalletOut``."""
    return {
        "subaccount_id": held.subaccount_id,
        "basic_minutes": render_minutes(held.basic_seconds),
        "premium_minutes": render_minutes(held.premium_seconds),
        "basic_seconds": held.basic_seconds,
        "premium_seconds": held.premium_seconds,
        "kp_credits": held.kp_credits,
        "wallet_balance_usd": render_usd(held.value_micros),
        "prices": {"basic": render_usd(held.price_basic),
                   "premium": render_usd(held.price_premium)},
    }


class WalletEntryOut(BaseModel):
    """One ledger entry of the wallet."""

    transaction_id: str
    code: str
    asset: str
    amount: str
    amount_units: int
    memo: str
    created_at: str


class WalletActivityOut(BaseModel):
    """A page of entries, newest first."""

    entries: list[WalletEntryOut]
    next_cursor: str | None


def render_activity(page: ActivityPage) -> dict[str, Any]:
    """A page of entries as ``WalletActivityOut``."""
    return {
        "entries": [
            {
                "transaction_id": entry.transaction_id,
                "code": entry.code,
                "asset": entry.asset,
                "amount": render_amount(entry.asset, entry.amount),
                "amount_units": entry.amount,
                "memo": entry.memo,
                "created_at": iso_second(entry.created_at),
            }
            for entry in page.entries
        ],
        "next_cursor": page.next_cursor,
    }


# --------------------------------------------------------------------------- routes


def query_date(ctx: RequestContext, name: str) -> date | None:
    """An optional ISO date query parameter (422 when garbled)."""
    raw = ctx.query.get(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be a date (YYYY-MM-DD)",
                               details={"field": name}) from None


@route(bp, "/v1/subaccounts/{subaccount_id}/wallet", "GET", summary="Wallet of a sub-account",
       response=WalletOut, errors={404: ("not_found",)})
def get_wallet(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Minutes, exact seconds, KP credits, USD value and prices."""
    sub = load_subaccount(ctx.user, subaccount_id, Action.VIEW_SUBACCOUNT)
    return render_wallet(wallet_of(sub))


@route(bp, "/v1/subaccounts/{subaccount_id}/activity", "GET",
       query=("from", "to", "limit", "cursor"), summary="Ledger entries of a sub-account",
       response=WalletActivityOut, errors={400: ("invalid_cursor",), 404: ("not_found",)})
def get_activity(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Entries of the sub-account's wallet, newest first, paginated."""
    sub = load_subaccount(ctx.user, subaccount_id, Action.READ_REPORTS)
    return render_activity(activity(sub, query_date(ctx, "from"), query_date(ctx, "to"),
                                    page_limit(ctx), ctx.query.get("cursor")))

"""Wallet and ledger activity of a sub-account."""

from __future__ import annotations

from datetime import date
from typing import Any

from chalice import Blueprint

from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.roles import Action

bp = Blueprint(__name__)


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


@route(bp, "/v1/subaccounts/{subaccount_id}/wallet", "GET", summary="Wallet of a sub-account")
def get_wallet(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Minutes, exact seconds, KP credits, USD value and prices."""
    from chalicelib.services.access import load_subaccount
    from chalicelib.services.wallets import wallet_view

    sub = load_subaccount(ctx.user, subaccount_id, Action.VIEW_SUBACCOUNT)
    return wallet_view(sub)


@route(bp, "/v1/subaccounts/{subaccount_id}/activity", "GET",
       query=("from", "to", "limit", "cursor"), summary="Ledger entries of a sub-account")
def get_activity(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Entries of the sub-account's wallet, newest first, paginated."""
    from chalicelib.services.access import load_subaccount
    from chalicelib.services.wallets import activity

    sub = load_subaccount(ctx.user, subaccount_id, Action.READ_REPORTS)
    return activity(sub, query_date(ctx, "from"), query_date(ctx, "to"), page_limit(ctx),
                    ctx.query.get("cursor"))

"""Move minutes: quotes and confirmed transfers."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.guards import confirm_guard, quote_guard
from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.api.models import DecimalInput, StrictBody

bp = Blueprint(__name__)


class QuoteBody(StrictBody):
    """``POST /v1/transfers/quotes``."""

    from_subaccount_id: str = Field(min_length=1, max_length=64)
    to_subaccount_id: str = Field(min_length=1, max_length=64)
    asset: str = Field(min_length=1, max_length=32)
    amount: DecimalInput


class ConfirmBody(StrictBody):
    """``POST /v1/transfers``."""

    quote_id: str = Field(min_length=1, max_length=64)


@route(bp, "/v1/transfers/quotes", "POST", status=201, body=QuoteBody, idempotent=True,
       guard=quote_guard, summary="Quote a move of minutes or KP credits")
def create_quote(ctx: RequestContext) -> dict[str, Any]:
    """What the destination will receive, both prices, the USD value, the expiry."""
    from chalicelib.services.moves import quote_move

    body: QuoteBody = ctx.body
    return quote_move(ctx.user, body.from_subaccount_id, body.to_subaccount_id, body.asset,
                      body.amount)


@route(bp, "/v1/transfers", "POST", status=201, body=ConfirmBody, idempotent=True,
       guard=confirm_guard, summary="Confirm a quote: move exactly once")
def confirm_transfer(ctx: RequestContext) -> dict[str, Any]:
    """Execute the quote; stale, expired or used quotes answer 409."""
    from chalicelib.services.moves import confirm_move

    return confirm_move(ctx.user, ctx.body.quote_id)


@route(bp, "/v1/transfers", "GET", query=("limit", "cursor"), summary="Confirmed moves")
def list_transfers(ctx: RequestContext) -> dict[str, Any]:
    """Moves between sub-accounts the caller can see, newest first."""
    from chalicelib.services.moves import list_moves

    return list_moves(ctx.user, page_limit(ctx), ctx.query.get("cursor"))

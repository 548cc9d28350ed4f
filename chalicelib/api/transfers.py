"""Move minutes: quotes and confirmed transfers."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib.api.guards import confirm_guard, quote_guard
from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.api.models import DecimalInput, StrictBody
from chalicelib.api.wallets import iso_second, render_amount
from chalicelib.domain.ledger import MINUTE_ASSETS
from chalicelib.domain.money import render_usd
from chalicelib.services.moves import (
    MoveRecord,
    MovesPage,
    TransferQuote,
    confirm_move,
    list_moves,
    quote_move,
)

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


class MoveFigures(BaseModel):
    """The amounts and prices a quote and its confirmed move both show (seconds and prices
    are null for KP credits)."""

    asset: str
    amount_sent: str
    amount_received: str
    sent_seconds: int | None
    received_seconds: int | None
    from_price: str | None
    to_price: str | None
    value_usd: str


class QuoteOut(MoveFigures):
    """A stored quote, valid until ``expires_at``."""

    quote_id: str
    from_subaccount_id: str
    to_subaccount_id: str
    status: str
    expires_at: str


class MoveOut(MoveFigures):
    """A confirmed move."""

    id: str
    quote_id: str
    from_subaccount_id: str
    to_subaccount_id: str
    created_by: str
    created_at: str


class MovesOut(BaseModel):
    """A page of confirmed moves, newest first."""

    transfers: list[MoveOut]
    next_cursor: str | None


def _figures(asset: str, sent: int, received: int, from_price: int | None,
             to_price: int | None, value_micros: int) -> dict[str, Any]:
    minutes = asset in MINUTE_ASSETS
    return {
        "asset": asset,
        "amount_sent": render_amount(asset, sent),
        "amount_received": render_amount(asset, received),
        "sent_seconds": sent if minutes else None,
        "received_seconds": received if minutes else None,
        "from_price": render_usd(from_price) if from_price is not None else None,
        "to_price": render_usd(to_price) if to_price is not None else None,
        "value_usd": render_usd(value_micros),
    }


def render_quote(quote: TransferQuote) -> dict[str, Any]:
    """A quote as ``QuoteOut`` (minutes as decimal strings next to exact seconds)."""
    return {
        "quote_id": quote.quote_id,
        "from_subaccount_id": quote.from_subaccount_id,
        "to_subaccount_id": quote.to_subaccount_id,
        **_figures(quote.asset, quote.amount_sent, quote.amount_received,
                   quote.from_price, quote.to_price, quote.value_micros or 0),
        "status": quote.status,
        "expires_at": iso_second(quote.valid_until),
    }


def render_move(move: MoveRecord) -> dict[str, Any]:
    """A confirmed move as ``MoveOut``."""
    return {
        "id": move.transfer_id,
        "quote_id": move.quote_id,
        "from_subaccount_id": move.from_subaccount_id,
        "to_subaccount_id": move.to_subaccount_id,
        **_figures(move.asset, move.amount_sent, move.amount_received,
                   move.from_price, move.to_price, move.value_micros or 0),
        "created_by": move.created_by,
        "created_at": iso_second(move.created_at),
    }


def render_moves(page: MovesPage) -> dict[str, Any]:
    """A page of moves as ``MovesOut``."""
    return {"transfers": [render_move(move) for move in page.moves],
            "next_cursor": page.next_cursor}


@route(bp, "/v1/transfers/quotes", "POST", status=201, body=QuoteBody, idempotent=True,
       guard=quote_guard, summary="Quote a move of minutes or KP credits",
       response=QuoteOut,
       errors={403: ("forbidden",), 404: ("not_found",), 409: ("insufficient_balance",)})
def create_quote(ctx: RequestContext) -> dict[str, Any]:
    """What the destination will receive, both prices, the USD value, the expiry."""
    body: QuoteBody = ctx.body
    return render_quote(quote_move(ctx.user, body.from_subaccount_id, body.to_subaccount_id,
                                   body.asset, body.amount))


@route(bp, "/v1/transfers", "POST", status=201, body=ConfirmBody, idempotent=True,
       guard=confirm_guard, summary="Confirm a quote: move exactly once", response=MoveOut,
       errors={403: ("forbidden",), 404: ("quote_not_found",),
               409: ("quote_used", "quote_expired", "quote_stale", "already_posted",
                     "concurrent_update")})
def confirm_transfer(ctx: RequestContext) -> dict[str, Any]:
    """Execute the quote; stale, expired or used quotes answer 409."""
    return render_move(confirm_move(ctx.user, ctx.body.quote_id))


@route(bp, "/v1/transfers", "GET", query=("limit", "cursor"), summary="Confirmed moves",
       response=MovesOut, errors={400: ("invalid_cursor",)})
def list_transfers(ctx: RequestContext) -> dict[str, Any]:
    """Moves between sub-accounts the caller can see, newest first."""
    return render_moves(list_moves(ctx.user, page_limit(ctx), ctx.query.get("cursor")))

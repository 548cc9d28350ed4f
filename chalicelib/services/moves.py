"""Move minutes between sub-accounts: quote first, then confirm the quote.

A move never creates supply: ``received = min(sent, floor(sent × price(A) / price(B)))``
seconds. Toward an equal or higher price the USD value is kept and the difference
(conversion and floor remainder) is posted to the agency's ``conversion`` account, so the
seconds ledger still sums to zero; toward a lower price seconds arrive 1:1. KP credits move
1:1. A quote is refused at confirmation (409) when it expired, was used, or either price or
the sender's balance changed since.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from chalicelib.domain.ledger import (
    CONVERSION,
    MINUTE_ASSETS,
    Asset,
    Code,
    LedgerTransaction,
    Posting,
    parse_wallet_amount,
    wallet,
)
from chalicelib.domain.money import minutes_cost, move_received_seconds
from chalicelib.domain.plans import tier_of_asset
from chalicelib.domain.roles import SUBACCOUNT_ROLES, Action, Principal, SubaccountRef, can_see
from chalicelib.services.access import load_subaccount, visible_subaccounts
from chalicelib.services.ports import now
from chalicelib.store import ledger, quotes, stats, subaccount_guards, transfers
from chalicelib.store.ledger import InsufficientBalance
from chalicelib.store.quotes import QuoteUsed, TransferQuote
from chalicelib.store.transfers import MoveRecord

__all__ = ["MoveRecord", "MovesPage", "QuoteStale", "TransferQuote", "confirm_move",
           "list_moves", "quote_move"]

QUOTE_VALIDITY = timedelta(minutes=10)


class QuoteStale(Conflict):
    """A price or the sender's balance changed since the quote."""

    code = "quote_stale"


def quote_move(principal: Principal, from_id: str, to_id: str, asset: str, amount: object,
               at: datetime | None = None) -> TransferQuote:
    """Price a move and store the quote (valid 10 minutes)."""
    if asset not in (*MINUTE_ASSETS, Asset.KP_CREDITS):
        raise ValidationFailed("asset must be basic_minutes, premium_minutes or kp_credits",
                               details={"field": "asset"})
    units = parse_wallet_amount(asset, amount, signed=False)
    if units <= 0:
        raise ValidationFailed("amount must be positive", details={"field": "amount"})
    source = load_subaccount(principal, from_id, Action.MOVE_MINUTES)
    target = load_subaccount(principal, to_id, Action.MOVE_MINUTES)
    if source.subaccount_id == target.subaccount_id:
        raise ValidationFailed("source and destination must differ",
                               details={"field": "to_subaccount_id"})
    balance = ledger.balance(principal.agency_id, wallet(source.subaccount_id), asset)
    if balance.balance < units:
        raise InsufficientBalance(f"not enough {asset} to move",
                                  details={"available": balance.balance})
    from_price: int | None
    to_price: int | None
    if asset in MINUTE_ASSETS:
        tier = tier_of_asset(asset)
        from_price, to_price = source.price(tier), target.price(tier)
        received = move_received_seconds(units, from_price, to_price)
        value = minutes_cost(units, from_price)
        if received <= 0:
            raise ValidationFailed("amount too small: nothing would arrive",
                                   details={"field": "amount"})
    else:
        from_price = to_price = None  # KP credits have no price
        received, value = units, 0
    moment = at or now()
    return quotes.create(
        agency_id=principal.agency_id, quote_id=f"qte_{uuid.uuid4().hex[:24]}",
        from_subaccount_id=source.subaccount_id, to_subaccount_id=target.subaccount_id,
        from_is_primary=bool(source.is_primary), to_is_primary=bool(target.is_primary),
        asset=asset, amount_sent=units, amount_received=received,
        from_price=from_price, to_price=to_price,
        from_price_version=source.price_version or 1, to_price_version=target.price_version or 1,
        from_balance_version=balance.version, value_micros=value,
        created_by=principal.user_id, created_at=moment, valid_until=moment + QUOTE_VALIDITY,
    )


def _not_found() -> NotFound:
    return NotFound("quote not found", code="quote_not_found")


def confirm_move(principal: Principal, quote_id: str, at: datetime | None = None
                 ) -> MoveRecord:
    """Execute a quote exactly once, in one transaction guarded by everything it assumed."""
    moment = at or now()
    if not isinstance(quote_id, str) or not 1 <= len(quote_id) <= 64:
        raise _not_found()
    quote = quotes.get(principal.agency_id, quote_id)
    if quote is None:
        raise _not_found()
    for sub_id, primary in ((quote.from_subaccount_id, quote.from_is_primary),
                            (quote.to_subaccount_id, quote.to_is_primary)):
        if not can_see(principal, SubaccountRef(sub_id, principal.agency_id, bool(primary))):
            raise _not_found()
    if principal.role in SUBACCOUNT_ROLES:
        raise Forbidden("sub-account roles may not move minutes")
    if quote.status != "pending":
        raise QuoteUsed("this quote was already used")
    if moment > quote.valid_until:
        raise Conflict("this quote expired; ask for a new one", code="quote_expired")
    agency_id, asset = principal.agency_id, quote.asset
    sent, received = quote.amount_sent, quote.amount_received
    source, target = wallet(quote.from_subaccount_id), wallet(quote.to_subaccount_id)
    postings = [Posting(source, asset, -sent), Posting(target, asset, received)]
    if sent != received:
        postings.append(Posting(CONVERSION, asset, sent - received))
    transaction_id = f"move:{quote.quote_id}"
    move = transfers.new(
        agency_id=agency_id, transfer_id=transaction_id, quote_id=quote.quote_id,
        from_subaccount_id=quote.from_subaccount_id, to_subaccount_id=quote.to_subaccount_id,
        asset=asset, amount_sent=sent, amount_received=received, from_price=quote.from_price,
        to_price=quote.to_price, value_micros=quote.value_micros or 0,
        created_by=principal.user_id, created_at=moment,
    )
    stale = "a price changed or an account was removed since the quote"
    also = [
        quotes.use(quote),
        subaccount_guards.prices_unchanged(agency_id, quote.from_subaccount_id,
                                           quote.from_price_version, QuoteStale(stale)),
        subaccount_guards.prices_unchanged(agency_id, quote.to_subaccount_id,
                                           quote.to_price_version, QuoteStale(stale)),
        transfers.record(move),
    ]
    if asset in MINUTE_ASSETS:
        zone = principal.timezone
        also.append(stats.count(agency_id, quote.from_subaccount_id, moment, zone,
                                moved_out_seconds=sent))
        also.append(stats.count(agency_id, quote.to_subaccount_id, moment, zone,
                                moved_in_seconds=received))
    ledger.post(
        LedgerTransaction(agency_id=agency_id, transaction_id=transaction_id, code=Code.MOVE,
                          postings=tuple(postings), subaccount_id=quote.from_subaccount_id,
                          memo=f"move to {quote.to_subaccount_id}",
                          metadata={"quote_id": quote.quote_id}),
        also=also,
        at=moment,
        expected_versions={(source, asset): quote.from_balance_version},
        stale_error=QuoteStale("the sender's balance changed since the quote"),
    )
    return move


@dataclass(frozen=True)
class MovesPage:
    """One page of confirmed moves, newest first."""

    moves: list[MoveRecord]
    next_cursor: str | None


def list_moves(principal: Principal, limit: int, cursor: str | None) -> MovesPage:
    """Confirmed moves the caller may see (both ends within reach), newest first."""
    visible = {sub.subaccount_id for sub in visible_subaccounts(principal)}
    moves, next_cursor = transfers.newest_first(principal.agency_id, limit=limit, cursor=cursor)
    return MovesPage([move for move in moves if move.from_subaccount_id in visible
                      and move.to_subaccount_id in visible], next_cursor)

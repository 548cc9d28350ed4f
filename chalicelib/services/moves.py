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
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from chalicelib.domain.ledger import (
    CONVERSION,
    MINUTE_ASSETS,
    Asset,
    Code,
    LedgerTransaction,
    Posting,
    wallet,
)
from chalicelib.domain.money import minutes_cost, move_received_seconds, render_usd
from chalicelib.domain.plans import tier_of_asset
from chalicelib.domain.roles import Action, Principal, SubaccountRef, can_see
from chalicelib.services.access import load_subaccount
from chalicelib.services.wallets import parse_wallet_amount, render_amount
from chalicelib.store import keys
from chalicelib.store.accounts import Subaccount
from chalicelib.store.base import sortable_time, utcnow
from chalicelib.store.ledger import InsufficientBalance, post_transaction, read_balance
from chalicelib.store.movements import MoveRecord, TransferQuote
from chalicelib.store.pagination import decode_cursor, encode_cursor
from chalicelib.store.stats import stats_op
from chalicelib.store.transact import check, save, update

QUOTE_VALIDITY = timedelta(minutes=10)


class QuoteStale(Conflict):
    """A price or the sender's balance changed since the quote."""

    code = "quote_stale"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _move_figures(asset: str, sent: int, received: int, from_price: int | None,
                  to_price: int | None, value_micros: int) -> dict[str, Any]:
    """The amounts and prices a quote and its confirmed move both show."""
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
    """API shape of a quote (minutes as decimal strings next to exact seconds)."""
    return {
        "quote_id": quote.quote_id,
        "from_subaccount_id": quote.from_subaccount_id,
        "to_subaccount_id": quote.to_subaccount_id,
        **_move_figures(quote.asset, quote.amount_sent, quote.amount_received,
                        quote.from_price, quote.to_price, quote.value_micros or 0),
        "status": quote.status,
        "expires_at": _iso(quote.valid_until),
    }


def quote_move(principal: Principal, from_id: str, to_id: str, asset: str, amount: object,
               now: datetime | None = None) -> dict[str, Any]:
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
    balance = read_balance(principal.agency_id, wallet(source.subaccount_id), asset)
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
    at = now or utcnow()
    quote_id = f"qte_{uuid.uuid4().hex[:24]}"
    quote = TransferQuote(
        keys.agency_pk(principal.agency_id), keys.quote_sk(quote_id),
        agency_id=principal.agency_id, quote_id=quote_id,
        from_subaccount_id=source.subaccount_id, to_subaccount_id=target.subaccount_id,
        from_is_primary=bool(source.is_primary), to_is_primary=bool(target.is_primary),
        asset=asset, amount_sent=units, amount_received=received,
        from_price=from_price, to_price=to_price,
        from_price_version=source.price_version or 1, to_price_version=target.price_version or 1,
        from_balance_version=balance.version, value_micros=value,
        created_by=principal.user_id, created_at=at, valid_until=at + QUOTE_VALIDITY,
        expires_at=int((at + QUOTE_VALIDITY + timedelta(days=1)).timestamp()),
    )
    quote.save()
    return render_quote(quote)


def _sub_guard(agency_id: str, subaccount_id: str, price_version: int) -> Any:
    item = Subaccount(keys.agency_pk(agency_id), keys.subaccount_sk(subaccount_id))
    condition = (Subaccount.price_version == price_version) & Subaccount.status.is_in(
        "active", "suspended")
    return check(item, condition, QuoteStale("a price changed or an account was removed "
                                             "since the quote"))


def confirm_move(principal: Principal, quote_id: str, now: datetime | None = None
                 ) -> dict[str, Any]:
    """Execute a quote exactly once, in one transaction guarded by everything it assumed."""
    at = now or utcnow()
    if not isinstance(quote_id, str) or not 1 <= len(quote_id) <= 64:
        raise NotFound("quote not found", code="quote_not_found")
    try:
        quote = TransferQuote.get(keys.agency_pk(principal.agency_id), keys.quote_sk(quote_id),
                                  consistent_read=True)
    except TransferQuote.DoesNotExist:
        raise NotFound("quote not found", code="quote_not_found") from None
    for sub_id, primary in ((quote.from_subaccount_id, quote.from_is_primary),
                            (quote.to_subaccount_id, quote.to_is_primary)):
        if not can_see(principal, SubaccountRef(sub_id, principal.agency_id, bool(primary))):
            raise NotFound("quote not found", code="quote_not_found")
    if principal.role.value.startswith("subaccount_"):
        raise Forbidden("sub-account roles may not move minutes")
    if quote.status != "pending":
        raise Conflict("this quote was already used", code="quote_used")
    if at > quote.valid_until:
        raise Conflict("this quote expired; ask for a new one", code="quote_expired")
    agency_id, asset = principal.agency_id, quote.asset
    sent, received = quote.amount_sent, quote.amount_received
    source, target = wallet(quote.from_subaccount_id), wallet(quote.to_subaccount_id)
    postings = [Posting(source, asset, -sent), Posting(target, asset, received)]
    if sent != received:
        postings.append(Posting(CONVERSION, asset, sent - received))
    transaction_id = f"move:{quote.quote_id}"
    record = MoveRecord(
        keys.transfers_pk(agency_id), keys.timeline_sk(sortable_time(at), transaction_id),
        agency_id=agency_id, transfer_id=transaction_id, quote_id=quote.quote_id,
        from_subaccount_id=quote.from_subaccount_id, to_subaccount_id=quote.to_subaccount_id,
        asset=asset, amount_sent=sent, amount_received=received, from_price=quote.from_price,
        to_price=quote.to_price, value_micros=quote.value_micros or 0,
        created_by=principal.user_id, created_at=at,
    )
    also = [
        update(quote, actions=[TransferQuote.status.set("used")],
               condition=(TransferQuote.status == "pending"),
               error=Conflict("this quote was already used", code="quote_used")),
        _sub_guard(agency_id, quote.from_subaccount_id, quote.from_price_version),
        _sub_guard(agency_id, quote.to_subaccount_id, quote.to_price_version),
        save(record),
    ]
    if asset in MINUTE_ASSETS:
        zone = principal.timezone
        also.append(stats_op(agency_id, quote.from_subaccount_id, at, zone,
                             moved_out_seconds=sent))
        also.append(stats_op(agency_id, quote.to_subaccount_id, at, zone,
                             moved_in_seconds=received))
    post_transaction(
        LedgerTransaction(agency_id=agency_id, transaction_id=transaction_id, code=Code.MOVE,
                          postings=tuple(postings), subaccount_id=quote.from_subaccount_id,
                          memo=f"move to {quote.to_subaccount_id}",
                          metadata={"quote_id": quote.quote_id}),
        also=also,
        now=at,
        expected_versions={(source, asset): quote.from_balance_version},
        stale_error=QuoteStale("the sender's balance changed since the quote"),
    )
    return render_move(record)


def render_move(record: MoveRecord) -> dict[str, Any]:
    """API shape of a confirmed move."""
    return {
        "id": record.transfer_id,
        "quote_id": record.quote_id,
        "from_subaccount_id": record.from_subaccount_id,
        "to_subaccount_id": record.to_subaccount_id,
        **_move_figures(record.asset, record.amount_sent, record.amount_received,
                        record.from_price, record.to_price, record.value_micros or 0),
        "created_by": record.created_by,
        "created_at": _iso(record.created_at),
    }


def list_moves(principal: Principal, limit: int, cursor: str | None) -> dict[str, Any]:
    """Confirmed moves the caller may see (both ends within reach), newest first."""
    pk = keys.transfers_pk(principal.agency_id)
    from chalicelib.services.access import visible_subaccounts

    visible = {sub.subaccount_id for sub in visible_subaccounts(principal)}
    query = MoveRecord.query(pk, scan_index_forward=False, limit=limit,
                             last_evaluated_key=decode_cursor(cursor, pk))
    moves = [render_move(r) for r in query
             if r.from_subaccount_id in visible and r.to_subaccount_id in visible]
    return {"transfers": moves, "next_cursor": encode_cursor(query.last_evaluated_key)}

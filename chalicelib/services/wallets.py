"""Wallets: balances of a sub-account, its ledger activity, and platform adjustments."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from chalicelib.domain.errors import NotFound, ValidationFailed
from chalicelib.domain.ledger import (
    MINUTE_ASSETS,
    WALLET_ASSETS,
    Asset,
    Code,
    LedgerTransaction,
    supply,
    transfer,
    wallet,
)
from chalicelib.domain.money import (
    minutes_cost,
    parse_minutes,
    parse_whole_number,
    render_minutes,
    render_usd,
)
from chalicelib.domain.plans import tier_of_asset
from chalicelib.store import keys
from chalicelib.store.accounts import Subaccount, SubaccountPointer
from chalicelib.store.base import utcnow
from chalicelib.store.ledger import (
    BalanceView,
    get_transaction,
    post_transaction,
    read_balances,
)
from chalicelib.store.pagination import decode_cursor, encode_cursor
from chalicelib.store.transact import check


def wallet_view(sub: Subaccount, balances: dict[str, BalanceView] | None = None
                ) -> dict[str, Any]:
    """SPEC wallet: minutes (display) and exact seconds, KP credits, USD value, prices."""
    if balances is None:
        balances = read_balances(sub.agency_id, wallet(sub.subaccount_id))
    basic = balances[Asset.BASIC_MINUTES].balance if Asset.BASIC_MINUTES in balances else 0
    premium = balances[Asset.PREMIUM_MINUTES].balance if Asset.PREMIUM_MINUTES in balances else 0
    kp = balances[Asset.KP_CREDITS].balance if Asset.KP_CREDITS in balances else 0
    value = minutes_cost(basic, sub.price_basic) + minutes_cost(premium, sub.price_premium)
    return {
        "subaccount_id": sub.subaccount_id,
        "basic_minutes": render_minutes(basic),
        "premium_minutes": render_minutes(premium),
        "basic_seconds": basic,
        "premium_seconds": premium,
        "kp_credits": kp,
        "wallet_balance_usd": render_usd(value),
        "prices": {"basic": render_usd(sub.price_basic), "premium": render_usd(sub.price_premium)},
    }


def render_amount(asset: str, amount: int) -> str:
    """An amount in its asset's display unit (minutes, credits, USD)."""
    if asset in MINUTE_ASSETS:
        return render_minutes(amount)
    if asset == Asset.USD:
        return render_usd(amount)
    return str(amount)


def activity(sub: Subaccount, start: date | None, end: date | None, limit: int,
             cursor: str | None) -> dict[str, Any]:
    """Ledger entries of the sub-account's wallet, newest first, within [start, end]."""
    if start and end and end < start:
        raise ValidationFailed("to is before from", details={"field": "to"})
    low = keys.ENTRY_PREFIX + (start.isoformat() if start else "")
    high = keys.ENTRY_PREFIX + (end.isoformat() + "T~" if end else "~")
    account = wallet(sub.subaccount_id)
    start_key = decode_cursor(cursor, keys.account_pk(sub.agency_id, account))
    from chalicelib.store.ledger import LedgerEntry

    query = LedgerEntry.query(
        keys.account_pk(sub.agency_id, account),
        LedgerEntry.SK.between(low, high),
        scan_index_forward=False,
        limit=limit,
        last_evaluated_key=start_key,
    )
    entries = [
        {
            "transaction_id": entry.transaction_id,
            "code": entry.code,
            "asset": entry.asset,
            "amount": render_amount(entry.asset, entry.amount),
            "amount_units": entry.amount,
            "memo": entry.memo,
            "created_at": entry.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for entry in query
    ]
    return {"entries": entries, "next_cursor": encode_cursor(query.last_evaluated_key)}


def resolve_subaccount(subaccount_id: str) -> Subaccount:
    """A live sub-account from its bare id (platform routes): pointer, then the item."""
    from chalicelib.services.access import get_subaccount

    if not isinstance(subaccount_id, str) or not 1 <= len(subaccount_id) <= 64:
        raise NotFound("subaccount not found")
    try:
        pointer = SubaccountPointer.get(keys.subaccount_pointer_pk(subaccount_id), "SUBID")
    except SubaccountPointer.DoesNotExist:
        raise NotFound("subaccount not found") from None
    return get_subaccount(pointer.agency_id, subaccount_id)


def parse_wallet_amount(asset: str, amount: object, *, signed: bool) -> int:
    """An input amount in the asset's integer unit (seconds for minutes, units for KP)."""
    if asset in MINUTE_ASSETS:
        return parse_minutes(amount, "amount", signed=signed)
    if asset == Asset.KP_CREDITS:
        return parse_whole_number(amount, "amount", signed=signed)
    raise ValidationFailed(f"asset must be one of {', '.join(WALLET_ASSETS)}",
                           details={"field": "asset"})


def render_transaction(agency_id: str, transaction_id: str) -> dict[str, Any]:
    """A posted ledger transaction as the API shows it."""
    record = get_transaction(agency_id, transaction_id)
    if record is None:
        raise NotFound("transaction not found")
    return {
        "id": record.transaction_id,
        "code": record.code,
        "subaccount_id": record.subaccount_id,
        "memo": record.memo,
        "metadata": record.metadata or {},
        "postings": [
            {"account": account, "asset": asset, "amount": render_amount(asset, amount),
             "amount_units": amount}
            for account, asset, amount in record.postings
        ],
        "created_at": record.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def adjust_balance(subaccount_id: str, asset: str, amount: object, reason: str,
                   idempotency_key: str | None, now: datetime | None = None) -> dict[str, Any]:
    """Platform grant (positive) or correction (negative) against platform supply.

    Never takes the wallet below zero (409 ``insufficient_balance``). With an
    Idempotency-Key the transaction id is derived from it, so a replay cannot post twice.
    """
    sub = resolve_subaccount(subaccount_id)
    units = parse_wallet_amount(asset, amount, signed=True)
    if units == 0:
        raise ValidationFailed("amount must not be zero", details={"field": "amount"})
    if asset in MINUTE_ASSETS:
        tier_of_asset(asset)
    transaction_id = (f"adjustment:{uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key).hex}"
                      if idempotency_key else f"adjustment:{uuid.uuid4().hex}")
    source, target = supply(sub.subaccount_id), wallet(sub.subaccount_id)
    postings = transfer(source, target, asset, units) if units > 0 else transfer(
        target, source, asset, -units)
    post_transaction(
        LedgerTransaction(
            agency_id=sub.agency_id,
            transaction_id=transaction_id,
            code=Code.ADJUSTMENT if units > 0 else Code.CORRECTION,
            postings=postings,
            subaccount_id=sub.subaccount_id,
            memo=reason,
            metadata={"reason": reason},
        ),
        # the sub-account may have been removed since it was read: never credit a removed one
        also=[check(Subaccount(keys.agency_pk(sub.agency_id),
                               keys.subaccount_sk(sub.subaccount_id)),
                    Subaccount.status.is_in("active", "suspended"),
                    NotFound("subaccount not found"))],
        now=now or utcnow(),
    )
    return {**render_transaction(sub.agency_id, transaction_id), "asset": asset,
            "amount": render_amount(asset, units), "amount_units": units, "reason": reason}

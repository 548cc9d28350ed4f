"""Wallets: balances of a sub-account, its ledger activity, and platform adjustments."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypedDict

from chalicelib.domain.errors import NotFound, ValidationFailed
from chalicelib.domain.ledger import (
    Asset,
    Code,
    LedgerTransaction,
    parse_wallet_amount,
    supply,
    transfer,
    wallet,
)
from chalicelib.domain.money import minutes_cost
from chalicelib.services.access import get_subaccount
from chalicelib.services.ports import now
from chalicelib.store import ledger, subaccount_guards
from chalicelib.store.accounts import Subaccount
from chalicelib.store.ledger import BalanceView, LedgerEntry, LedgerTransactionRecord


@dataclass(frozen=True)
class Wallet:
    """A sub-account's holdings now (seconds per tier, KP credits) and its prices."""

    subaccount_id: str
    basic_seconds: int
    premium_seconds: int
    kp_credits: int
    price_basic: int  # micro-USD per minute
    price_premium: int

    @property
    def value_micros(self) -> int:
        """What the minutes are worth at the sub-account's own prices (SPEC wallet value)."""
        return (minutes_cost(self.basic_seconds, self.price_basic)
                + minutes_cost(self.premium_seconds, self.price_premium))


def wallet_of(sub: Subaccount, balances: dict[str, BalanceView] | None = None) -> Wallet:
    """The sub-account's wallet: its balance rows (one Query unless ``balances`` were read
    already, say for a whole page of sub-accounts)."""
    if balances is None:
        balances = ledger.balances_of(sub.agency_id, wallet(sub.subaccount_id))

    def held(asset: str) -> int:
        return balances[asset].balance if asset in balances else 0

    return Wallet(subaccount_id=sub.subaccount_id, basic_seconds=held(Asset.BASIC_MINUTES),
                  premium_seconds=held(Asset.PREMIUM_MINUTES),
                  kp_credits=held(Asset.KP_CREDITS), price_basic=sub.price_basic,
                  price_premium=sub.price_premium)


@dataclass(frozen=True)
class ActivityPage:
    """One page of a wallet's ledger entries, newest first."""

    entries: list[LedgerEntry]
    next_cursor: str | None


def activity(sub: Subaccount, start: date | None, end: date | None, limit: int,
             cursor: str | None) -> ActivityPage:
    """Ledger entries of the sub-account's wallet, newest first, within [start, end]."""
    if start and end and end < start:
        raise ValidationFailed("to is before from", details={"field": "to"})
    entries, next_cursor = ledger.newest_entries(
        sub.agency_id, wallet(sub.subaccount_id), start=start, end=end, limit=limit,
        cursor=cursor)
    return ActivityPage(entries, next_cursor)


def resolve_subaccount(subaccount_id: str) -> Subaccount:
    """A live sub-account from its bare id (platform routes): pointer, then the item."""
    if not isinstance(subaccount_id, str) or not 1 <= len(subaccount_id) <= 64:
        raise NotFound("subaccount not found")
    agency_id = subaccount_guards.owner_of(subaccount_id)
    if agency_id is None:
        raise NotFound("subaccount not found")
    return get_subaccount(agency_id, subaccount_id)


class Adjustment(TypedDict):
    """A posted platform adjustment (a mapping: callers read it by key)."""

    transaction: LedgerTransactionRecord
    asset: str
    amount_units: int  # signed, in the asset's unit
    reason: str


def adjust_balance(subaccount_id: str, asset: str, amount: object, reason: str,
                   idempotency_key: str | None, at: datetime | None = None) -> Adjustment:
    """Platform grant (positive) or correction (negative) against platform supply.

    Never takes the wallet below zero (409 ``insufficient_balance``). With an
    Idempotency-Key the transaction id is derived from it, so a replay cannot post twice.
    """
    sub = resolve_subaccount(subaccount_id)
    units = parse_wallet_amount(asset, amount, signed=True)
    if units == 0:
        raise ValidationFailed("amount must not be zero", details={"field": "amount"})
    transaction_id = (f"adjustment:{uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key).hex}"
                      if idempotency_key else f"adjustment:{uuid.uuid4().hex}")
    source, target = supply(sub.subaccount_id), wallet(sub.subaccount_id)
    postings = transfer(source, target, asset, units) if units > 0 else transfer(
        target, source, asset, -units)
    record = ledger.post(
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
        also=[subaccount_guards.still_live(sub.agency_id, sub.subaccount_id,
                                           NotFound("subaccount not found"))],
        at=at or now(),
    )
    return Adjustment(transaction=record, asset=asset, amount_units=units, reason=reason)

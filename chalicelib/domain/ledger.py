"""Double-entry ledger vocabulary (after TigerBeetle): accounts, postings, transactions.

A transaction is a set of postings whose amounts sum to zero per asset; it is immutable and
corrected only by a reversing transaction. Amounts are integers at a fixed scale per asset:
seconds for minutes, units for KP credits, micro-dollars for USD.

Accounts are named ``<kind>:<owner>``. Sub-account wallets (``sub:<sid>``) may never go
below zero; system accounts may (a supply account is negative by what it has issued).
System accounts are per sub-account or per agency, never global, so no single DynamoDB item
is written by every call of the platform (SPEC "No hot items").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.money import parse_minutes, parse_whole_number


class Asset(StrEnum):
    """Ledgers, each with its fixed integer scale."""

    BASIC_MINUTES = "basic_minutes"  # seconds
    PREMIUM_MINUTES = "premium_minutes"  # seconds
    KP_CREDITS = "kp_credits"  # units
    USD = "usd"  # micro-dollars


MINUTE_ASSETS = (Asset.BASIC_MINUTES, Asset.PREMIUM_MINUTES)
WALLET_ASSETS = (Asset.BASIC_MINUTES, Asset.PREMIUM_MINUTES, Asset.KP_CREDITS)


class Code(StrEnum):
    """Why value moved."""

    PURCHASE = "purchase"
    MOVE = "move"
    USAGE = "usage"
    ALLOCATION = "allocation"
    PLAN_INCLUDED = "plan_included"
    REMOVAL = "removal"
    REFUND = "refund"
    DISPUTE = "dispute"
    DISPUTE_WON = "dispute_won"
    DISPUTE_LOST = "dispute_lost"
    PAYOUT = "payout"
    PAYOUT_REVERSAL = "payout_reversal"
    PAYOUT_SETTLED = "payout_settled"
    ADJUSTMENT = "adjustment"
    HOLD = "hold"
    HOLD_RELEASE = "hold_release"
    CORRECTION = "correction"


def wallet(subaccount_id: str) -> str:
    """A sub-account's own holdings (never negative)."""
    return f"sub:{subaccount_id}"


def supply(subaccount_id: str) -> str:
    """Platform supply that issues minutes and credits to one sub-account."""
    return f"supply:{subaccount_id}"


def usage_sink(subaccount_id: str) -> str:
    """Where one sub-account's consumed seconds go."""
    return f"usage:{subaccount_id}"


def rounding(subaccount_id: str) -> str:
    """Where moves sent by one sub-account booked their conversion before the per-agency
    ``conversion`` account (kept so that older ledger history still reads)."""
    return f"rounding:{subaccount_id}"


def card_payments(subaccount_id: str) -> str:
    """USD received from a sub-account's cards (negative: money that came in)."""
    return f"cardpay:{subaccount_id}"


def platform_revenue(subaccount_id: str) -> str:
    """Base-cost revenue of the platform from one sub-account."""
    return f"revenue:{subaccount_id}"


def profit_held(purchase_id: str) -> str:
    """Profit of one disputed purchase, held out of the agency's profit until the dispute ends."""
    return f"profit_held:{purchase_id}"


def held(subaccount_id: str) -> str:
    """Seconds reserved by authorized calls that have not reported their usage yet."""
    return f"held:{subaccount_id}"


AGENCY_PROFIT = "profit"
#: Per agency: seconds kept back by moves and removals toward an equal or higher price (the
#: value conversion and the floor remainder), so a move neither creates nor loses seconds.
CONVERSION = "conversion"
PAYOUTS_IN_FLIGHT = "payouts_in_flight"
PAID_OUT = "paid_out"

_NON_NEGATIVE_KINDS = frozenset({"sub"})


def is_non_negative(account: str) -> bool:
    """Whether the ledger refuses to take this account below zero."""
    return account.split(":", 1)[0] in _NON_NEGATIVE_KINDS


@dataclass(frozen=True)
class Posting:
    """One leg: ``amount`` added to ``account`` in ``asset`` (negative = taken out)."""

    account: str
    asset: str
    amount: int

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("posting amounts are ints")


class UnbalancedTransaction(ValueError):
    """Postings that do not sum to zero per asset: a programming error, never user input."""


@dataclass(frozen=True)
class LedgerTransaction:
    """A balanced, immutable set of postings with a caller-chosen idempotent id."""

    agency_id: str
    transaction_id: str
    code: str
    postings: tuple[Posting, ...]
    subaccount_id: str | None = None
    memo: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        totals: dict[str, int] = defaultdict(int)
        for posting in self.postings:
            totals[posting.asset] += posting.amount
        unbalanced = {asset: total for asset, total in totals.items() if total != 0}
        if unbalanced:
            raise UnbalancedTransaction(f"postings do not sum to zero: {unbalanced}")
        if not self.postings:
            raise UnbalancedTransaction("a transaction needs postings")

    def net_by_account(self) -> dict[tuple[str, str], int]:
        """Net change per (account, asset), zero nets dropped."""
        net: dict[tuple[str, str], int] = defaultdict(int)
        for posting in self.postings:
            net[(posting.account, posting.asset)] += posting.amount
        return {key: amount for key, amount in net.items() if amount != 0}

    def reversed(self, transaction_id: str, code: str, memo: str = "") -> LedgerTransaction:
        """A transaction that undoes this one (corrections are reversals, never edits)."""
        return LedgerTransaction(
            agency_id=self.agency_id,
            transaction_id=transaction_id,
            code=code,
            postings=tuple(Posting(p.account, p.asset, -p.amount) for p in self.postings),
            subaccount_id=self.subaccount_id,
            memo=memo or f"reversal of {self.transaction_id}",
            metadata={"reverses": self.transaction_id},
        )


def transfer(account_from: str, account_to: str, asset: str, amount: int) -> tuple[Posting, ...]:
    """The two postings of moving ``amount`` from one account to another."""
    return (Posting(account_from, asset, -amount), Posting(account_to, asset, amount))


def parse_wallet_amount(asset: str, amount: object, *, signed: bool) -> int:
    """An input amount in the asset's integer unit (seconds for minutes, units for KP)."""
    if asset in MINUTE_ASSETS:
        return parse_minutes(amount, "amount", signed=signed)
    if asset == Asset.KP_CREDITS:
        return parse_whole_number(amount, "amount", signed=signed)
    raise ValidationFailed(f"asset must be one of {', '.join(WALLET_ASSETS)}",
                           details={"field": "asset"})

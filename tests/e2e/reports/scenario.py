"""A scripted book of events for report tests: ledger postings + counters, and a model.

These helpers post the same balanced ledger transactions with the same counter ops in ONE
transaction as the real write paths do, but at a chosen time, so a scripted month (leap
days, month ends) needs no clock control. Every event is also applied to ``Model``, a plain
in-test dict, so a report can be checked against both an independent model and a
brute-force recomputation from the ledger entries. The real routes (usage ingestion, card
purchases, moves, refunds) feed reports in test_reports_real_paths.py and
test_reports_timezone.py.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from chalicelib.domain.ledger import (
    AGENCY_PROFIT,
    Asset,
    Code,
    LedgerTransaction,
    Posting,
    card_payments,
    platform_revenue,
    rounding,
    supply,
    usage_sink,
    wallet,
)
from chalicelib.domain.money import convert_seconds, minutes_cost, purchase_charge_micros
from chalicelib.domain.plans import BASE_COST_MICROS, asset_of_tier
from chalicelib.domain.reporting import CALL_DIRECTIONS, CALL_STATUSES, REPORT_COUNTERS
from chalicelib.domain.timezones import local_date
from chalicelib.store import keys
from chalicelib.store.accounts import Subaccount, SubaccountPointer
from chalicelib.store.base import utcnow
from chalicelib.store.ledger import (
    LedgerEntry,
    LedgerTransactionRecord,
    post_transaction,
    read_balance,
)
from chalicelib.store.stats import stats_op
from chalicelib.store.transact import commit, save

_ids = itertools.count(1)


def add_subaccount(agency_id: str, name: str, *, basic: int, premium: int,
                   subscription_start: str = "2026-01-31", primary: bool = False) -> Subaccount:
    """A secondary sub-account written straight to the table (any subscription start, no
    plan cap: the scripted month needs several)."""
    sid = f"sub_{uuid.uuid4().hex[:24]}"
    sub = Subaccount(keys.agency_pk(agency_id), keys.subaccount_sk(sid), agency_id=agency_id,
                     subaccount_id=sid, name=name, login_email=None, is_primary=primary,
                     price_basic=basic, price_premium=premium,
                     subscription_start=subscription_start, created_at=utcnow())
    commit([save(sub), save(SubaccountPointer(keys.subaccount_pointer_pk(sid), "SUBID",
                                              agency_id=agency_id))])
    return sub


def add_user(agency_id: str, role: str, *, access_all: bool = True,
             subaccount_ids: tuple[str, ...] = ()) -> str:
    """A user of the agency written straight to the table; returns its access token
    (quicker than the invitation flow, which tests/e2e/identity covers)."""
    from chalicelib.services.sessions import issue_token
    from chalicelib.store.accounts import User

    uid = f"usr_{uuid.uuid4().hex[:24]}"
    user = User(keys.agency_pk(agency_id), keys.user_sk(uid), agency_id=agency_id, user_id=uid,
                email=f"{uid}@example.com", role=role, access_all=access_all,
                subaccount_ids=list(subaccount_ids), created_at=utcnow())
    commit([save(user)])
    return issue_token(user)["access_token"]


def at_noon(day: date) -> datetime:
    """An event time inside ``day`` (UTC)."""
    return datetime(day.year, day.month, day.day, 12, 0, next(_ids) % 60, tzinfo=UTC)


@dataclass
class Model:
    """Independent expectations: (sid, day) → counter → int."""

    days: dict[tuple[str, date], dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int)))

    def add(self, sid: str, day: date, **amounts: int) -> None:
        """Record what an event should add to a sub-account's day."""
        for name, amount in amounts.items():
            self.days[(sid, day)][name] += amount

    def sum(self, sids: list[str], start: date, end: date) -> dict[str, int]:
        """Brute force: every counter summed over the sub-accounts and days in range."""
        total = dict.fromkeys(REPORT_COUNTERS, 0)
        for (sid, day), counters in self.days.items():
            if sid in sids and start <= day <= end:
                for name, amount in counters.items():
                    total[name] += amount
        return total


class Book:
    """Posts events for one agency and keeps the model in step."""

    def __init__(self, agency_id: str) -> None:
        self.agency_id = agency_id
        self.model = Model()
        self.purchases: list[tuple[Subaccount, str, int, int, int, date]] = []

    def purchase(self, sub: Subaccount, tier: str, minutes: int, day: date) -> None:
        """A succeeded purchase: minutes credited, USD split into revenue and profit."""
        sid, price = sub.subaccount_id, sub.price(tier)
        charge = purchase_charge_micros(minutes, price)
        base = minutes * BASE_COST_MICROS[tier]
        profit = charge - base
        asset = asset_of_tier(tier)
        tx = LedgerTransaction(
            agency_id=self.agency_id, transaction_id=f"purchase-{uuid.uuid4().hex}",
            code=Code.PURCHASE, subaccount_id=sid,
            postings=(
                Posting(supply(sid), asset, -minutes * 60),
                Posting(wallet(sid), asset, minutes * 60),
                Posting(card_payments(sid), Asset.USD, -charge),
                Posting(platform_revenue(sid), Asset.USD, base),
                Posting(AGENCY_PROFIT, Asset.USD, profit),
            ),
        )
        post_transaction(tx, also=[stats_op(self.agency_id, sid, at_noon(day), "UTC",
                                            purchases_micros=charge, profit_micros=profit)],
                         now=at_noon(day))
        self.model.add(sid, day, purchases_micros=charge, profit_micros=profit)
        self.purchases.append((sub, tier, minutes, charge, profit, day))

    def refund(self, index: int, day: date) -> None:
        """Refund of an earlier purchase: USD reversed, profit reversed (minutes stay)."""
        sub, _tier, _minutes, charge, profit, _day = self.purchases[index]
        sid = sub.subaccount_id
        base = charge - profit
        tx = LedgerTransaction(
            agency_id=self.agency_id, transaction_id=f"refund-{uuid.uuid4().hex}",
            code=Code.REFUND, subaccount_id=sid,
            postings=(
                Posting(card_payments(sid), Asset.USD, charge),
                Posting(platform_revenue(sid), Asset.USD, -base),
                Posting(AGENCY_PROFIT, Asset.USD, -profit),
            ),
        )
        post_transaction(tx, also=[stats_op(self.agency_id, sid, at_noon(day), "UTC",
                                            refunds_micros=charge, profit_micros=-profit)],
                         now=at_noon(day))
        self.model.add(sid, day, refunds_micros=charge, profit_micros=-profit)

    def usage(self, sub: Subaccount, tier: str, seconds: int, status: str, direction: str,
              day: date) -> None:
        """A call: debits what the wallet holds, records the shortfall, counts the call."""
        sid = sub.subaccount_id
        asset = asset_of_tier(tier)
        held = read_balance(self.agency_id, wallet(sid), asset).balance
        debited = min(seconds, held)
        shortfall = seconds - debited
        spent = minutes_cost(debited, sub.price(tier))
        status_key = status if status in CALL_STATUSES else "other"
        assert direction in CALL_DIRECTIONS
        counters = {f"used_{tier}_seconds": debited, "shortfall_seconds": shortfall,
                    "calls_total": 1, f"calls_{status_key}": 1, f"calls_{direction}": 1,
                    "spent_micros": spent}
        op = stats_op(self.agency_id, sid, at_noon(day), "UTC", **counters)
        if debited:
            tx = LedgerTransaction(
                agency_id=self.agency_id, transaction_id=f"usage-{uuid.uuid4().hex}",
                code=Code.USAGE, subaccount_id=sid,
                postings=(Posting(wallet(sid), asset, -debited),
                          Posting(usage_sink(sid), asset, debited)),
            )
            post_transaction(tx, also=[op], now=at_noon(day))
        else:
            commit([op])
        self.model.add(sid, day, **counters)

    def move(self, source: Subaccount, target: Subaccount, tier: str, seconds: int,
             day: date) -> None:
        """A value-preserving move; the floor remainder goes to the sender's rounding account."""
        asset = asset_of_tier(tier)
        held = read_balance(self.agency_id, wallet(source.subaccount_id), asset).balance
        sent = min(seconds, held)
        if sent <= 0:
            return
        received = convert_seconds(sent, source.price(tier), target.price(tier))
        tx = LedgerTransaction(
            agency_id=self.agency_id, transaction_id=f"move-{uuid.uuid4().hex}",
            code=Code.MOVE, subaccount_id=source.subaccount_id,
            postings=(Posting(wallet(source.subaccount_id), asset, -sent),
                      Posting(wallet(target.subaccount_id), asset, received),
                      Posting(rounding(source.subaccount_id), asset, sent - received)),
        )
        post_transaction(tx, also=[
            stats_op(self.agency_id, source.subaccount_id, at_noon(day), "UTC",
                     moved_out_seconds=sent),
            stats_op(self.agency_id, target.subaccount_id, at_noon(day), "UTC",
                     moved_in_seconds=received),
        ], now=at_noon(day))
        self.model.add(source.subaccount_id, day, moved_out_seconds=sent)
        self.model.add(target.subaccount_id, day, moved_in_seconds=received)


def _entries(agency_id: str, account: str) -> list[LedgerEntry]:
    return list(LedgerEntry.query(keys.account_pk(agency_id, account),
                                  LedgerEntry.SK.startswith(keys.ENTRY_PREFIX)))


class LedgerView:
    """Brute force from the ledger entries themselves (tests only: reads whole accounts).

    Minutes used = seconds that reached the usage sink; purchases = USD that came in from the
    cards, gross of refunds; refunds = USD that went back; profit = net USD posted to the
    agency profit by this sub-account's transactions.
    """

    def __init__(self, agency_id: str) -> None:
        self.agency_id = agency_id
        self._cache: dict[str, list[LedgerEntry]] = {}
        self._owner: dict[str, str | None] = {}

    def entries(self, account: str) -> list[LedgerEntry]:
        """Every entry of an account (read once)."""
        if account not in self._cache:
            self._cache[account] = _entries(self.agency_id, account)
        return self._cache[account]

    def subaccount_of(self, transaction_id: str) -> str | None:
        """The sub-account a transaction was posted for (read once)."""
        if transaction_id not in self._owner:
            record = LedgerTransactionRecord.get(
                keys.transaction_pk(self.agency_id, transaction_id), "TX")
            self._owner[transaction_id] = record.subaccount_id
        return self._owner[transaction_id]

    def sums(self, sid: str, start: date, end: date,
             timezone: str = "UTC") -> dict[str, int]:
        """The ledger's figures of one sub-account from ``start`` to ``end`` inclusive, dates
        of ``timezone`` (each entry counted on the local date of its posting)."""
        def in_range(entry: LedgerEntry) -> bool:
            return start <= local_date(entry.created_at, timezone) <= end

        used = {"basic_minutes": 0, "premium_minutes": 0}
        for entry in filter(in_range, self.entries(usage_sink(sid))):
            used[entry.asset] += entry.amount
        purchases = refunds = 0
        for entry in filter(in_range, self.entries(card_payments(sid))):
            if entry.amount < 0:
                purchases += -entry.amount
            else:
                refunds += entry.amount
        profit = sum(entry.amount for entry in filter(in_range, self.entries(AGENCY_PROFIT))
                     if self.subaccount_of(entry.transaction_id) == sid)
        return {"used_basic_seconds": used["basic_minutes"],
                "used_premium_seconds": used["premium_minutes"],
                "purchases_micros": purchases, "refunds_micros": refunds,
                "profit_micros": profit}


def ledger_sums(agency_id: str, sid: str, start: date, end: date) -> dict[str, int]:
    """One-off brute-force figures of a sub-account (see ``LedgerView``)."""
    return LedgerView(agency_id).sums(sid, start, end)

"""Test support for ledger tests: sub-accounts written straight to the store, sums of the ledger."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict

from chalicelib.domain.money import parse_usd
from chalicelib.store import keys
from chalicelib.store.accounts import Subaccount, SubaccountPointer
from chalicelib.store.base import TableItem, utcnow
from chalicelib.store.ledger import LedgerBalance, LedgerEntry, LedgerTransactionRecord


def make_subaccount(agency_id: str, *, basic: str = "0.12", premium: str = "0.20",
                    name: str = "Client") -> str:
    """A secondary sub-account written directly (the lifecycle routes are tested elsewhere)."""
    sid = f"sub_{uuid.uuid4().hex[:24]}"
    Subaccount(keys.agency_pk(agency_id), keys.subaccount_sk(sid), agency_id=agency_id,
               subaccount_id=sid, name=name, is_primary=False, price_basic=parse_usd(basic),
               price_premium=parse_usd(premium), subscription_start="2026-01-15",
               created_at=utcnow()).save()
    SubaccountPointer(keys.subaccount_pointer_pk(sid), "SUBID", agency_id=agency_id).save()
    return sid


def ledger_sums() -> tuple[dict[str, int], dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """Scan the whole table (test-only): Σ per asset, balance rows, Σ entries per row."""
    per_asset: dict[str, int] = defaultdict(int)
    balances: dict[tuple[str, str], int] = {}
    entries: dict[tuple[str, str], int] = defaultdict(int)
    # pages of 500 items: one page per request stays well under the client's read timeout
    for item in TableItem.scan(page_size=500):
        if isinstance(item, LedgerEntry):
            per_asset[item.asset] += item.amount
            entries[(item.PK, item.asset)] += item.amount
        elif isinstance(item, LedgerBalance):
            balances[(item.PK, item.SK.removeprefix("BAL#"))] = item.balance or 0
    return dict(per_asset), balances, dict(entries)


def assert_ledger_consistent() -> None:
    """Σ per asset is 0, each balance row equals its entries, no wallet is negative."""
    per_asset, balances, entries = ledger_sums()
    assert all(total == 0 for total in per_asset.values()), per_asset
    assert {k: v for k, v in balances.items() if v} == {k: v for k, v in entries.items() if v}
    for (pk, _asset), balance in balances.items():
        if "#sub:" in pk:
            assert balance >= 0, (pk, balance)


def assert_each_transaction_posted_once() -> None:
    """Every ledger transaction's entries are exactly its postings, each once, and no entry
    lacks its transaction record: nothing was applied twice or in part."""
    postings: dict[tuple[str, str], Counter[tuple[str, str, int]]] = {}
    entries: dict[tuple[str, str], Counter[tuple[str, str, int]]] = defaultdict(Counter)
    for item in TableItem.scan(page_size=500):
        if isinstance(item, LedgerTransactionRecord):
            postings[(item.agency_id, item.transaction_id)] = Counter(
                (account, asset, amount) for account, asset, amount in item.postings)
        elif isinstance(item, LedgerEntry):
            entries[(item.agency_id, item.transaction_id)][
                (item.account, item.asset, item.amount)] += 1
    assert set(entries) <= set(postings), set(entries) - set(postings)
    wrong = {tx: (dict(entries.get(tx, {})), dict(expected))
             for tx, expected in postings.items() if entries.get(tx, Counter()) != expected}
    assert not wrong, wrong

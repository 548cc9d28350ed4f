"""The ledger repository: transaction records, entries and balance rows, written together.

``post`` turns a balanced ``LedgerTransaction`` into ONE ``TransactWriteItems``: the
transaction record (``attribute_not_exists``: an id is never reused), one entry per posting,
and one ``ADD`` per touched balance row (``balance >= debit`` on accounts that may not go
negative), plus any extra ops of the caller (counters, status changes, markers). Entries and
balances can therefore never disagree, whatever crashes or races.

``batch_ops`` does the same for several transactions written by one ``TransactWriteItems``
(a batch of usage records): each keeps its own record and entries, and every balance row
they touch gets ONE update carrying the sum of their changes (a transaction may not touch an
item twice), guarded so that applying them one after the other never takes a wallet below
zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pynamodb.attributes import JSONAttribute, UnicodeAttribute
from pynamodb.expressions.condition import Condition

from chalicelib.domain.errors import Conflict, DomainError
from chalicelib.domain.ledger import LedgerTransaction, is_non_negative
from chalicelib.store import keys
from chalicelib.store.base import (
    IntegerAttribute,
    TableItem,
    UTCDateTimeText,
    sortable_time,
    utcnow,
)
from chalicelib.store.pagination import decode_cursor, encode_cursor
from chalicelib.store.transact import Op, check, commit, save, update


class LedgerTransactionRecord(TableItem, discriminator="LedgerTransaction"):
    """PK: ``TX#<aid>#<txid>`` / SK: ``TX``. Its existence makes a transaction id single-use."""

    agency_id = UnicodeAttribute()
    transaction_id = UnicodeAttribute()
    code = UnicodeAttribute()
    subaccount_id = UnicodeAttribute(null=True)
    memo = UnicodeAttribute(default="")
    created_at = UTCDateTimeText()
    postings = JSONAttribute()  # [[account, asset, amount], ...] (ints survive JSON exactly)
    metadata = JSONAttribute(default=dict)


class LedgerEntry(TableItem, discriminator="LedgerEntry"):
    """PK: ``ACCT#<aid>#<account>`` / SK: ``ENTRY#<iso>#<txid>#<n>``. One posting, immutable."""

    agency_id = UnicodeAttribute()
    account = UnicodeAttribute()
    asset = UnicodeAttribute()
    amount = IntegerAttribute()
    transaction_id = UnicodeAttribute()
    code = UnicodeAttribute()
    memo = UnicodeAttribute(default="")
    created_at = UTCDateTimeText()


class LedgerBalance(TableItem, discriminator="LedgerBalance"):
    """PK: ``ACCT#<aid>#<account>`` / SK: ``BAL#<asset>``. Sum of the account's entries.

    ``version`` grows by one with every transaction that changes the row, so "unchanged
    since read" is one condition.
    """

    balance = IntegerAttribute(default=0)
    version = IntegerAttribute(default=0)


class InsufficientBalance(Conflict):
    """A debit would take a sub-account below zero."""

    code = "insufficient_balance"


class AlreadyPosted(Conflict):
    """The transaction id was used before (the operation already happened)."""

    code = "already_posted"


@dataclass(frozen=True)
class BalanceView:
    """A balance row as read."""

    account: str
    asset: str
    balance: int
    version: int


# ------------------------------------------------------------------------------ writes


def balance_key(agency_id: str, account: str, asset: str) -> LedgerBalance:
    """An unsaved balance row carrying only its key (for updates and checks)."""
    return LedgerBalance(keys.account_pk(agency_id, account), keys.balance_sk(asset))


def _record_op(tx: LedgerTransaction, at: datetime) -> Op:
    return save(
        LedgerTransactionRecord(
            keys.transaction_pk(tx.agency_id, tx.transaction_id),
            "TX",
            agency_id=tx.agency_id,
            transaction_id=tx.transaction_id,
            code=tx.code,
            subaccount_id=tx.subaccount_id,
            memo=tx.memo,
            created_at=at,
            postings=[[p.account, p.asset, p.amount] for p in tx.postings],
            metadata=tx.metadata,
        ),
        condition=LedgerTransactionRecord.PK.does_not_exist(),
        error=AlreadyPosted(f"transaction {tx.transaction_id} was already posted"),
    )


def _entry_ops(tx: LedgerTransaction, at: datetime) -> list[Op]:
    at_iso = sortable_time(at)
    return [
        save(
            LedgerEntry(
                keys.account_pk(tx.agency_id, posting.account),
                keys.entry_sk(at_iso, tx.transaction_id, index),
                agency_id=tx.agency_id,
                account=posting.account,
                asset=posting.asset,
                amount=posting.amount,
                transaction_id=tx.transaction_id,
                code=tx.code,
                memo=tx.memo,
                created_at=at,
            )
        )
        for index, posting in enumerate(tx.postings)
    ]


def _version_is(version: int) -> Condition:
    return (LedgerBalance.version == version) if version else (
        LedgerBalance.version.does_not_exist() | (LedgerBalance.version == 0))


def _balance_ops(agency_id: str, txs: Sequence[LedgerTransaction],
                 expected_versions: dict[tuple[str, str], int],
                 stale_error: DomainError | None) -> list[Op]:
    """One guarded update per balance row the transactions change, in key order.

    A row may not go below zero at any point of applying ``txs`` in order, so its condition
    asks for the largest running debit (for one transaction: the debit itself).
    """
    total: dict[tuple[str, str], int] = {}
    touched: dict[tuple[str, str], int] = {}
    needed: dict[tuple[str, str], int] = {}
    for tx in txs:
        for row, delta in tx.net_by_account().items():
            total[row] = total.get(row, 0) + delta
            touched[row] = touched.get(row, 0) + 1
            needed[row] = max(needed.get(row, 0), -total[row])
    ops: list[Op] = []
    for (account, asset), delta in sorted(total.items()):
        condition: Condition | None = None
        error: DomainError = InsufficientBalance(
            f"not enough {asset} in {account}", details={"account": account, "asset": asset})
        if needed[(account, asset)] > 0 and is_non_negative(account):
            condition = LedgerBalance.balance >= needed[(account, asset)]
        if (account, asset) in expected_versions:
            guard = _version_is(expected_versions[(account, asset)])
            condition = guard if condition is None else condition & guard
            error = stale_error or error
        ops.append(update(
            balance_key(agency_id, account, asset),
            actions=[LedgerBalance.balance.add(delta),
                     LedgerBalance.version.add(touched[(account, asset)]),
                     LedgerBalance.kind.set(LedgerBalance)],
            condition=condition,
            error=error,
        ))
    return ops


def post_ops(tx: LedgerTransaction, *, at: datetime | None = None,
             expected_versions: dict[tuple[str, str], int] | None = None,
             stale_error: DomainError | None = None) -> list[Op]:
    """The ops that post ``tx``: record, guarded balance updates, entries.

    ``expected_versions`` maps (account, asset) to the balance version read earlier; the
    update of that row then also requires the version to be unchanged (a quote's "balance
    changed" rule), failing with ``stale_error``. It has to live in the update's own
    condition: one transaction may not touch the same item twice.
    """
    moment = at or utcnow()
    return [_record_op(tx, moment),
            *_balance_ops(tx.agency_id, [tx], expected_versions or {}, stale_error),
            *_entry_ops(tx, moment)]


@dataclass(frozen=True)
class BatchOps:
    """The ops posting several transactions at once: ``records`` (transaction id → the op of
    its record, whose failed condition means that id was posted before) and ``ops`` (every
    op, those records included)."""

    records: dict[str, Op]
    ops: list[Op]


def batch_ops(agency_id: str, txs: Sequence[LedgerTransaction], *, at: datetime,
              expected_versions: dict[tuple[str, str], int] | None = None,
              stale_error: DomainError | None = None) -> BatchOps:
    """Post ``txs`` (of one agency, in this order) in one ``TransactWriteItems``.

    Each transaction has its record and entries; each balance row gets one update adding the
    sum of their changes, its version growing by the number of transactions that changed it
    (as if they had been posted one by one), guarded as ``post_ops`` guards one.
    """
    records = {tx.transaction_id: _record_op(tx, at) for tx in txs}
    ops = [op for tx in txs for op in (records[tx.transaction_id], *_entry_ops(tx, at))]
    ops += _balance_ops(agency_id, txs, expected_versions or {}, stale_error)
    return BatchOps(records, ops)


def unchanged(agency_id: str, account: str, asset: str, version: int,
              error: DomainError) -> Op:
    """Require a balance row still at the ``version`` read (for a row the transaction does
    not write itself), failing with ``error``."""
    return check(balance_key(agency_id, account, asset), _version_is(version), error)


def _record_of(tx: LedgerTransaction, at: datetime) -> LedgerTransactionRecord:
    return LedgerTransactionRecord(
        keys.transaction_pk(tx.agency_id, tx.transaction_id), "TX",
        agency_id=tx.agency_id, transaction_id=tx.transaction_id, code=tx.code,
        subaccount_id=tx.subaccount_id, memo=tx.memo, created_at=at,
        postings=[[p.account, p.asset, p.amount] for p in tx.postings], metadata=tx.metadata)


def post(tx: LedgerTransaction, also: Sequence[Op] = (), *, at: datetime | None = None,
         expected_versions: dict[tuple[str, str], int] | None = None,
         stale_error: DomainError | None = None) -> LedgerTransactionRecord:
    """Post ``tx`` and the caller's extra ops in one DynamoDB transaction; the record written.

    Raises ``AlreadyPosted`` if the id was used, ``InsufficientBalance`` on overdraft, or the
    domain error attached to a failing extra op.
    """
    moment = at or utcnow()
    commit([*post_ops(tx, at=moment, expected_versions=expected_versions,
                      stale_error=stale_error), *also],
           operation_id=f"{tx.agency_id}/{tx.transaction_id}")
    return _record_of(tx, moment)


# ------------------------------------------------------------------------------- reads


def balances_of(agency_id: str, account: str) -> dict[str, BalanceView]:
    """All asset balances of one account: one Query (strongly consistent)."""
    result: dict[str, BalanceView] = {}
    for row in LedgerBalance.query(
        keys.account_pk(agency_id, account),
        LedgerBalance.SK.startswith(keys.BALANCE_PREFIX),
        consistent_read=True,
    ):
        asset = row.SK.removeprefix(keys.BALANCE_PREFIX)
        result[asset] = BalanceView(account, asset, row.balance or 0, row.version or 0)
    return result


def balances(agency_id: str, accounts: Sequence[str], assets: Sequence[str]
             ) -> dict[str, dict[str, BalanceView]]:
    """Balances of several accounts at once: BatchGetItem (100 keys a call), never N Queries.

    A row that was never written reads as zero.
    """
    wanted = {(keys.account_pk(agency_id, account), keys.balance_sk(asset)): (account, asset)
              for account in accounts for asset in assets}
    result = {account: {asset: BalanceView(account, asset, 0, 0) for asset in assets}
              for account in accounts}
    if wanted:
        for row in LedgerBalance.batch_get(list(wanted), consistent_read=True):
            account, asset = wanted[(row.PK, row.SK)]
            result[account][asset] = BalanceView(account, asset, row.balance or 0,
                                                 row.version or 0)
    return result


def balance(agency_id: str, account: str, asset: str) -> BalanceView:
    """One balance row (zero when never touched): one GetItem."""
    try:
        row = LedgerBalance.get(keys.account_pk(agency_id, account), keys.balance_sk(asset),
                                consistent_read=True)
    except LedgerBalance.DoesNotExist:
        return BalanceView(account, asset, 0, 0)
    return BalanceView(account, asset, row.balance or 0, row.version or 0)


def newest_entries(agency_id: str, account: str, *, start: date | None, end: date | None,
                   limit: int, cursor: str | None) -> tuple[list[LedgerEntry], str | None]:
    """One page of an account's entries dated from ``start`` to ``end`` (inclusive, UTC
    dates; open ends when None), newest first, and the cursor of the next page."""
    pk = keys.account_pk(agency_id, account)
    low = keys.ENTRY_PREFIX + (start.isoformat() if start else "")
    high = keys.ENTRY_PREFIX + (end.isoformat() + "T~" if end else "~")
    query = LedgerEntry.query(pk, LedgerEntry.SK.between(low, high), scan_index_forward=False,
                              limit=limit, last_evaluated_key=decode_cursor(cursor, pk))
    entries = list(query)
    return entries, encode_cursor(query.last_evaluated_key)


def transaction(agency_id: str, transaction_id: str) -> LedgerTransactionRecord | None:
    """A posted transaction record, or None."""
    try:
        return LedgerTransactionRecord.get(keys.transaction_pk(agency_id, transaction_id), "TX",
                                           consistent_read=True)
    except LedgerTransactionRecord.DoesNotExist:
        return None


# ----------------------------------------- the names other areas use until they move (issue 19)


def ledger_ops(tx: LedgerTransaction, now: datetime | None = None,
               expected_versions: dict[tuple[str, str], int] | None = None,
               stale_error: DomainError | None = None) -> list[Op]:
    """Alias of ``post_ops`` (positional ``now``)."""
    return post_ops(tx, at=now, expected_versions=expected_versions, stale_error=stale_error)


def post_transaction(tx: LedgerTransaction, also: Sequence[Op] = (),
                     now: datetime | None = None,
                     expected_versions: dict[tuple[str, str], int] | None = None,
                     stale_error: DomainError | None = None) -> None:
    """Alias of ``post`` (positional ``now``, no answer)."""
    post(tx, also, at=now, expected_versions=expected_versions, stale_error=stale_error)


read_balance = balance
read_balances = balances_of
read_many_balances = balances
get_transaction = transaction

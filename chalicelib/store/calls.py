"""The call records repository: one ingested call per call id, platform-wide, and what
recording a batch of calls reads first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pynamodb.attributes import UnicodeAttribute

from chalicelib.domain.errors import DomainError
from chalicelib.store import keys
from chalicelib.store.accounts import Subaccount
from chalicelib.store.base import IntegerAttribute, TableItem, UTCDateTimeText, read_items
from chalicelib.store.holds import CallHold
from chalicelib.store.ledger import BalanceView, LedgerBalance
from chalicelib.store.transact import Op, check, save


class CallRecord(TableItem, discriminator="CallRecord"):
    """PK: ``CALL#<call id>`` / SK: ``CALL``. One ingested call; its existence dedupes.

    Keyed by the call id alone: a call id is unique platform-wide (SPEC), so a second
    record under it, from any sub-account of any agency, fails the same condition.
    """

    agency_id = UnicodeAttribute()
    call_id = UnicodeAttribute()
    subaccount_id = UnicodeAttribute()
    tier = UnicodeAttribute()
    direction = UnicodeAttribute()
    status = UnicodeAttribute()
    duration_seconds = IntegerAttribute()
    debited_seconds = IntegerAttribute()
    shortfall_seconds = IntegerAttribute()
    spent_micros = IntegerAttribute()
    started_at = UTCDateTimeText()
    recorded_at = UTCDateTimeText()


def new(*, agency_id: str, call_id: str, subaccount_id: str, tier: str, direction: str,
        status: str, duration_seconds: int, debited_seconds: int, shortfall_seconds: int,
        spent_micros: int, started_at: datetime, recorded_at: datetime) -> CallRecord:
    """An unsaved call record (written by ``record`` with the call's debit)."""
    return CallRecord(
        keys.call_pk(call_id), "CALL",
        agency_id=agency_id, call_id=call_id, subaccount_id=subaccount_id, tier=tier,
        direction=direction, status=status, duration_seconds=duration_seconds,
        debited_seconds=debited_seconds, shortfall_seconds=shortfall_seconds,
        spent_micros=spent_micros, started_at=started_at, recorded_at=recorded_at,
    )


def record(call: CallRecord, error: DomainError) -> Op:
    """Write a call record; ``error`` when its call id was recorded before."""
    return save(call, condition=CallRecord.PK.does_not_exist(), error=error)


def absent(call_id: str, error: DomainError) -> Op:
    """Require that no call was recorded under ``call_id``; else ``error``."""
    return check(CallRecord(keys.call_pk(call_id), "CALL"), CallRecord.PK.does_not_exist(),
                 error)


def get_many(call_ids: Iterable[str]) -> dict[str, CallRecord]:
    """The call records of these call ids (strongly consistent; absent ones left out):
    GetItem for one, else BatchGetItem."""
    wanted = list(dict.fromkeys(call_ids))
    if len(wanted) == 1:
        try:
            found = CallRecord.get(keys.call_pk(wanted[0]), "CALL", consistent_read=True)
        except CallRecord.DoesNotExist:
            return {}
        return {found.call_id: found}
    items = read_items([(keys.call_pk(call_id), "CALL") for call_id in wanted]) if wanted else {}
    return {item.call_id: item for item in items.values() if isinstance(item, CallRecord)}


@dataclass(frozen=True)
class UsageReads:
    """What recording a batch of calls starts from, read at once."""

    #: (sub-account id, asset) → its wallet balance row (zero when never written).
    balances: dict[tuple[str, str], BalanceView]
    #: call id → the hold placed under it (of any call, in any state).
    holds: dict[str, CallHold]
    #: The other items asked for, by key (absent ones left out).
    extra: dict[tuple[str, str], TableItem]


def read_for_usage(wallets: Sequence[tuple[Subaccount, str, str]], call_ids: Iterable[str],
                   extra: Iterable[tuple[str, str]] = ()) -> UsageReads:
    """The wallet balance rows ``(sub-account, its wallet account, asset)``, the holds under
    ``call_ids`` and the ``extra`` items (say, what the auto-recharge hook needs): strongly
    consistent, in BatchGetItem calls of up to 100 keys each, never one read per call."""
    rows = {(keys.account_pk(sub.agency_id, account), keys.balance_sk(asset)):
            (sub.subaccount_id, asset) for sub, account, asset in wallets}
    hold_keys = {(keys.call_hold_pk(call_id), "HOLD"): call_id for call_id in call_ids}
    wanted = list(dict.fromkeys([*rows, *hold_keys, *extra]))
    items = read_items(wanted) if wanted else {}
    balances = {(sub.subaccount_id, asset): BalanceView(account, asset, 0, 0)
                for sub, account, asset in wallets}
    holds: dict[str, CallHold] = {}
    others: dict[tuple[str, str], TableItem] = {}
    for key, item in items.items():
        if key in rows and isinstance(item, LedgerBalance):
            sid, asset = rows[key]
            balances[(sid, asset)] = BalanceView(balances[(sid, asset)].account, asset,
                                                 item.balance or 0, item.version or 0)
        elif key in hold_keys and isinstance(item, CallHold):
            holds[hold_keys[key]] = item
        else:
            others[key] = item
    return UsageReads(balances, holds, others)

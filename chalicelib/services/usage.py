"""Usage ingestion (the platform reports finished calls) and call authorization.

Each call is applied once per ``call_id``: its record's ``attribute_not_exists`` condition
and the ledger transaction id ``usage:<call id>`` both make a replay a no-op. A call that
would overdraw debits what is left and records the shortfall; balances never go negative.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.errors import (
    Conflict,
    DomainError,
    NotFound,
    TemporarilyUnavailable,
    ValidationFailed,
)
from chalicelib.domain.ledger import (
    Code,
    LedgerTransaction,
    Posting,
    held,
    transfer,
    usage_sink,
    wallet,
)
from chalicelib.domain.money import minutes_cost
from chalicelib.domain.plans import TIERS, asset_of_tier
from chalicelib.domain.reporting import CALL_STATUSES
from chalicelib.services.wallets import resolve_subaccount
from chalicelib.store import keys
from chalicelib.store.accounts import Subaccount
from chalicelib.store.base import TableItem, utcnow
from chalicelib.store.ledger import (
    AlreadyPosted,
    InsufficientBalance,
    LedgerBalance,
    post_transaction,
    read_balance,
)
from chalicelib.store.movements import CallHold, CallRecord
from chalicelib.store.stats import stats_op
from chalicelib.store.transact import commit, save, update

MAX_RECORDS = 100
MAX_CALL_SECONDS = 24 * 3600
DEBIT_ATTEMPTS = 4
HOLD_GRACE = timedelta(minutes=30)


class DuplicateCall(Conflict):
    """The call id was already ingested."""

    code = "duplicate_call"


@dataclass(frozen=True)
class UsageRecord:
    """One validated call report."""

    call_id: str
    subaccount_id: str
    tier: str
    duration_seconds: int
    direction: str
    status: str
    started_at: datetime


def parse_usage_record(raw: Any) -> UsageRecord:
    """Validate one record; every problem is a ValidationFailed naming the field."""
    if not isinstance(raw, dict):
        raise ValidationFailed("a usage record must be an object")
    call_id, sid = raw.get("call_id"), raw.get("subaccount_id")
    if not isinstance(call_id, str) or not 1 <= len(call_id) <= 128:
        raise ValidationFailed("call_id must be a string of 1 to 128 characters",
                               details={"field": "call_id"})
    if not isinstance(sid, str) or not 1 <= len(sid) <= 64:
        raise ValidationFailed("subaccount_id is required", details={"field": "subaccount_id"})
    tier = raw.get("tier")
    if tier not in TIERS:
        raise ValidationFailed("tier must be basic or premium", details={"field": "tier"})
    duration = raw.get("duration_seconds")
    if isinstance(duration, bool) or not isinstance(duration, int) or not (
            0 <= duration <= MAX_CALL_SECONDS):
        raise ValidationFailed(f"duration_seconds must be an integer from 0 to {MAX_CALL_SECONDS}",
                               details={"field": "duration_seconds"})
    direction = raw.get("direction", "outbound")
    if direction not in ("inbound", "outbound"):
        raise ValidationFailed("direction must be inbound or outbound",
                               details={"field": "direction"})
    status = raw.get("status", "completed")
    if not isinstance(status, str) or not 1 <= len(status) <= 32:
        raise ValidationFailed("status must be a short string", details={"field": "status"})
    started_raw = raw.get("started_at")
    try:
        started = datetime.fromisoformat(str(started_raw).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed("started_at must be an ISO 8601 time",
                               details={"field": "started_at"}) from None
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return UsageRecord(call_id, sid, tier, duration, direction, status, started.astimezone(UTC))


def _counter_status(status: str) -> str:
    normalized = status.lower().replace("-", "_").replace(" ", "_")
    return normalized if normalized in CALL_STATUSES else "other"


def _read_call_context(agency_id: str, sid: str, asset: str, tier: str, call_id: str
                       ) -> tuple[int, CallHold | None, Any]:
    """One BatchGetItem: the wallet balance of the asset, the call's pending hold, and what
    the auto-recharge / low-balance hook needs (so the hook reads nothing itself)."""
    from chalicelib.services import auto_recharge

    balance_key = (keys.account_pk(agency_id, wallet(sid)), keys.balance_sk(asset))
    hold_key = (keys.call_hold_pk(agency_id, call_id), "HOLD")
    wanted = [balance_key, hold_key, *auto_recharge.settings_keys(agency_id, sid, tier)]
    items = list(TableItem.batch_get(wanted, consistent_read=True))
    balance, hold = 0, None
    for item in items:
        if isinstance(item, LedgerBalance):
            balance = item.balance or 0
        elif isinstance(item, CallHold) and item.status == "held" and item.subaccount_id == sid:
            hold = item
    return balance, hold, auto_recharge.settings_from(items)


def record_call(record: UsageRecord, sub: Subaccount, now: datetime | None = None
                ) -> dict[str, Any]:
    """Debit one call (up to the balance plus its hold) and record it, in one transaction.

    A pending hold of the same call (same sub-account and tier) is settled in the same
    transaction: the held seconds come back and the real duration is debited.
    """
    at = now or utcnow()
    agency_id, sid = sub.agency_id, sub.subaccount_id
    asset = asset_of_tier(record.tier)
    for _attempt in range(DEBIT_ATTEMPTS):
        balance, hold, settings = _read_call_context(agency_id, sid, asset, record.tier,
                                                     record.call_id)
        if hold is not None and hold.tier != record.tier:
            hold = None  # a hold on the other tier is left to expire
        held_seconds = hold.seconds if hold else 0
        debited = min(balance + held_seconds, record.duration_seconds)
        shortfall = record.duration_seconds - debited
        spent = minutes_cost(debited, sub.price(record.tier))
        call = CallRecord(
            keys.call_pk(agency_id, record.call_id), "CALL",
            agency_id=agency_id, call_id=record.call_id, subaccount_id=sid, tier=record.tier,
            direction=record.direction, status=record.status,
            duration_seconds=record.duration_seconds, debited_seconds=debited,
            shortfall_seconds=shortfall, spent_micros=spent, started_at=record.started_at,
            recorded_at=at,
        )
        counter_status = _counter_status(record.status)
        agency = settings[0]  # read in the same BatchGetItem as the balance
        also = [
            save(call, condition=CallRecord.PK.does_not_exist(),
                 error=DuplicateCall("call already recorded")),
            stats_op(agency_id, sid, record.started_at, agency.timezone if agency else None, **{
                f"used_{record.tier}_seconds": debited,
                "shortfall_seconds": shortfall,
                "calls_total": 1,
                f"calls_{counter_status}": 1,
                f"calls_{record.direction}": 1,
                "spent_micros": spent,
            }),
        ]
        postings = list(transfer(wallet(sid), usage_sink(sid), asset, debited)) if debited else []
        if hold is not None:
            postings += [Posting(held(sid), asset, -held_seconds),
                         Posting(wallet(sid), asset, held_seconds)]
            also.append(_close_hold_op(hold, "settled"))
        try:
            if postings:
                post_transaction(
                    LedgerTransaction(
                        agency_id=agency_id, transaction_id=f"usage:{record.call_id}",
                        code=Code.USAGE, postings=tuple(postings), subaccount_id=sid,
                        memo=f"call {record.call_id}",
                        metadata={"call_id": record.call_id, "shortfall_seconds": shortfall,
                                  "hold_seconds": held_seconds},
                    ),
                    also=also, now=at,
                )
            else:
                commit(also)
        except (InsufficientBalance, HoldChanged):
            continue  # a concurrent debit or hold release won: read again
        except AlreadyPosted:
            raise DuplicateCall("call already recorded") from None
        _after_debit(agency_id, sid, record.tier, balance + held_seconds,
                     balance + held_seconds - debited, settings)
        return {"call_id": record.call_id, "status": "recorded", "debited_seconds": debited,
                "shortfall_seconds": shortfall}
    raise Conflict("the balance kept changing; retry this call", code="concurrent_update")


class HoldChanged(Conflict):
    """The hold was settled or released by someone else meanwhile."""

    code = "hold_changed"


def _close_hold_op(hold: CallHold, status: str) -> Any:
    return update(
        hold,
        actions=[CallHold.status.set(status), CallHold.DUEPK.remove(), CallHold.DUESK.remove()],
        condition=(CallHold.status == "held"),
        error=HoldChanged("the hold changed"),
    )


def _after_debit(agency_id: str, sid: str, tier: str, before: int, after: int,
                 settings: Any) -> None:
    """Hook for auto-recharge and low-balance alerts (best effort: the debit stands)."""
    if before == after:
        return
    from chalicelib.services.auto_recharge import after_usage_debit

    # A failed top-up is recorded and notified by auto-recharge itself; the debit stands.
    with contextlib.suppress(DomainError):
        after_usage_debit(agency_id, sid, tier, before, after, settings)


def ingest_usage(records: Any, now: datetime | None = None) -> dict[str, Any]:
    """Apply up to 100 call records; one result per record, in order."""
    if not isinstance(records, list) or not records:
        raise ValidationFailed("records must be a non-empty list", details={"field": "records"})
    if len(records) > MAX_RECORDS:
        raise ValidationFailed(f"at most {MAX_RECORDS} records per request",
                               details={"field": "records"})
    subs: dict[str, Subaccount | DomainError] = {}
    results = []
    for raw in records:
        call_id = raw.get("call_id") if isinstance(raw, dict) else None
        try:
            record = parse_usage_record(raw)
            if record.subaccount_id not in subs:
                try:
                    subs[record.subaccount_id] = resolve_subaccount(record.subaccount_id)
                except NotFound as exc:
                    subs[record.subaccount_id] = exc
            sub = subs[record.subaccount_id]
            if isinstance(sub, DomainError):
                raise sub
            results.append(record_call(record, sub, now))
        except DuplicateCall:
            results.append({"call_id": call_id, "status": "duplicate"})
        except TemporarilyUnavailable:
            raise  # the whole batch is a 503: the caller resends it, recorded calls are duplicates
        except DomainError as exc:
            results.append({"call_id": call_id, "status": "rejected",
                            "error": {"code": exc.code, "message": exc.message,
                                      "details": exc.details}})
    summary = {status: sum(1 for r in results if r["status"] == status)
               for status in ("recorded", "duplicate", "rejected")}
    return {"results": results, **summary}


def authorize_call(subaccount_id: str, tier: str, call_id: str | None = None,
                   hold_seconds: int | None = None, now: datetime | None = None
                   ) -> dict[str, Any]:
    """May this sub-account start a call on this tier right now?

    With ``call_id`` and ``hold_seconds`` the answer also reserves up to that many seconds
    (never more than available) as a pending hold: other calls cannot spend them, the call's
    usage record settles the hold, and a hold never settled is released after it expires.
    """
    if tier not in TIERS:
        raise ValidationFailed("tier must be basic or premium", details={"field": "tier"})
    if (call_id is None) != (hold_seconds is None):
        raise ValidationFailed("call_id and hold_seconds go together",
                               details={"field": "hold_seconds"})
    sub = resolve_subaccount(subaccount_id)
    asset = asset_of_tier(tier)
    at = now or utcnow()
    for _attempt in range(DEBIT_ATTEMPTS):
        available = read_balance(sub.agency_id, wallet(sub.subaccount_id), asset).balance
        if sub.status == "suspended":
            return {"allowed": False, "reason": "subaccount_suspended",
                    "available_seconds": available}
        if available <= 0:
            return {"allowed": False, "reason": "insufficient_balance", "available_seconds": 0}
        if call_id is None or not hold_seconds:
            return {"allowed": True, "reason": "ok", "available_seconds": available}
        reserve = min(hold_seconds, available)
        try:
            hold = place_hold(sub, tier, call_id, reserve, at)
        except InsufficientBalance:
            continue
        return {"allowed": True, "reason": "ok", "available_seconds": available - hold.seconds,
                "hold": {"call_id": call_id, "seconds": hold.seconds,
                         "expires_at": hold.hold_until.strftime("%Y-%m-%dT%H:%M:%SZ")}}
    raise Conflict("the balance kept changing; retry", code="concurrent_update")


def place_hold(sub: Subaccount, tier: str, call_id: str, seconds: int, at: datetime
               ) -> CallHold:
    """Move ``seconds`` from the wallet to the held account, with the hold item (one write)."""
    sid, asset = sub.subaccount_id, asset_of_tier(tier)
    hold_until = at + timedelta(seconds=seconds) + HOLD_GRACE
    hold = CallHold(
        keys.call_hold_pk(sub.agency_id, call_id), "HOLD", agency_id=sub.agency_id,
        call_id=call_id, subaccount_id=sid, tier=tier, seconds=seconds, created_at=at,
        hold_until=hold_until, DUEPK=keys.due_pk("call-holds"),
        DUESK=keys.due_sk(hold_until.strftime("%Y-%m-%dT%H:%M:%SZ"), f"{sub.agency_id}:{call_id}"),
        expires_at=int((hold_until + timedelta(days=30)).timestamp()),
    )
    try:
        post_transaction(
            LedgerTransaction(agency_id=sub.agency_id, transaction_id=f"hold:{call_id}",
                              code=Code.HOLD, postings=transfer(wallet(sid), held(sid), asset,
                                                                seconds),
                              subaccount_id=sid, memo=f"hold for call {call_id}"),
            also=[save(hold, condition=CallHold.PK.does_not_exist())], now=at,
        )
    except AlreadyPosted:
        existing = CallHold.get(keys.call_hold_pk(sub.agency_id, call_id), "HOLD")
        return existing
    return hold


def release_expired_holds(as_of: datetime) -> dict[str, int]:
    """Give back the seconds of holds whose call never reported (GSI2, due ones only)."""
    released = failed = 0
    for hold in CallHold.due_index.query(
        keys.due_pk("call-holds"),
        keys.due_sk(as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "~") >= CallHold.DUESK,
    ):
        if not isinstance(hold, CallHold) or hold.status != "held":
            continue
        sid, asset = hold.subaccount_id, asset_of_tier(hold.tier)
        try:
            post_transaction(
                LedgerTransaction(agency_id=hold.agency_id,
                                  transaction_id=f"hold-release:{hold.call_id}",
                                  code=Code.HOLD_RELEASE,
                                  postings=transfer(held(sid), wallet(sid), asset, hold.seconds),
                                  subaccount_id=sid, memo=f"hold of call {hold.call_id} expired"),
                also=[_close_hold_op(hold, "released")], now=as_of,
            )
            released += 1
        except (HoldChanged, AlreadyPosted):
            continue  # settled by its usage record meanwhile
        except DomainError:
            failed += 1
    return {"released": released, "failed": failed}

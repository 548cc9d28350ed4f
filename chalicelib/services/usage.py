"""Usage ingestion (the platform reports finished calls) and call authorization.

Each call is applied once per ``call_id``, platform-wide: its record (keyed by the call id
alone) is written under ``attribute_not_exists`` in the debit's own transaction, so a replay
is a no-op; an identical replay answers ``duplicate``, any other record under a recorded call
id (another sub-account, of any agency, or other figures) is rejected with
``call_id_conflict``. Holds are keyed by the call id alike. A call that
would overdraw debits what is left and records the shortfall; balances never go negative.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.errors import (
    Conflict,
    DomainError,
    Gone,
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
from chalicelib.observability import count
from chalicelib.services.wallets import resolve_subaccount
from chalicelib.store import keys
from chalicelib.store.accounts import Subaccount
from chalicelib.store.base import TableItem, due_items_of, utcnow
from chalicelib.store.ledger import (
    AlreadyPosted,
    InsufficientBalance,
    LedgerBalance,
    balance_key,
    post_transaction,
    read_balance,
)
from chalicelib.store.movements import (
    CallHold,
    CallRecord,
    get_call_hold,
    get_call_record,
    subaccount_named_by_usage,
)
from chalicelib.store.stats import stats_op
from chalicelib.store.transact import check, commit, save, update

log = logging.getLogger(__name__)

MAX_RECORDS = 100
MAX_CALL_SECONDS = 24 * 3600
DEBIT_ATTEMPTS = 6
HOLD_GRACE = timedelta(minutes=30)
LIVE_STATUSES = ("active", "suspended")


class DuplicateCall(Conflict):
    """The call id was already ingested."""

    code = "duplicate_call"


class CallIdConflict(Conflict):
    """The call id is already taken by another call (another sub-account, of any agency, or
    other figures): nothing is debited under it."""

    code = "call_id_conflict"


class SubaccountRemoved(Gone):
    """The sub-account was removed: its minutes went to the destination, nothing more is
    debited, held or recorded on it."""

    code = "subaccount_removed"


class _SubaccountNotActive(Conflict):
    """Internal: the sub-account stopped being active between its read and the hold."""

    code = "subaccount_changed"


def _live_guard(sub: Subaccount) -> Any:
    """The usage write requires the sub-account not removed meanwhile (a removal flips the
    status in its own transaction, after moving every second out)."""
    return check(Subaccount(keys.agency_pk(sub.agency_id), keys.subaccount_sk(sub.subaccount_id)),
                 Subaccount.status.is_in(*LIVE_STATUSES),
                 SubaccountRemoved("this sub-account was removed"))


class _CallIdTaken(Conflict):
    """Internal: the call record or hold of this call id exists; read it to tell a replay
    from a conflict."""

    code = "call_id_taken"


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


class _BalanceMoved(Conflict):
    """Internal: the wallet changed since it was read, and this debit needs to know exactly
    which balance it leaves (a threshold crossing): read again."""

    code = "balance_moved"


def _read_call_context(agency_id: str, sid: str, asset: str, tier: str, call_id: str
                       ) -> tuple[int, int, CallHold | None, Any]:
    """One BatchGetItem: the wallet balance of the asset, the hold under the call id (of any
    call, in any state), and what the auto-recharge / low-balance hook needs (so the hook
    reads nothing itself)."""
    from chalicelib.services import auto_recharge

    balance_key = (keys.account_pk(agency_id, wallet(sid)), keys.balance_sk(asset))
    hold_key = (keys.call_hold_pk(call_id), "HOLD")
    wanted = [balance_key, hold_key, *auto_recharge.settings_keys(agency_id, sid, tier)]
    items = list(TableItem.batch_get(wanted, consistent_read=True))
    balance, version, hold = 0, 0, None
    for item in items:
        if isinstance(item, LedgerBalance):
            balance, version = item.balance or 0, item.version or 0
        elif isinstance(item, CallHold):
            hold = item
    return balance, version, hold, auto_recharge.settings_from(items)


def record_call(record: UsageRecord, sub: Subaccount, now: datetime | None = None
                ) -> dict[str, Any]:
    """Debit one call (up to the balance plus its hold) and record it, in one transaction.

    A pending hold of the same call (same sub-account and tier) is settled in the same
    transaction: the held seconds come back and the real duration is debited.

    When an auto-recharge rule or a low-balance alert watches the balance, the debit also
    requires the wallet version it read, so the balance it leaves is exact: of concurrent
    debits exactly one crosses a threshold, and that one marks the rule due in the same
    transaction (the sweep recharges it if the hook after the commit cannot).
    """
    from chalicelib.services import auto_recharge

    at = now or utcnow()
    agency_id, sid = sub.agency_id, sub.subaccount_id
    asset = asset_of_tier(record.tier)
    for attempt in range(DEBIT_ATTEMPTS):
        if attempt:  # another debit of this wallet won the race: let it finish first
            time.sleep(random.uniform(0, 0.005 * 2 ** attempt))
        balance, version, hold, settings = _read_call_context(agency_id, sid, asset,
                                                              record.tier, record.call_id)
        guards = []
        if hold is None:
            # a hold placed under this call id by another call meanwhile wins
            guards.append(check(CallHold(keys.call_hold_pk(record.call_id), "HOLD"),
                                CallHold.PK.does_not_exist() | (CallHold.subaccount_id == sid),
                                CallIdConflict("this call id is held by another call")))
        elif hold.agency_id != agency_id or hold.subaccount_id != sid:
            raise CallIdConflict("this call id is held by another call")
        if hold is not None and (hold.status != "held" or hold.tier != record.tier):
            hold = None  # settled or released already; a hold on the other tier expires
        held_seconds = hold.seconds if hold else 0
        debited = min(balance + held_seconds, record.duration_seconds)
        shortfall = record.duration_seconds - debited
        spent = minutes_cost(debited, sub.price(record.tier))
        call = CallRecord(
            keys.call_pk(record.call_id), "CALL",
            agency_id=agency_id, call_id=record.call_id, subaccount_id=sid, tier=record.tier,
            direction=record.direction, status=record.status,
            duration_seconds=record.duration_seconds, debited_seconds=debited,
            shortfall_seconds=shortfall, spent_micros=spent, started_at=record.started_at,
            recorded_at=at,
        )
        counter_status = _counter_status(record.status)
        agency = settings[0]  # read in the same BatchGetItem as the balance
        also = [
            _live_guard(sub),
            *guards,
            save(call, condition=CallRecord.PK.does_not_exist(),
                 error=_CallIdTaken("call id already recorded")),
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
            also.append(close_hold_op(hold, "settled"))
        before, after = balance + held_seconds, balance + held_seconds - debited
        expected: dict[tuple[str, str], int] = {}
        if before != after and auto_recharge.watches(settings):
            if held_seconds != debited:  # the wallet row is written: guard its update
                expected[(wallet(sid), str(asset))] = version
            else:  # settled exactly its hold: the row is untouched, check it instead
                also.append(_unchanged_check(agency_id, wallet(sid), asset, version))
            also += auto_recharge.crossing_ops(settings, before, after, at)
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
                    also=also, now=at, expected_versions=expected,
                    stale_error=_BalanceMoved("the balance changed meanwhile"),
                )
            else:
                commit(also)
        except (InsufficientBalance, HoldChanged, _BalanceMoved, auto_recharge.RuleChanged):
            continue  # a concurrent debit, hold release or rule change won: read again
        except (AlreadyPosted, _CallIdTaken):
            raise _replay_or_conflict(record) from None
        _after_debit(agency_id, sid, record.tier, before, after, settings)
        return {"call_id": record.call_id, "status": "recorded", "debited_seconds": debited,
                "shortfall_seconds": shortfall}
    raise Conflict("the balance kept changing; retry this call", code="concurrent_update")


def _unchanged_check(agency_id: str, account: str, asset: str, version: int) -> Any:
    condition = (LedgerBalance.version == version) if version else (
        LedgerBalance.version.does_not_exist() | (LedgerBalance.version == 0))
    return check(balance_key(agency_id, account, asset), condition,
                 _BalanceMoved("the balance changed meanwhile"))


def _replay_or_conflict(record: UsageRecord) -> Conflict:
    """What a record whose call id is taken is: an identical replay, or a conflict."""
    existing = get_call_record(record.call_id)
    if existing is None:
        return DuplicateCall("call already recorded")  # the same agency's ledger id: a replay
    same = (existing.subaccount_id == record.subaccount_id and existing.tier == record.tier
            and existing.duration_seconds == record.duration_seconds
            and existing.status == record.status and existing.direction == record.direction
            and existing.started_at == record.started_at)
    if same:
        return DuplicateCall("call already recorded")
    return CallIdConflict("this call id was already recorded for another call")


class HoldChanged(Conflict):
    """The hold was settled or released by someone else meanwhile."""

    code = "hold_changed"


def close_hold_op(hold: CallHold, status: str) -> Any:
    """Settle or release a hold, only if still held; it leaves both indexes."""
    return update(
        hold,
        actions=[CallHold.status.set(status), CallHold.DUEPK.remove(), CallHold.DUESK.remove(),
                 CallHold.GSI1PK.remove(), CallHold.GSI1SK.remove()],
        condition=(CallHold.status == "held"),
        error=HoldChanged("the hold changed"),
    )


def _after_debit(agency_id: str, sid: str, tier: str, before: int, after: int,
                 settings: Any) -> None:
    """Hook for auto-recharge and low-balance alerts. The debit stands whatever happens:
    a failed top-up is recorded on the rule and notified, and a top-up that could not even
    start stays due for the ``auto-recharge`` sweep (the debit marked it)."""
    if before == after:
        return
    from chalicelib.services.auto_recharge import after_usage_debit

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
                subs[record.subaccount_id] = _usage_subaccount(record.subaccount_id)
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
    for status, name in (("recorded", "UsageRecordsRecorded"),
                         ("duplicate", "UsageRecordsDuplicate"),
                         ("rejected", "UsageRecordsRejected")):
        if summary[status]:
            count(name, summary[status])
    return {"results": results, **summary}


def _usage_subaccount(subaccount_id: str) -> Subaccount | DomainError:
    """The sub-account a record names, or why its records are rejected."""
    sub = subaccount_named_by_usage(subaccount_id) if len(subaccount_id) <= 64 else None
    if sub is None:
        return NotFound("subaccount not found")
    if sub.status not in LIVE_STATUSES:
        return SubaccountRemoved("this sub-account was removed")
    return sub


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
            hold = place_hold(sub, tier, call_id, reserve, at, requested_seconds=hold_seconds)
        except InsufficientBalance:
            continue
        except _SubaccountNotActive:
            sub = resolve_subaccount(subaccount_id)  # removed: 404; suspended: refused above
            continue
        return {"allowed": True, "reason": "ok", "available_seconds": available - hold.seconds,
                "hold": {"call_id": call_id, "seconds": hold.seconds,
                         "expires_at": hold.hold_until.strftime("%Y-%m-%dT%H:%M:%SZ")}}
    raise Conflict("the balance kept changing; retry", code="concurrent_update")


def place_hold(sub: Subaccount, tier: str, call_id: str, seconds: int, at: datetime, *,
               requested_seconds: int) -> CallHold:
    """Move ``seconds`` from the wallet to the held account, with the hold item (one write).

    The hold lasts as long as the call asked for (``requested_seconds``) plus the grace,
    even when fewer seconds were there to reserve: the call runs that long either way.
    """
    sid, asset = sub.subaccount_id, asset_of_tier(tier)
    hold_until = at + timedelta(seconds=requested_seconds) + HOLD_GRACE
    hold = CallHold(
        keys.call_hold_pk(call_id), "HOLD", agency_id=sub.agency_id,
        call_id=call_id, subaccount_id=sid, tier=tier, seconds=seconds, created_at=at,
        hold_until=hold_until, DUEPK=keys.due_pk("call-holds", sub.agency_id),
        GSI1PK=keys.open_holds_pk(sub.agency_id, sid), GSI1SK=call_id,
        DUESK=keys.due_sk(hold_until.strftime("%Y-%m-%dT%H:%M:%SZ"), f"{sub.agency_id}:{call_id}"),
        expires_at=int((hold_until + timedelta(days=30)).timestamp()),
    )
    try:
        post_transaction(
            LedgerTransaction(agency_id=sub.agency_id, transaction_id=f"hold:{call_id}",
                              code=Code.HOLD, postings=transfer(wallet(sid), held(sid), asset,
                                                                seconds),
                              subaccount_id=sid, memo=f"hold for call {call_id}"),
            also=[
                # only an active sub-account's calls are authorized; a removal flips the
                # status in its own transaction, so no hold can land after it
                check(Subaccount(keys.agency_pk(sub.agency_id), keys.subaccount_sk(sid)),
                      Subaccount.status == "active",
                      _SubaccountNotActive("the sub-account is no longer active")),
                # a call already recorded has nothing left to hold for
                check(CallRecord(keys.call_pk(call_id), "CALL"), CallRecord.PK.does_not_exist(),
                      CallIdConflict("this call id was already recorded")),
                save(hold, condition=CallHold.PK.does_not_exist(),
                     error=_CallIdTaken("call id already held")),
            ],
            now=at,
        )
    except (AlreadyPosted, _CallIdTaken):
        existing = get_call_hold(call_id)
        if (existing is not None and existing.agency_id == sub.agency_id
                and existing.subaccount_id == sid and existing.tier == tier):
            return existing  # a replay of the same authorization
        raise CallIdConflict("this call id is held by another call") from None
    return hold


def release_hold(hold: CallHold, at: datetime, memo: str) -> None:
    """Give a hold's seconds back to its wallet in one transaction, only while the hold is
    still held and its sub-account not removed (never into a removed wallet: removal moves
    held seconds to its destination itself). Raises HoldChanged, AlreadyPosted or
    SubaccountRemoved when there is nothing to release."""
    sid, asset = hold.subaccount_id, asset_of_tier(hold.tier)
    live = check(Subaccount(keys.agency_pk(hold.agency_id), keys.subaccount_sk(sid)),
                 Subaccount.status.is_in(*LIVE_STATUSES),
                 SubaccountRemoved("this sub-account was removed"))
    post_transaction(
        LedgerTransaction(agency_id=hold.agency_id,
                          transaction_id=f"hold-release:{hold.call_id}",
                          code=Code.HOLD_RELEASE,
                          postings=transfer(held(sid), wallet(sid), asset, hold.seconds),
                          subaccount_id=sid, memo=memo),
        also=[live, close_hold_op(hold, "released")], now=at,
    )


def release_expired_holds(as_of: datetime) -> dict[str, int]:
    """Give back the seconds of holds whose call never reported (GSI2, due ones only)."""
    released = failed = skipped = 0
    for hold in due_items_of("call-holds", CallHold, upper_sk=keys.due_sk(
            as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "~")):
        if hold.status != "held":
            continue
        try:
            release_hold(hold, as_of, f"hold of call {hold.call_id} expired")
            released += 1
        except (HoldChanged, AlreadyPosted):
            continue  # settled by its usage record meanwhile
        except SubaccountRemoved:
            skipped += 1
            log.warning("hold of a removed sub-account left held",
                        extra={"agency_id": hold.agency_id, "subaccount_id": hold.subaccount_id,
                               "call_id": hold.call_id})
        except DomainError:
            failed += 1
    return {"released": released, "failed": failed, "skipped": skipped}

"""Usage ingestion (the platform reports finished calls) and call authorization.

Each call is applied once per ``call_id``, platform-wide: its record (keyed by the call id
alone) is written under ``attribute_not_exists`` in the debit's own transaction, so a replay
is a no-op; an identical replay answers ``duplicate``, any other record under a recorded call
id (another sub-account, of any agency, or other figures) is rejected with
``call_id_conflict``. Holds are keyed by the call id alike. A call that
would overdraw debits what is left and records the shortfall; balances never go negative.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NotRequired, TypedDict

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
from chalicelib.observability import count, logger
from chalicelib.services import auto_recharge
from chalicelib.services.ports import now
from chalicelib.services.sweeps import SKIPPED, SUCCEEDED, Deadline, run_sweep
from chalicelib.services.wallets import resolve_subaccount
from chalicelib.store import calls, holds, ledger, stats, subaccount_guards
from chalicelib.store.accounts import Subaccount
from chalicelib.store.holds import CallHold, HoldChanged
from chalicelib.store.ledger import AlreadyPosted, InsufficientBalance
from chalicelib.store.subaccount_guards import LIVE_STATUSES
from chalicelib.store.transact import commit

__all__ = ["CallIdConflict", "DuplicateCall", "HoldChanged", "SubaccountRemoved",
           "authorize_call", "call_holds_sweep", "close_hold_op", "ingest_usage",
           "parse_usage_record", "place_hold", "record_call", "release_hold"]

MAX_CALL_SECONDS = 24 * 3600
DEBIT_ATTEMPTS = 6
HOLD_GRACE = timedelta(minutes=30)


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


class _CallIdTaken(Conflict):
    """Internal: the call record or hold of this call id exists; read it to tell a replay
    from a conflict."""

    code = "call_id_taken"


class _BalanceMoved(Conflict):
    """Internal: the wallet changed since it was read, and this debit needs to know exactly
    which balance it leaves (a threshold crossing): read again."""

    code = "balance_moved"


#: The name ``services.subaccounts`` uses until it moves to ``store.holds.close``.
close_hold_op = holds.close


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
    if not isinstance(tier, str) or tier not in TIERS:
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


# ----------------------------------------------------------------------- answers


class RecordError(TypedDict):
    """Why one record was rejected."""

    code: str
    message: str
    details: Any


class UsageResult(TypedDict):
    """What became of one record: ``recorded`` (with its figures), ``duplicate`` or
    ``rejected`` (with the error)."""

    call_id: Any  # as sent (a rejected record's may be anything)
    status: str
    debited_seconds: NotRequired[int]
    shortfall_seconds: NotRequired[int]
    error: NotRequired[RecordError]


class UsageBatch(TypedDict):
    """One result per record, in order, and how many of each."""

    results: list[UsageResult]
    recorded: int
    duplicate: int
    rejected: int


def _recorded(call_id: str, debited: int, shortfall: int) -> UsageResult:
    return UsageResult(call_id=call_id, status="recorded", debited_seconds=debited,
                       shortfall_seconds=shortfall)


def _answer(call_id: Any, outcome: UsageResult | DomainError) -> UsageResult:
    if isinstance(outcome, DuplicateCall):
        return UsageResult(call_id=call_id, status="duplicate")
    if isinstance(outcome, DomainError):
        return UsageResult(call_id=call_id, status="rejected", error=RecordError(
            code=outcome.code, message=outcome.message, details=outcome.details))
    return outcome


# ------------------------------------------------------------------ recording calls

#: What one record became: its result, or the error that rejected it (``DuplicateCall``
#: for a replay).
Outcome = UsageResult | DomainError


def _held_by_another() -> CallIdConflict:
    return CallIdConflict("this call id is held by another call")


def _replay_or_conflict(record: UsageRecord) -> Conflict:
    """What a record whose call id is taken is: an identical replay, or a conflict."""
    existing = calls.get_many([record.call_id]).get(record.call_id)
    if existing is None:
        return DuplicateCall("call already recorded")  # the same agency's ledger id: a replay
    same = (existing.subaccount_id == record.subaccount_id and existing.tier == record.tier
            and existing.duration_seconds == record.duration_seconds
            and existing.status == record.status and existing.direction == record.direction
            and existing.started_at == record.started_at)
    if same:
        return DuplicateCall("call already recorded")
    return CallIdConflict("this call id was already recorded for another call")


def record_call(record: UsageRecord, sub: Subaccount, at: datetime | None = None
                ) -> UsageResult:
    """Debit one call (up to the balance plus its hold) and record it, in one transaction.

    A pending hold of the same call (same sub-account and tier) is settled in the same
    transaction: the held seconds come back and the real duration is debited.

    When an auto-recharge rule or a low-balance alert watches the balance, the debit also
    requires the wallet version it read, so the balance it leaves is exact: of concurrent
    debits exactly one crosses a threshold, and that one marks the rule due in the same
    transaction (the sweep recharges it if the hook after the commit cannot).
    """
    moment = at or now()
    agency_id, sid = sub.agency_id, sub.subaccount_id
    asset = asset_of_tier(record.tier)
    for attempt in range(DEBIT_ATTEMPTS):
        if attempt:  # another debit of this wallet won the race: let it finish first
            time.sleep(random.uniform(0, 0.005 * 2 ** attempt))
        # one BatchGetItem: the balance, the hold under the call id (of any call, in any
        # state) and what the auto-recharge / low-balance hook needs
        reads = calls.read_for_usage([(sub, wallet(sid), asset)], [record.call_id],
                                     auto_recharge.settings_keys(agency_id, sid, record.tier))
        balance, version = reads.balances[(sid, asset)].balance, reads.balances[
            (sid, asset)].version
        hold = reads.holds.get(record.call_id)
        settings = auto_recharge.settings_from(list(reads.extra.values()))
        guards = []
        if hold is None:
            # a hold placed under this call id by another call meanwhile wins
            guards.append(holds.free_or_of(record.call_id, sid, _held_by_another()))
        elif hold.agency_id != agency_id or hold.subaccount_id != sid:
            raise _held_by_another()
        if hold is not None and (hold.status != "held" or hold.tier != record.tier):
            hold = None  # settled or released already; a hold on the other tier expires
        held_seconds = hold.seconds if hold else 0
        debited = min(balance + held_seconds, record.duration_seconds)
        shortfall = record.duration_seconds - debited
        spent = minutes_cost(debited, sub.price(record.tier))
        agency = settings[0]  # read in the same BatchGetItem as the balance
        also = [
            subaccount_guards.still_live(agency_id, sid,
                                         SubaccountRemoved("this sub-account was removed")),
            *guards,
            calls.record(calls.new(
                agency_id=agency_id, call_id=record.call_id, subaccount_id=sid,
                tier=record.tier, direction=record.direction, status=record.status,
                duration_seconds=record.duration_seconds, debited_seconds=debited,
                shortfall_seconds=shortfall, spent_micros=spent, started_at=record.started_at,
                recorded_at=moment,
            ), _CallIdTaken("call id already recorded")),
            stats.count(agency_id, sid, record.started_at, agency.timezone if agency else None,
                        **{f"used_{record.tier}_seconds": debited,
                           "shortfall_seconds": shortfall,
                           "calls_total": 1,
                           f"calls_{_counter_status(record.status)}": 1,
                           f"calls_{record.direction}": 1,
                           "spent_micros": spent}),
        ]
        postings = list(transfer(wallet(sid), usage_sink(sid), asset, debited)) if debited else []
        if hold is not None:
            postings += [Posting(held(sid), asset, -held_seconds),
                         Posting(wallet(sid), asset, held_seconds)]
            also.append(holds.close(hold, "settled"))
        before, after = balance + held_seconds, balance + held_seconds - debited
        expected: dict[tuple[str, str], int] = {}
        moved = _BalanceMoved("the balance changed meanwhile")
        if before != after and auto_recharge.watches(settings):
            if held_seconds != debited:  # the wallet row is written: guard its update
                expected[(wallet(sid), str(asset))] = version
            else:  # settled exactly its hold: the row is untouched, check it instead
                also.append(ledger.unchanged(agency_id, wallet(sid), asset, version, moved))
            also += auto_recharge.crossing_ops(settings, before, after, moment)
        try:
            if postings:
                ledger.post(
                    LedgerTransaction(
                        agency_id=agency_id, transaction_id=f"usage:{record.call_id}",
                        code=Code.USAGE, postings=tuple(postings), subaccount_id=sid,
                        memo=f"call {record.call_id}",
                        metadata={"call_id": record.call_id, "shortfall_seconds": shortfall,
                                  "hold_seconds": held_seconds},
                    ),
                    also=also, at=moment, expected_versions=expected, stale_error=moved,
                )
            else:
                commit(also)
        except (InsufficientBalance, HoldChanged, _BalanceMoved, auto_recharge.RuleChanged):
            continue  # a concurrent debit, hold release or rule change won: read again
        except (AlreadyPosted, _CallIdTaken):
            raise _replay_or_conflict(record) from None
        if before != after:
            # auto-recharge and low-balance alerts: the debit stands whatever happens (a
            # top-up that could not start stays due: the crossing debit marked its rule)
            auto_recharge.after_usage_debit(agency_id, sid, record.tier, before, after,
                                            settings)
        return _recorded(record.call_id, debited, shortfall)
    raise Conflict("the balance kept changing; retry this call", code="concurrent_update")


def _resolve(subaccount_ids: Sequence[str]) -> dict[str, Subaccount | DomainError]:
    """The sub-account each id names, or why its records are rejected."""
    found = subaccount_guards.named(subaccount_ids) if subaccount_ids else {}
    resolved: dict[str, Subaccount | DomainError] = {}
    for sid in subaccount_ids:
        sub = found.get(sid)
        if sub is None:
            resolved[sid] = NotFound("subaccount not found")
        elif sub.status not in LIVE_STATUSES:
            resolved[sid] = SubaccountRemoved("this sub-account was removed")
        else:
            resolved[sid] = sub
    return resolved


def ingest_usage(records: Sequence[Any], at: datetime | None = None) -> UsageBatch:
    """Apply up to 100 call records (the route checked the envelope); one result per
    record, in order."""
    subs: dict[str, Subaccount | DomainError] = {}
    results: list[UsageResult] = []
    for raw in records:
        call_id = raw.get("call_id") if isinstance(raw, dict) else None
        outcome: Outcome
        try:
            record = parse_usage_record(raw)
            if record.subaccount_id not in subs:
                subs |= _resolve([record.subaccount_id])
            sub = subs[record.subaccount_id]
            if isinstance(sub, DomainError):
                raise sub
            outcome = record_call(record, sub, at)
        except TemporarilyUnavailable:
            raise  # the whole batch is a 503: the caller resends it, recorded calls are duplicates
        except DomainError as exc:
            outcome = exc
        results.append(_answer(call_id, outcome))
    summary = Counter(result["status"] for result in results)
    for status, name in (("recorded", "UsageRecordsRecorded"),
                         ("duplicate", "UsageRecordsDuplicate"),
                         ("rejected", "UsageRecordsRejected")):
        if summary[status]:
            count(name, summary[status])
    return UsageBatch(results=results, recorded=summary["recorded"],
                      duplicate=summary["duplicate"], rejected=summary["rejected"])


# ---------------------------------------------------------------------- call holds


@dataclass(frozen=True)
class CallAuthorization:
    """May a call start: the answer, the seconds available, and the hold placed (if any)."""

    allowed: bool
    reason: str  # ok | subaccount_suspended | insufficient_balance
    available_seconds: int
    hold: CallHold | None = None


def authorize_call(subaccount_id: str, tier: str, call_id: str | None = None,
                   hold_seconds: int | None = None, at: datetime | None = None
                   ) -> CallAuthorization:
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
    moment = at or now()
    for _attempt in range(DEBIT_ATTEMPTS):
        available = ledger.balance(sub.agency_id, wallet(sub.subaccount_id), asset).balance
        if sub.status == "suspended":
            return CallAuthorization(False, "subaccount_suspended", available)
        if available <= 0:
            return CallAuthorization(False, "insufficient_balance", 0)
        if call_id is None or not hold_seconds:
            return CallAuthorization(True, "ok", available)
        reserve = min(hold_seconds, available)
        try:
            hold = place_hold(sub, tier, call_id, reserve, moment,
                              requested_seconds=hold_seconds)
        except InsufficientBalance:
            continue
        except _SubaccountNotActive:
            sub = resolve_subaccount(subaccount_id)  # removed: 404; suspended: refused above
            continue
        return CallAuthorization(True, "ok", available - hold.seconds, hold)
    raise Conflict("the balance kept changing; retry", code="concurrent_update")


def place_hold(sub: Subaccount, tier: str, call_id: str, seconds: int, at: datetime, *,
               requested_seconds: int) -> CallHold:
    """Move ``seconds`` from the wallet to the held account, with the hold item (one write).

    The hold lasts as long as the call asked for (``requested_seconds``) plus the grace,
    even when fewer seconds were there to reserve: the call runs that long either way.
    """
    sid, asset = sub.subaccount_id, asset_of_tier(tier)
    hold = holds.new(agency_id=sub.agency_id, subaccount_id=sid, call_id=call_id, tier=tier,
                     seconds=seconds, created_at=at,
                     hold_until=at + timedelta(seconds=requested_seconds) + HOLD_GRACE)
    try:
        ledger.post(
            LedgerTransaction(agency_id=sub.agency_id, transaction_id=f"hold:{call_id}",
                              code=Code.HOLD, postings=transfer(wallet(sid), held(sid), asset,
                                                                seconds),
                              subaccount_id=sid, memo=f"hold for call {call_id}"),
            also=[
                # only an active sub-account's calls are authorized; a removal flips the
                # status in its own transaction, so no hold can land after it
                subaccount_guards.still_active(
                    sub.agency_id, sid,
                    _SubaccountNotActive("the sub-account is no longer active")),
                # a call already recorded has nothing left to hold for
                calls.absent(call_id, CallIdConflict("this call id was already recorded")),
                holds.place(hold, _CallIdTaken("call id already held")),
            ],
            at=at,
        )
    except (AlreadyPosted, _CallIdTaken):
        existing = holds.get(call_id)
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
    ledger.post(
        LedgerTransaction(agency_id=hold.agency_id,
                          transaction_id=f"hold-release:{hold.call_id}",
                          code=Code.HOLD_RELEASE,
                          postings=transfer(held(sid), wallet(sid), asset, hold.seconds),
                          subaccount_id=sid, memo=memo),
        also=[subaccount_guards.still_live(hold.agency_id, sid,
                                           SubaccountRemoved("this sub-account was removed")),
              holds.close(hold, "released")],
        at=at,
    )


def _release_expired(hold: CallHold, as_of: datetime) -> str:
    try:
        release_hold(hold, as_of, f"hold of call {hold.call_id} expired")
    except (HoldChanged, AlreadyPosted):
        return "settled"  # by its usage record meanwhile
    except SubaccountRemoved:
        logger.warning("hold of a removed sub-account left held",
                       extra={"agency_id": hold.agency_id, "subaccount_id": hold.subaccount_id,
                              "call_id": hold.call_id})
        return SKIPPED
    return SUCCEEDED


def call_holds_sweep(as_of: datetime, deadline: Deadline | None = None) -> dict[str, Any]:
    """``call-holds``: give back the seconds of holds whose call never reported (GSI2, due
    ones only); past the ``deadline`` the rest stays due for the next run."""
    return run_sweep("call-holds", as_of, holds.due(as_of), _release_expired,
                     deadline=deadline)

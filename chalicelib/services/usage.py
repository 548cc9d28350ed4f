"""Usage ingestion (the platform reports finished calls) and call authorization.

Each call is applied once per ``call_id``, platform-wide: its record (keyed by the call id
alone) is written under ``attribute_not_exists`` in the debit's own transaction, so a replay
is a no-op; an identical replay answers ``duplicate``, any other record under a recorded call
id (another sub-account, of any agency, or other figures) is rejected with
``call_id_conflict``. Holds are keyed by the call id alike. A call that
would overdraw debits what is left and records the shortfall; balances never go negative.

A batch is written a sub-account at a time: the records of one sub-account are debited one
after the other in memory, from balances, holds and auto-recharge settings read for the whole
batch at once, and written together in as few ``TransactWriteItems`` as the 100-item limit
allows (each call keeps its own ledger transaction, call record and hold settlement; the
balance rows and day counters they share get one update each). When a write is refused, the
cancellation reasons say which call failed: a call recorded before is answered ``duplicate``
or ``call_id_conflict`` and the rest of the group is written again; a concurrent change of a
balance, hold or rule reads the group again. A call id sent twice in one batch is applied
once, the later copy after the first is written.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NotRequired, TypedDict

from chalicelib.domain.errors import (
    Conflict,
    DomainError,
    Gone,
    NotFound,
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
from chalicelib.domain.timezones import local_date
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
from chalicelib.store.transact import ConditionsFailed, Op, commit

__all__ = ["CallIdConflict", "DuplicateCall", "HoldChanged", "SubaccountRemoved",
           "authorize_call", "call_holds_sweep", "close_hold_op", "ingest_usage",
           "parse_usage_record", "place_hold", "record_call", "release_hold"]

MAX_CALL_SECONDS = 24 * 3600
DEBIT_ATTEMPTS = 6
HOLD_GRACE = timedelta(minutes=30)
#: The most items one DynamoDB transaction may hold.
MAX_ITEMS = 100


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


# ------------------------------------------------------------------ the batch write

#: What one record became: its result, or the error that rejected it (``DuplicateCall``
#: for a replay).
Outcome = UsageResult | DomainError


def _held_by_another() -> CallIdConflict:
    return CallIdConflict("this call id is held by another call")


@dataclass
class _Call:
    """One record of a group, and what its write was planned to do."""

    index: int
    record: UsageRecord
    checks_hold: bool = False  # no hold was read under its call id: require none meanwhile
    settled: CallHold | None = None  # the hold its transaction settles
    debited: int = 0
    shortfall: int = 0
    before: int = 0  # the wallet (with its hold) before and after this call
    after: int = 0
    tx: LedgerTransaction | None = None
    crossing: list[Op] = field(default_factory=list)
    ops: dict[str, Op] = field(default_factory=dict)  # its own ops: guard, call, tx, close


@dataclass
class _Group:
    """The records of one sub-account, and what was read for them."""

    sub: Subaccount
    pending: list[_Call]
    balances: dict[str, int] = field(default_factory=dict)  # asset → seconds
    versions: dict[str, int] = field(default_factory=dict)  # asset → balance row version
    holds: dict[str, CallHold] = field(default_factory=dict)  # call id → its hold
    settings: dict[str, auto_recharge.Settings] = field(default_factory=dict)  # tier → …
    timezone: str | None = None  # the agency's: counters go to each call's local date
    fresh: bool = False  # read since the last write that may have changed them
    attempts: int = 0  # writes refused by a concurrent change, in a row


def _read(groups: Sequence[_Group]) -> None:
    """Read what every group's pending records need, all groups at once (BatchGetItem)."""
    wallets: list[tuple[Subaccount, str, str]] = []
    call_ids: list[str] = []
    extra: list[tuple[str, str]] = []
    for group in groups:
        sid = group.sub.subaccount_id
        tiers = list(dict.fromkeys(call.record.tier for call in group.pending))
        wallets += [(group.sub, wallet(sid), asset_of_tier(tier)) for tier in tiers]
        call_ids += [call.record.call_id for call in group.pending]
        extra += [key for tier in tiers
                  for key in auto_recharge.settings_keys(group.sub.agency_id, sid, tier)]
    reads = calls.read_for_usage(wallets, call_ids, extra)
    for group in groups:
        sid = group.sub.subaccount_id
        for tier in {call.record.tier for call in group.pending}:
            row = reads.balances[(sid, asset_of_tier(tier))]
            group.balances[row.asset], group.versions[row.asset] = row.balance, row.version
            group.settings[tier] = auto_recharge.settings_from([
                reads.extra[key] for key in auto_recharge.settings_keys(
                    group.sub.agency_id, sid, tier) if key in reads.extra])
            agency = group.settings[tier][0]  # read with the balance
            group.timezone = agency.timezone if agency else None
        group.holds = {call.record.call_id: reads.holds[call.record.call_id]
                       for call in group.pending if call.record.call_id in reads.holds}
        group.fresh = True


@dataclass
class _Chunk:
    """A prefix of a group's pending records, planned to be written in one transaction."""

    calls: list[_Call]
    balances: dict[str, int]  # the wallet after the chunk, per asset
    touched: Counter[str]  # asset → transactions of the chunk that change the wallet row
    guarded: set[str]  # assets whose wallet row must still be at the version read
    days: dict[date, tuple[datetime, Counter[str]]]  # local date → (a moment of it, counts)
    crossed: bool = False  # ends with the call that crossed an auto-recharge threshold

    def items(self) -> int:
        """How many items its transaction holds."""
        total = 1  # the sub-account's "still live" check
        rows: set[tuple[str, str]] = set()
        for call in self.calls:
            total += 1 + call.checks_hold + (call.settled is not None)  # record, check, close
            if call.tx is not None:
                total += 1 + len(call.tx.postings)
                rows |= set(call.tx.net_by_account())
            total += len(call.crossing)
        untouched = {asset for asset in self.guarded if not self.touched[asset]}
        return total + len(rows) + len(untouched) + len(self.days)


def _plan(group: _Group, at: datetime, results: dict[int, Outcome]) -> _Chunk:
    """The longest prefix of the group's pending records that fits one transaction and ends
    at the first auto-recharge crossing; records whose call id is held by another call are
    answered at once."""
    sub = group.sub
    agency_id, sid = sub.agency_id, sub.subaccount_id
    chunk = _Chunk([], dict(group.balances), Counter(), set(), {})
    for call in list(group.pending):
        record = call.record
        asset = asset_of_tier(record.tier)
        settings = group.settings[record.tier]
        hold = group.holds.get(record.call_id)
        if hold is not None and (hold.agency_id != agency_id or hold.subaccount_id != sid):
            results[call.index] = _held_by_another()
            group.pending.remove(call)
            continue
        guard = hold is None  # a hold placed under this call id by another call meanwhile wins
        if hold is not None and (hold.status != "held" or hold.tier != record.tier):
            hold = None  # settled or released already; a hold on the other tier expires
        held_seconds = hold.seconds if hold else 0
        balance = chunk.balances[asset]
        debited = min(balance + held_seconds, record.duration_seconds)
        postings = list(transfer(wallet(sid), usage_sink(sid), asset, debited)) if debited else []
        if hold is not None:
            postings += [Posting(held(sid), asset, -held_seconds),
                         Posting(wallet(sid), asset, held_seconds)]
        shortfall = record.duration_seconds - debited
        planned = call  # planned in place: a call that does not fit is planned again later
        planned.checks_hold, planned.settled = guard, hold
        planned.debited, planned.shortfall = debited, shortfall
        planned.before, planned.after = balance + held_seconds, balance + held_seconds - debited
        planned.tx = LedgerTransaction(
            agency_id=agency_id, transaction_id=f"usage:{record.call_id}", code=Code.USAGE,
            postings=tuple(postings), subaccount_id=sid, memo=f"call {record.call_id}",
            metadata={"call_id": record.call_id, "shortfall_seconds": shortfall,
                      "hold_seconds": held_seconds},
        ) if postings else None
        planned.crossing = []
        if planned.before != planned.after:
            planned.crossing = auto_recharge.crossing_ops(settings, planned.before,
                                                          planned.after, at)
        trial = _Chunk([*chunk.calls, planned], {**chunk.balances, asset: planned.after},
                       chunk.touched.copy(), set(chunk.guarded), dict(chunk.days))
        if planned.tx is not None and (wallet(sid), asset) in planned.tx.net_by_account():
            trial.touched[asset] += 1
        if planned.before != planned.after and auto_recharge.watches(settings):
            trial.guarded.add(asset)
        day = local_date(record.started_at, group.timezone)
        moment, counts = trial.days.get(day, (record.started_at, Counter()))
        trial.days[day] = (moment, counts + Counter({
            f"used_{record.tier}_seconds": debited, "shortfall_seconds": shortfall,
            "calls_total": 1, f"calls_{_counter_status(record.status)}": 1,
            f"calls_{record.direction}": 1,
            "spent_micros": minutes_cost(debited, sub.price(record.tier))}))
        if chunk.calls and trial.items() > MAX_ITEMS:
            break
        chunk = trial
        if planned.crossing:
            chunk.crossed = True  # its top-up may credit the wallet: read it again after
            break
    return chunk


def _ops(group: _Group, chunk: _Chunk, at: datetime) -> tuple[Op, list[Op]]:
    """The chunk's transaction: the "still live" check and every op (each call's own ops
    are kept in its ``ops`` to tell, on a refusal, which call failed)."""
    sub = group.sub
    agency_id, sid = sub.agency_id, sub.subaccount_id
    live = subaccount_guards.still_live(agency_id, sid,
                                        SubaccountRemoved("this sub-account was removed"))
    ops: list[Op] = [live]
    for call in chunk.calls:
        record = call.record
        call.ops = {}
        if call.checks_hold:
            call.ops["guard"] = holds.free_or_of(record.call_id, sid, _held_by_another())
        call.ops["call"] = calls.record(calls.new(
            agency_id=agency_id, call_id=record.call_id, subaccount_id=sid, tier=record.tier,
            direction=record.direction, status=record.status,
            duration_seconds=record.duration_seconds, debited_seconds=call.debited,
            shortfall_seconds=call.shortfall,
            spent_micros=minutes_cost(call.debited, sub.price(record.tier)),
            started_at=record.started_at, recorded_at=at,
        ), _CallIdTaken("call id already recorded"))
        if call.settled is not None:
            call.ops["close"] = holds.close(call.settled, "settled")
        ops += [call.ops[name] for name in ("guard", "call", "close") if name in call.ops]
        ops += call.crossing
    for moment, counts in chunk.days.values():
        ops.append(stats.count(agency_id, sid, moment, group.timezone, **counts))
    txs = [call.tx for call in chunk.calls if call.tx is not None]
    expected = {(wallet(sid), asset): group.versions[asset]
                for asset in chunk.guarded if chunk.touched[asset]}
    moved = _BalanceMoved("the balance changed meanwhile")
    if txs:
        posted = ledger.batch_ops(agency_id, txs, at=at, expected_versions=expected,
                                  stale_error=moved)
        for call in chunk.calls:
            if call.tx is not None:
                call.ops["tx"] = posted.records[call.tx.transaction_id]
        ops += posted.ops
    ops += [ledger.unchanged(agency_id, wallet(sid), asset, group.versions[asset], moved)
            for asset in sorted(chunk.guarded) if not chunk.touched[asset]]
    return live, ops


def _replays(taken: Sequence[_Call]) -> dict[int, DomainError]:
    """Records whose call id is taken: identical replays are duplicates, others conflicts
    (one read of the recorded calls)."""
    existing = calls.get_many(call.record.call_id for call in taken)
    found: dict[int, DomainError] = {}
    for call in taken:
        record, recorded = call.record, existing.get(call.record.call_id)
        same = recorded is None or (
            recorded.subaccount_id == record.subaccount_id and recorded.tier == record.tier
            and recorded.duration_seconds == record.duration_seconds
            and recorded.status == record.status and recorded.direction == record.direction
            and recorded.started_at == record.started_at)
        # no call record: the transaction id is this agency's own, so a replay
        found[call.index] = (DuplicateCall("call already recorded") if same else
                             CallIdConflict("this call id was already recorded for another call"))
    return found


def _write(group: _Group, at: datetime, wave: int, results: dict[int, Outcome]) -> None:
    """Write the group's pending records, a transaction at a time, until done or until they
    must be read again (``group.fresh`` is then False)."""
    sub = group.sub
    while group.pending and group.fresh:
        chunk = _plan(group, at, results)
        if not chunk.calls:
            continue
        live, ops = _ops(group, chunk, at)
        try:
            # the wave is part of the operation: a call id's later copy (next wave) is
            # another request, refused as a duplicate, never taken for a replay of the first
            commit(ops, operation_id=f"{sub.agency_id}/usage:{chunk.calls[0].record.call_id}"
                   f"+{len(chunk.calls) - 1}@{wave}", every_refusal=True)
        except ConditionsFailed as refused:
            _refused(group, chunk, {id(op) for op in refused.ops}, live, results)
            continue
        except Conflict as exc:  # DynamoDB kept answering with transaction conflicts
            for call in chunk.calls:
                results[call.index] = exc
                group.pending.remove(call)
            group.fresh = False
            continue
        done = {id(call) for call in chunk.calls}
        group.pending = [call for call in group.pending if id(call) not in done]
        group.balances = chunk.balances
        for asset, changes in chunk.touched.items():
            group.versions[asset] += changes
        group.attempts = 0
        for call in chunk.calls:
            results[call.index] = _recorded(call.record.call_id, call.debited, call.shortfall)
            if call.before != call.after:
                # auto-recharge and low-balance alerts: the debit stands whatever happens (a
                # top-up that could not start stays due: the crossing debit marked its rule)
                auto_recharge.after_usage_debit(sub.agency_id, sub.subaccount_id,
                                                call.record.tier, call.before, call.after,
                                                group.settings[call.record.tier])
        if chunk.crossed:
            group.fresh = False


def _refused(group: _Group, chunk: _Chunk, failed: set[int], live: Op,
             results: dict[int, Outcome]) -> None:
    """Answer the records the refusal names; what is left of the group is written again,
    after reading it again when a balance, hold or rule changed meanwhile."""
    if id(live) in failed:
        sid = group.sub.subaccount_id
        for call in group.pending:
            hold = group.holds.get(call.record.call_id)
            results[call.index] = (_held_by_another() if hold is not None and (
                hold.agency_id != group.sub.agency_id or hold.subaccount_id != sid)
                else SubaccountRemoved("this sub-account was removed"))
        group.pending = []
        return
    answered: set[int] = set()
    taken: list[_Call] = []
    changed = False
    own = {id(op) for call in chunk.calls for op in call.ops.values()}
    for call in chunk.calls:
        if "guard" in call.ops and id(call.ops["guard"]) in failed:
            results[call.index] = _held_by_another()
            answered.add(id(call))
        elif id(call.ops["call"]) in failed or ("tx" in call.ops
                                                 and id(call.ops["tx"]) in failed):
            taken.append(call)
            answered.add(id(call))
        elif "close" in call.ops and id(call.ops["close"]) in failed:
            changed = True  # settled or released meanwhile
    if taken:
        results |= _replays(taken)
    group.pending = [call for call in group.pending if id(call) not in answered]
    if changed or failed - own:
        # a concurrent debit, hold release or rule change won: read again
        group.fresh = False
        group.attempts += 1
        if group.attempts >= DEBIT_ATTEMPTS:
            for call in chunk.calls:
                if id(call) not in answered:
                    results[call.index] = Conflict("the balance kept changing; retry this call",
                                                   code="concurrent_update")
                    group.pending.remove(call)
            group.attempts = 0


def _record_calls(records: Sequence[tuple[int, UsageRecord, Subaccount]], at: datetime,
                  wave: int = 0) -> dict[int, Outcome]:
    """Debit and record calls of live sub-accounts (each call id once), grouped by
    sub-account; the outcome of each, by index."""
    results: dict[int, Outcome] = {}
    groups: dict[str, _Group] = {}
    for index, record, sub in records:
        groups.setdefault(sub.subaccount_id, _Group(sub, [])).pending.append(
            _Call(index, record))
    round_ = 0
    while True:
        stale = [group for group in groups.values() if group.pending and not group.fresh]
        if not stale:
            break
        if round_ and any(group.attempts for group in stale):
            # another debit of these wallets won the race: let it finish first
            time.sleep(random.uniform(0, 0.005 * 2 ** max(group.attempts for group in stale)))
        _read(stale)
        for group in stale:
            _write(group, at, wave, results)
        round_ += 1
    return results


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
    outcomes: dict[int, Outcome] = {}
    waves: list[list[tuple[int, UsageRecord]]] = []
    occurrences: Counter[str] = Counter()
    for index, raw in enumerate(records):
        try:
            record = parse_usage_record(raw)
        except ValidationFailed as exc:
            outcomes[index] = exc
            continue
        # a call id sent again in the batch waits until its first copy is written
        occurrence = occurrences[record.call_id]
        occurrences[record.call_id] += 1
        if occurrence == len(waves):
            waves.append([])
        waves[occurrence].append((index, record))
    subs: dict[str, Subaccount | DomainError] = {}
    for number, wave in enumerate(waves):
        subs |= _resolve(list(dict.fromkeys(
            record.subaccount_id for _, record in wave if record.subaccount_id not in subs)))
        live: list[tuple[int, UsageRecord, Subaccount]] = []
        for index, record in wave:
            sub = subs[record.subaccount_id]
            if isinstance(sub, DomainError):
                outcomes[index] = sub
            else:
                live.append((index, record, sub))
        outcomes |= _record_calls(live, at or now(), number)
    results = [_answer(raw.get("call_id") if isinstance(raw, dict) else None, outcomes[index])
               for index, raw in enumerate(records)]
    summary = Counter(result["status"] for result in results)
    for status, name in (("recorded", "UsageRecordsRecorded"),
                         ("duplicate", "UsageRecordsDuplicate"),
                         ("rejected", "UsageRecordsRejected")):
        if summary[status]:
            count(name, summary[status])
    return UsageBatch(results=results, recorded=summary["recorded"],
                      duplicate=summary["duplicate"], rejected=summary["rejected"])


def record_call(record: UsageRecord, sub: Subaccount, at: datetime | None = None
                ) -> UsageResult:
    """Debit one call of ``sub`` (read before) and record it, in one transaction; raises
    what rejects it (``DuplicateCall`` for a replay)."""
    outcome = _record_calls([(0, record, sub)], at or now())[0]
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


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

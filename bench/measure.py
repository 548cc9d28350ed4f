"""Timing and counting one operation over many repetitions."""

from __future__ import annotations

import collections
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench.instrument import READ_APIS, recording
from bench.ops import Operation, World, has_route


@dataclass
class OpResult:
    """One row: calls per repetition (min..max over the run) and latency."""

    name: str
    status: str = "ok"  # ok | n/a (...) | failed (...)
    reps: int = 0
    dynamodb: dict[str, list[int]] = field(default_factory=dict)  # api -> [min, max]
    stripe: dict[str, list[int]] = field(default_factory=dict)
    items_read: list[int] = field(default_factory=lambda: [0, 0])
    median_ms: float | None = None
    p95_ms: float | None = None
    ratio: float | None = None
    money: bool = False
    note: str = ""
    transactions: int = 1  # TransactWriteItems expected per request (money rows)
    samples: list[float] = field(default_factory=list, repr=False)  # ms, not in the JSON

    @property
    def measured(self) -> bool:
        """Whether the row holds numbers."""
        return self.status == "ok"

    def max_calls(self, apis: frozenset[str] | None = None) -> int:
        """Worst-case DynamoDB calls per repetition (optionally only ``apis``)."""
        return sum(hi for api, (_, hi) in self.dynamodb.items() if apis is None or api in apis)

    @property
    def max_reads(self) -> int:
        """Worst-case read calls per repetition."""
        return self.max_calls(READ_APIS)

    @property
    def max_stripe(self) -> int:
        """Worst-case Stripe requests per repetition."""
        return sum(hi for _, hi in self.stripe.values())

    def as_json(self) -> dict[str, Any]:
        """The row for ``results.json``."""
        return {
            "name": self.name, "status": self.status, "reps": self.reps,
            "dynamodb_calls": {api: {"min": lo, "max": hi}
                               for api, (lo, hi) in sorted(self.dynamodb.items())},
            "dynamodb_total_max": self.max_calls() if self.measured else None,
            "stripe_calls": {api: {"min": lo, "max": hi}
                             for api, (lo, hi) in sorted(self.stripe.items())},
            "items_read": {"min": self.items_read[0], "max": self.items_read[1]},
            "median_ms": _round(self.median_ms), "p95_ms": _round(self.p95_ms),
            "ratio_to_floor": _round(self.ratio), "money": self.money, "note": self.note,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _span(per_rep: list[collections.Counter[str]]) -> dict[str, list[int]]:
    apis = sorted({api for counter in per_rep for api in counter})
    return {api: [min(c[api] for c in per_rep), max(c[api] for c in per_rep)] for api in apis}


def measure(op: Operation, world: World, reps: int, warmup: int = 3) -> OpResult:
    """Run ``op`` ``warmup`` times untimed, then ``reps`` times timed and counted."""
    result = OpResult(op.name, money=op.money, note=op.note, transactions=op.transactions)
    missing = [f"{m} {p}" for m, p in op.routes if not has_route(world.app, m, p)]
    if missing:
        result.status = f"n/a (route missing: {', '.join(missing)})"
        return result
    if op.needs_stripe and not world.stripe_ready:
        result.status = "n/a (Stripe emulator or card not available)"
        return result
    timings: list[float] = []
    dynamodb: list[collections.Counter[str]] = []
    stripe: list[collections.Counter[str]] = []
    items: list[int] = []
    failures: list[str] = []
    allowed_failures = max(2, (warmup + reps) // 20)
    warm = 0
    while len(timings) < reps:
        if world.restore is not None:
            world.restore()
        prepared = op.prepare(world)
        with recording() as rec:
            started = time.perf_counter()
            answer = op.run(world, prepared)
            elapsed = (time.perf_counter() - started) * 1000
        problem = (None if answer.status in op.statuses
                   else f"HTTP {answer.status} {answer.error_code or ''}".strip())
        problem = problem or op.check(answer)
        if problem:
            # One odd answer (an emulator hiccup under load) is reported, not fatal; a pattern
            # of them is a failure of the row.
            failures.append(f"{problem}: {str(answer.body)[:160]}")
            if len(failures) > allowed_failures:
                result.status = f"failed ({problem})"
                break
            continue
        if warm < warmup:
            warm += 1
            continue
        timings.append(elapsed)
        dynamodb.append(rec.dynamodb)
        stripe.append(rec.stripe)
        items.append(rec.items_read)
    if failures:
        odd = f"{len(failures)} unexpected answer(s), left out; first: {failures[0]}"
        result.note = f"{result.note}; {odd}" if result.note else odd
    if not timings:
        if result.status == "ok":
            result.status = "failed (no repetition ran)"
        return result
    result.reps = len(timings)
    result.samples = timings
    result.dynamodb = _span(dynamodb)
    result.stripe = _span(stripe)
    result.items_read = [min(items), max(items)]
    result.median_ms = statistics.median(timings)
    result.p95_ms = percentile(timings, 95)
    return result

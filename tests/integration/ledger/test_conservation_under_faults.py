"""Ledger conservation while DynamoDB has a bad day (SPEC §5 Faults).

The same operations as ``test_conservation`` (its state machine, and an 8-thread race of
grants, moves and usage) with the local DynamoDB injecting about 10 % throttling, 5 %
transaction conflicts and 2 % lost answers (the write committed, the answer never came).
Afterwards: Σ per asset = 0, balance rows = their entries, no wallet below zero, every
ledger transaction posted exactly once, and no failure other than a domain error (a refused
operation, or ``TemporarilyUnavailable`` when the retries ran out).
"""

from __future__ import annotations

import collections
import itertools
import random
import threading

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from chalicelib.domain.errors import DomainError, TemporarilyUnavailable
from chalicelib.services.moves import confirm_move, quote_move
from chalicelib.services.usage import ingest_usage
from chalicelib.services.wallets import adjust_balance
from devstack.moto_dynamodb import FAULTS
from tests.integration.ledger.test_conservation import ASSETS, LedgerMachine, new_agency
from tests.ledger_support import assert_each_transaction_posted_once, assert_ledger_consistent

BAD_DAY = {"throttle": 0.10, "conflict": 0.05, "lost_response": 0.02}
_seeds = itertools.count(1)


def assert_ledger_intact() -> None:
    """The conservation invariants and "nothing applied twice", read with faults paused."""
    with FAULTS.paused():
        assert_ledger_consistent()
        assert_each_transaction_posted_once()


class LedgerMachineUnderFaults(LedgerMachine):
    """``LedgerMachine``'s random grants, corrections, moves, usage and replays, on a bad day."""

    @initialize()
    def setup(self) -> None:
        FAULTS.off()
        super().setup()
        FAULTS.set(**BAD_DAY, seed=next(_seeds))

    @rule(sub=st.integers(0, 2), tier=st.sampled_from(["basic", "premium"]),
          seconds=st.integers(0, 9000), replay=st.booleans())
    def usage(self, sub: int, tier: str, seconds: int, replay: bool) -> None:
        try:
            super().usage(sub, tier, seconds, replay)
        except TemporarilyUnavailable:
            pass  # the batch is a 503: retried by the caller, nothing half-done

    @invariant()
    def conserved(self) -> None:
        assert_ledger_intact()

    def teardown(self) -> None:
        FAULTS.off()


TestLedgerStateMachineUnderFaults = LedgerMachineUnderFaults.TestCase
TestLedgerStateMachineUnderFaults.settings = settings(
    max_examples=3, stateful_step_count=8, deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.timeout(300)
class TestConcurrentOperationsUnderFaults:
    def test_eight_threads_on_a_bad_dynamodb_day_keep_the_ledger_conserved_and_apply_nothing_twice(
            self, table, dynamodb_faults) -> None:
        principal, subs = new_agency()
        for sid in subs:
            for asset in ASSETS:
                adjust_balance(sid, asset, 500, "seed", None)
        unexpected: list[str] = []
        unavailable: collections.Counter[str] = collections.Counter()
        lock = threading.Lock()

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            for n in range(16):
                a, b = rng.sample(range(3), 2)
                asset, kind = rng.choice(ASSETS), rng.random()
                try:
                    if kind < 0.4:
                        quote = quote_move(principal, subs[a], subs[b], asset, rng.randint(1, 40))
                        confirm_move(principal, quote.quote_id)
                    elif kind < 0.8:
                        record = {"call_id": f"t{seed}-{n}", "subaccount_id": subs[a],
                                  "tier": rng.choice(["basic", "premium"]),
                                  "duration_seconds": rng.randint(1, 3000),
                                  "direction": "outbound", "status": "completed",
                                  "started_at": "2026-11-20T10:00:00Z"}
                        ingest_usage([record, record] if rng.random() < 0.2 else [record])
                    else:
                        adjust_balance(subs[a], asset, rng.randint(-30, 60) or 1, "race",
                                       f"race-{rng.randint(0, 20)}")
                except TemporarilyUnavailable:
                    with lock:
                        unavailable["retries ran out"] += 1
                except DomainError:
                    pass  # refused cleanly: overdraft, stale quote, replayed key…
                except BaseException as exc:
                    with lock:
                        unexpected.append(repr(exc))

        dynamodb_faults.set(**BAD_DAY, seed=20)
        # Rounds of eight threads until every kind of fault was met at least once (lost
        # answers touch only transactions, 2% of them: one round may draw none).
        for round_ in range(4):
            threads = [threading.Thread(target=worker, args=(8 * round_ + seed,))
                       for seed in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if {"throttle", "conflict", "lost_response"} <= set(dynamodb_faults.injected):
                break
        injected = dict(dynamodb_faults.injected)
        dynamodb_faults.off()

        assert unexpected == []
        assert {"throttle", "conflict", "lost_response"} <= set(injected), injected
        assert_ledger_intact()

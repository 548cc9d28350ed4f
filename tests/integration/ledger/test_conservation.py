"""Ledger conservation under random sequences of operations, replays and races.

After any sequence: Σ per asset over all accounts (system ones included) is 0, every balance
row equals the sum of its entries, and no sub-account wallet is negative.
"""

from __future__ import annotations

import random
import threading
from datetime import date

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from chalicelib.domain.errors import DomainError
from chalicelib.services.agencies import create_agency
from chalicelib.services.moves import confirm_move, quote_move
from chalicelib.services.sessions import principal_of
from chalicelib.services.usage import ingest_usage
from chalicelib.services.wallets import adjust_balance
from tests.conftest import reset_table
from tests.ledger_support import assert_ledger_consistent, make_subaccount

ASSETS = ("basic_minutes", "premium_minutes", "kp_credits")


def new_agency() -> tuple[object, list[str]]:
    """An agency, its owner principal and three sub-accounts with distinct prices."""
    created = create_agency(name="Conservation", owner_email=f"o{random.random()}@x.example.com",
                            owner_password="owner-password-1", plan="agency_unlimited",
                            subscription_start=date(2026, 1, 31))
    agency_id = created.agency.agency_id
    subs = [created.primary.subaccount_id,
            make_subaccount(agency_id, basic="0.13", premium="0.20"),
            make_subaccount(agency_id, basic="0.11", premium="0.17")]
    return principal_of(created.owner), subs


class LedgerMachine(RuleBasedStateMachine):
    """Random grants, corrections, moves, usage and replays on one agency."""

    @initialize()
    def setup(self) -> None:
        reset_table()
        self.principal, self.subs = new_agency()
        self.calls = 0
        self.quotes: list[str] = []

    @rule(sub=st.integers(0, 2), asset=st.sampled_from(ASSETS), amount=st.integers(-50, 200),
          key=st.sampled_from([None, "k1", "k2"]))
    def adjust(self, sub: int, asset: str, amount: int, key: str | None) -> None:
        if amount == 0:
            return
        try:
            adjust_balance(self.subs[sub], asset, amount, "machine", key)
        except DomainError:
            pass  # overdraft or replayed key: refused cleanly

    @rule(a=st.integers(0, 2), b=st.integers(0, 2), asset=st.sampled_from(ASSETS),
          amount=st.integers(1, 150), confirm_twice=st.booleans())
    def move(self, a: int, b: int, asset: str, amount: int, confirm_twice: bool) -> None:
        if a == b:
            return
        try:
            quote = quote_move(self.principal, self.subs[a], self.subs[b], asset, amount)
        except DomainError:
            return
        for _ in range(2 if confirm_twice else 1):
            try:
                confirm_move(self.principal, quote.quote_id)
            except DomainError:
                pass

    @rule(sub=st.integers(0, 2), tier=st.sampled_from(["basic", "premium"]),
          seconds=st.integers(0, 9000), replay=st.booleans())
    def usage(self, sub: int, tier: str, seconds: int, replay: bool) -> None:
        self.calls += 1
        record = {"call_id": f"call-{self.calls}", "subaccount_id": self.subs[sub],
                  "tier": tier, "duration_seconds": seconds, "direction": "inbound",
                  "status": "completed", "started_at": "2026-11-20T10:00:00Z"}
        ingest_usage([record, record] if replay else [record])

    @invariant()
    def conserved(self) -> None:
        assert_ledger_consistent()


TestLedgerStateMachine = LedgerMachine.TestCase
TestLedgerStateMachine.settings = settings(
    max_examples=8, stateful_step_count=12, deadline=None,
    suppress_health_check=list(HealthCheck),
)


class TestOneTransactionPerMoneyOperation:
    def test_grant_move_and_usage_each_issue_exactly_one_transact_write(
            self, table, dynamodb_calls) -> None:
        principal, subs = new_agency()
        dynamodb_calls.reset()
        adjust_balance(subs[0], "premium_minutes", 100, "grant", None)
        assert dynamodb_calls.calls["TransactWriteItems"] == 1
        quote = quote_move(principal, subs[0], subs[1], "premium_minutes", 10)
        dynamodb_calls.reset()
        confirm_move(principal, quote.quote_id)
        assert dynamodb_calls.calls["TransactWriteItems"] == 1
        assert dynamodb_calls.total - dynamodb_calls.calls["TransactWriteItems"] <= 3
        dynamodb_calls.reset()
        ingest_usage([{"call_id": "x", "subaccount_id": subs[1], "tier": "premium",
                       "duration_seconds": 30, "direction": "inbound", "status": "completed",
                       "started_at": "2026-11-20T10:00:00Z"}])
        assert dynamodb_calls.calls["TransactWriteItems"] == 1
        # per record: one BatchGetItem (balance, hold, recharge settings) and the write;
        # plus resolving the sub-account once per batch (pointer, item)
        assert dynamodb_calls.calls["BatchGetItem"] == 1
        assert dynamodb_calls.total == 4
        assert "Scan" not in dynamodb_calls.calls


@pytest.mark.timeout(240)
class TestConcurrentOperations:
    def test_eight_threads_of_mixed_operations_keep_the_ledger_conserved(self, table) -> None:
        principal, subs = new_agency()
        for sid in subs:
            for asset in ASSETS:
                adjust_balance(sid, asset, 500, "seed", None)
        errors: list[BaseException] = []
        ops_per_thread = 500 // 8

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            for n in range(ops_per_thread):
                a, b = rng.sample(range(3), 2)
                asset = rng.choice(ASSETS)
                try:
                    kind = rng.random()
                    if kind < 0.4:
                        quote = quote_move(principal, subs[a], subs[b], asset, rng.randint(1, 40))
                        confirm_move(principal, quote.quote_id)
                    elif kind < 0.8:
                        ingest_usage([{"call_id": f"t{seed}-{n}", "subaccount_id": subs[a],
                                       "tier": rng.choice(["basic", "premium"]),
                                       "duration_seconds": rng.randint(1, 3000),
                                       "direction": "outbound", "status": "completed",
                                       "started_at": "2026-11-20T10:00:00Z"}])
                    else:
                        adjust_balance(subs[a], asset, rng.randint(-30, 60) or 1, "race",
                                       f"race-{rng.randint(0, 20)}")
                except DomainError:
                    pass
                except BaseException as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert_ledger_consistent()

"""Eight concurrent HTTP clients on a bad DynamoDB day (SPEC §5 Faults).

The clients of ``test_concurrency``, four users of one agency (purchases with shared
Idempotency-Keys, quotes confirmed by several users at once, duplicated call ids, removals
racing with all of it, a Subaccount Admin's moves refused) while the
local DynamoDB injects about 10 % throttling, 5 % transaction conflicts and 2 % lost answers.
When the app's retries run out a client gets 503 with ``Retry-After``, never a 500. After the
run, and the reconciliation job finishing what a failed request left half-done: the ledger
is conserved, every ledger transaction was posted exactly once, no key / quote / call /
removal took effect twice, the database and Stripe agree, removed sub-accounts hold nothing.
"""

from __future__ import annotations

import collections
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.security.support import World, built_world
from tests.security.test_concurrency import (
    SHARED_CALLS,
    THREADS,
    Client,
    Journal,
    tokens_of_users,
)

BAD_DAY = {"throttle": 0.10, "conflict": 0.05, "lost_response": 0.02}


@dataclass
class BadDayJournal(Journal):
    """``Journal``, where a 503 carrying ``Retry-After`` is an allowed answer, not an error."""

    unavailable: collections.Counter[str] = field(default_factory=collections.Counter)

    def note(self, op: str, answer: requests.Response, user: str) -> dict[str, Any]:
        if answer.status_code == 503 and answer.headers.get("Retry-After"):
            with self.lock:
                self.statuses[(op, 503)] += 1
                self.unavailable[op] += 1
            return {}
        return super().note(op, answer, user)


@pytest.fixture(scope="module")
def world(stripe_emulator: str) -> Any:
    """A world of its own on a fresh table."""
    with built_world(stripe_emulator) as built:
        yield built


def test_eight_concurrent_clients_on_a_bad_dynamodb_day_never_break_the_ledger(
        world: World, fast_app_url: str, dynamodb_faults: Any) -> None:
    from chalicelib.domain.ledger import Asset, wallet
    from chalicelib.store import keys
    from chalicelib.store.accounts import Subaccount
    from chalicelib.store.base import TableItem
    from chalicelib.store.ledger import LedgerEntry, read_balance
    from chalicelib.store.payments import Purchase
    from tests.helpers import call
    from tests.ledger_support import assert_each_transaction_posted_once, assert_ledger_consistent
    from tests.security.support import intents_by_purchase

    subs = [world.subs["shared"], world.subs["second"], world.new_subaccount(),
            world.new_subaccount()]
    removable = [world.new_subaccount(), world.new_subaccount()]
    for sid in subs[2:] + removable:
        for asset in ("basic_minutes", "premium_minutes", "kp_credits"):
            world.grant(sid, asset, "300")
    for sid in subs + removable:
        if sid != world.subs["shared"]:
            world.add_card(sid)
    tokens = tokens_of_users(world, subs + removable)
    rng = random.Random(99)
    calls = {f"call-{k}": (rng.choice(subs + removable), rng.randint(30, 900))
             for k in range(SHARED_CALLS)}
    journal = BadDayJournal()
    barrier = threading.Barrier(THREADS)
    clients = [Client(n, fast_app_url, world, tokens, subs, removable, calls, journal)
               for n in range(THREADS)]
    threads = [threading.Thread(target=client.run, args=(barrier,)) for client in clients]

    dynamodb_faults.set(**BAD_DAY, seed=31)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    injected = dict(dynamodb_faults.injected)
    dynamodb_faults.off()
    assert not any(thread.is_alive() for thread in threads)

    # faults were met; no answer was a 500 (a 503 came with Retry-After); real work was done
    assert {"throttle", "conflict", "lost_response"} <= set(injected), injected
    assert not journal.errors, journal.errors
    done = {op for (op, status) in journal.statuses if status in (200, 201)}
    assert done >= {"purchase", "quote", "confirm", "usage"}, journal.statuses

    # a request that died between its writes is finished by the job that exists for that
    as_of = (datetime.now(UTC) + timedelta(minutes=11)).isoformat()
    reconciled = call(world.client, "POST", "/v1/platform/jobs/reconciliation/runs",
                      platform=True, body={"as_of": as_of})
    assert reconciled.status == 200, reconciled.body

    # the ledger: Σ = 0 per asset, balance rows = entries, no wallet below zero, each
    # transaction posted once
    assert_ledger_consistent()
    assert_each_transaction_posted_once()

    # every Idempotency-Key, quote, call id and removal took effect at most once
    assert all(len(ids) == 1 for ids in journal.purchase_ids_by_key.values()), \
        journal.purchase_ids_by_key
    assert all(count == 1 for count in journal.confirmed_quotes.values()), \
        journal.confirmed_quotes
    assert all(count == 1 for count in journal.recorded_calls.values()), journal.recorded_calls
    assert all(count == 1 for count in journal.removed.values()), journal.removed

    # database and Stripe agree: one charge per purchase, minutes exactly for the charged
    entries: set[tuple[str, str]] = set()
    purchases: list[Purchase] = []
    for item in TableItem.scan(page_size=500):
        if isinstance(item, LedgerEntry) and item.agency_id == world.a.agency_id:
            entries.add((item.transaction_id, item.account))
        elif isinstance(item, Purchase) and item.agency_id == world.a.agency_id:
            purchases.append(item)
    intents = intents_by_purchase(world.emulator, world.a.agency_id)
    assert all(len(found) == 1 for found in intents.values()), intents
    succeeded = {p.purchase_id for p in purchases if p.status == "succeeded"}
    assert succeeded == set(intents), (succeeded ^ set(intents))
    credited = {tx.removeprefix("purchase:") for (tx, account) in entries
                if tx.startswith("purchase:") and account.startswith("sub:")}
    assert credited == succeeded

    # a removed sub-account holds nothing, whatever raced with its removal (or its 503)
    for sid in removable:
        status = Subaccount.get(keys.agency_pk(world.a.agency_id), keys.subaccount_sk(sid),
                                consistent_read=True).status
        if status != "removed":
            assert sid not in journal.removed
            continue
        for asset in (Asset.BASIC_MINUTES, Asset.PREMIUM_MINUTES, Asset.KP_CREDITS):
            assert read_balance(world.a.agency_id, wallet(sid), asset).balance == 0, (sid,
                                                                                      asset)

"""Concurrency: eight clients hammer shared sub-accounts over real HTTP at the same time.

The clients are different users of one agency, two clients each: the owner, an Agency
Admin, an Agency Member and a Subaccount Admin, the last two granted the sub-accounts of the
run. Purchases (some sharing an Idempotency-Key between the two clients of one user), quotes
and their confirmations (some confirmed by several users at once), usage records (some call
ids sent by several clients) and removals (by the owner and the admin) of sub-accounts that
the others are still buying into, moving from and calling on; the Subaccount Admin's moves
are refused. Afterwards: the ledger's conservation invariants hold (Σ per asset = 0,
balance rows = their entries, no wallet below zero), no Idempotency-Key (per caller, as
SPEC scopes it) / quote / call id ran twice (database and Stripe agree), no removed
sub-account kept a balance, no answer was a 5xx.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.conftest import TEST_ENV
from tests.e2e.identity.support import join
from tests.security.support import World, built_world

THREADS = 8
#: Who each client is (client n is USERS[n % 4]): two concurrent clients per user.
USERS = ("owner", "agency_admin", "agency_member", "subaccount_admin")
MOVERS = ("owner", "agency_admin", "agency_member")  # SPEC: sub-account roles never move
REMOVERS = ("owner", "agency_admin")
OPS_PER_THREAD = 14
#: A removal meeting a charge in flight (409) is retried, 0.2 s apart, as a client would.
REMOVAL_TRIES = 25
SHARED_PURCHASE_KEYS = 6
SHARED_CALLS = 40


@dataclass
class Journal:
    """What every client saw, for the checks afterwards."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: collections.Counter[tuple[str, int]] = field(
        default_factory=collections.Counter)
    purchase_ids_by_key: dict[tuple[str, str], set[str]] = field(
        default_factory=lambda: collections.defaultdict(set))  # (user, key) → purchase ids
    succeeded_by_user: collections.Counter[tuple[str, str]] = field(
        default_factory=collections.Counter)
    confirmed_quotes: collections.Counter[str] = field(default_factory=collections.Counter)
    quotes: list[str] = field(default_factory=list)
    recorded_calls: collections.Counter[str] = field(default_factory=collections.Counter)
    removed: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)

    def note(self, op: str, answer: requests.Response, user: str) -> dict[str, Any]:
        with self.lock:
            self.statuses[(op, answer.status_code)] += 1
            if answer.status_code < 300:
                self.succeeded_by_user[(user, op)] += 1
            if answer.status_code >= 500:
                self.errors.append(f"{op}: {answer.status_code} {answer.text[:300]}")
        try:
            body = answer.json()
        except ValueError:
            body = {}
        return body if isinstance(body, dict) else {}


class Client:
    """One of the eight concurrent API clients."""

    def __init__(self, n: int, url: str, world: World, tokens: dict[str, str], subs: list[str],
                 removable: list[str], calls: dict[str, tuple[str, int]],
                 journal: Journal) -> None:
        self.n, self.url, self.world, self.subs, self.removable = n, url, world, subs, removable
        self.calls, self.journal = calls, journal
        self.user = USERS[n % len(USERS)]
        self.random = random.Random(n)
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {tokens[self.user]}"

    def post(self, op: str, path: str, body: Any, key: str | None = None,
             platform: bool = False) -> tuple[int, dict[str, Any]]:
        headers = {"Idempotency-Key": key} if key else {}
        if platform:
            headers["Authorization"] = f"Bearer {TEST_ENV['PLATFORM_API_KEY']}"
        try:
            answer = self.http.post(f"{self.url}{path}", json=body, headers=headers,
                                    timeout=60)
        except requests.RequestException as exc:
            with self.journal.lock:
                self.journal.errors.append(f"{op}: {exc!r}")
            return 0, {}
        return answer.status_code, self.journal.note(op, answer, self.user)

    def any_sub(self) -> str:
        return self.random.choice(self.subs + self.removable)

    def purchase(self, step: int) -> None:
        if self.random.random() < 0.5:  # a key other clients send too, with the same body
            k = self.random.randrange(SHARED_PURCHASE_KEYS)
            key, sid, minutes = f"shared-purchase-{k}", (self.subs + self.removable)[k % 6], \
                10 + k
        else:
            key, sid, minutes = f"purchase-{self.n}-{step}", self.any_sub(), 5
        status, body = self.post("purchase", f"/v1/subaccounts/{sid}/purchases",
                                 {"tier": "premium", "minutes": minutes}, key)
        if status == 201:
            with self.journal.lock:
                self.journal.purchase_ids_by_key[(self.user, key)].add(body["id"])

    def move(self, step: int) -> None:
        source, target = self.random.sample(self.subs + self.removable, 2)
        status, body = self.post("quote", "/v1/transfers/quotes", {
            "from_subaccount_id": source, "to_subaccount_id": target,
            "asset": self.random.choice(["premium_minutes", "basic_minutes", "kp_credits"]),
            "amount": str(self.random.randint(1, 30))}, f"quote-{self.n}-{step}")
        if status == 201:
            with self.journal.lock:
                self.journal.quotes.append(body["quote_id"])
        with self.journal.lock:
            quote_id = self.random.choice(self.journal.quotes) if self.journal.quotes else None
        if quote_id:  # maybe a quote another client is confirming right now
            status, body = self.post("confirm", "/v1/transfers", {"quote_id": quote_id},
                                     f"confirm-{self.n}-{step}")
            if status == 201:
                with self.journal.lock:
                    self.journal.confirmed_quotes[quote_id] += 1

    def usage(self, step: int) -> None:
        call_ids = self.random.sample(sorted(self.calls), 6)
        records = [{"call_id": call_id, "subaccount_id": self.calls[call_id][0],
                    "tier": "premium", "duration_seconds": self.calls[call_id][1],
                    "direction": "outbound", "status": "completed",
                    "started_at": "2026-03-01T10:00:00Z"} for call_id in call_ids]
        status, body = self.post("usage", "/v1/platform/usage", {"records": records},
                                 platform=True)
        if status == 200:
            with self.journal.lock:
                for result in body["results"]:
                    if result["status"] == "recorded":
                        self.journal.recorded_calls[result["call_id"]] += 1

    def refused_move(self, step: int) -> None:
        """A Subaccount Admin may not move minutes (SPEC): 403, whatever races with it."""
        source, target = self.random.sample(self.subs + self.removable, 2)
        status, body = self.post("refused quote", "/v1/transfers/quotes", {
            "from_subaccount_id": source, "to_subaccount_id": target,
            "asset": "premium_minutes", "amount": "1"}, f"quote-{self.n}-{step}")
        if status not in (403, 404):  # 404 once the source was removed
            with self.journal.lock:
                self.journal.errors.append(f"refused quote: {status} {body}")

    def remove(self, step: int) -> None:
        sid = self.removable[self.n % len(self.removable)]
        for _ in range(REMOVAL_TRIES):
            status, body = self.post("removal", f"/v1/subaccounts/{sid}/removal",
                                     {"minutes_destination_id": self.world.subs["primary"]},
                                     f"removal-{self.n}-{step}")
            # As a client must (README): a charge in flight or a concurrent write answers
            # 409 and nothing is written (409s are not stored for replay); retry the same key.
            if status != 409 or body.get("error", {}).get("code") not in (
                    "purchase_in_progress", "concurrent_update"):
                break
            time.sleep(0.2)
        if status == 200:
            with self.journal.lock:
                self.journal.removed[sid] += 1

    def run(self, barrier: threading.Barrier) -> None:
        move = self.move if self.user in MOVERS else self.refused_move
        barrier.wait()
        for step in range(OPS_PER_THREAD):
            if step == OPS_PER_THREAD // 2 and self.user in REMOVERS:
                self.remove(step)
                continue
            self.random.choice([self.purchase, self.purchase, move, move, self.usage])(step)


def tokens_of_users(world: World, granted: list[str]) -> dict[str, str]:
    """The run's users: A's owner and Agency Admin, and an Agency Member and a Subaccount
    Admin granted exactly the sub-accounts of the run."""
    return {"owner": world.a.owner_token,
            "agency_admin": world.members["agency_admin"].token,
            **{role: join(world.client, world.a.owner_token, role, access="specific",
                          subaccount_ids=granted).token
               for role in ("agency_member", "subaccount_admin")}}


@pytest.fixture(scope="module")
def world(stripe_emulator: str) -> Any:
    """The shared world on a fresh table."""
    with built_world(stripe_emulator) as built:
        yield built


def test_eight_concurrent_clients_never_break_the_ledger(world: World,
                                                         fast_app_url: str) -> None:
    from chalicelib.domain.ledger import Asset, wallet
    from chalicelib.store.base import TableItem
    from chalicelib.store.ledger import LedgerEntry, read_balance
    from chalicelib.store.payments import Purchase
    from tests.ledger_support import assert_ledger_consistent
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
    journal = Journal()
    barrier = threading.Barrier(THREADS)
    clients = [Client(n, fast_app_url, world, tokens, subs, removable, calls, journal)
               for n in range(THREADS)]
    threads = [threading.Thread(target=client.run, args=(barrier,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)

    # no 5xx, and the run did real work of every kind
    assert not journal.errors, journal.errors
    done = {op for (op, status) in journal.statuses if status in (200, 201)}
    assert done >= {"purchase", "quote", "confirm", "usage", "removal"}, journal.statuses
    for user in USERS:  # every user really took part
        assert journal.succeeded_by_user[(user, "purchase")], journal.succeeded_by_user
    for user in MOVERS:
        assert journal.succeeded_by_user[(user, "quote")], journal.succeeded_by_user

    # the ledger: Σ = 0 per asset, balance rows = entries, no wallet below zero
    assert_ledger_consistent()

    # every Idempotency-Key, quote, call id and removal took effect at most once
    assert all(len(ids) == 1 for ids in journal.purchase_ids_by_key.values()), \
        journal.purchase_ids_by_key
    assert all(count == 1 for count in journal.confirmed_quotes.values()), \
        journal.confirmed_quotes
    assert all(count == 1 for count in journal.recorded_calls.values()), journal.recorded_calls
    assert all(count == 1 for count in journal.removed.values()), journal.removed
    assert set(journal.removed) == set(removable)
    entries: collections.Counter[tuple[str, str, str]] = collections.Counter()
    purchases: list[Purchase] = []
    for item in TableItem.scan():
        if isinstance(item, LedgerEntry) and item.agency_id == world.a.agency_id:
            entries[(item.transaction_id, item.account, item.asset)] += 1
        elif isinstance(item, Purchase) and item.agency_id == world.a.agency_id:
            purchases.append(item)
    assert not [key for key, count in entries.items() if count > 1]  # no posting twice

    # database and Stripe agree: one charge per purchase, minutes exactly for the charged
    intents = intents_by_purchase(world.emulator, world.a.agency_id)
    assert all(len(found) == 1 for found in intents.values()), intents
    succeeded = {p.purchase_id for p in purchases if p.status == "succeeded"}
    assert succeeded == set(intents), (succeeded ^ set(intents))
    credited = {tx.removeprefix("purchase:") for (tx, account, _asset) in entries
                if tx.startswith("purchase:") and account.startswith("sub:")}
    assert credited == succeeded

    # removed sub-accounts hold nothing, whatever raced with their removal
    for sid in removable:
        for asset in (Asset.BASIC_MINUTES, Asset.PREMIUM_MINUTES, Asset.KP_CREDITS):
            assert read_balance(world.a.agency_id, wallet(sid), asset).balance == 0, (sid,
                                                                                      asset)

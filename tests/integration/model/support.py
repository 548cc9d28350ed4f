"""Support of the money model: the Stripe emulator's events delivered by hand, the SPEC's money
rules written out on their own (the oracle), and one read of the ledger per step.

Webhook deliveries are switched off for the model's tests so nothing reaches the app behind the
machine's back: after each Stripe-side action the machine collects the events the emulator
recorded and posts them, signed, to the webhook route itself (in its own order, possibly
twice). Expected figures come from SPEC, never from ``chalicelib``.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import requests

from chalicelib.store.base import TableItem
from chalicelib.store.ledger import LedgerBalance, LedgerEntry
from chalicelib.store.payments import Purchase
from tests.conftest import TEST_ENV
from tests.helpers import Answer, call

STRIPE_HEADERS = {"Authorization": f"Bearer {TEST_ENV['STRIPE_SECRET_KEY']}"}

# SPEC "Accounts": base costs per minute, micro-USD.
BASE_MICROS = {"basic": 100_000, "premium": 160_000}
TIERS = ("basic", "premium")
ASSET_OF_TIER = {"basic": "basic_minutes", "premium": "premium_minutes"}
MINUTE_ASSETS = tuple(ASSET_OF_TIER.values())
MICROS_PER_CENT = 10_000


# ------------------------------------------------------------------------------ the oracle


def half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (non-negative inputs)."""
    return (2 * numerator + denominator) // (2 * denominator)


def charge_cents(minutes: int, price_micros: int) -> int:
    """SPEC "Purchase": N × price, rounded to whole cents half up."""
    return half_up(minutes * price_micros, MICROS_PER_CENT)


def margin_micros(minutes: int, tier: str, price_micros: int) -> int:
    """SPEC "Purchase": agency profit = charge − N × base(T)."""
    return charge_cents(minutes, price_micros) * MICROS_PER_CENT - minutes * BASE_MICROS[tier]


def reversed_micros(margin: int, taken_cents: int, charge: int) -> int:
    """SPEC "Profit": refunds and lost disputes of X out of C reverse profit × X / C, half up
    (on the amount taken back in all, which can never exceed the charge)."""
    return half_up(margin * min(taken_cents, charge), charge) if charge else 0


def received_seconds(sent: int, price_from: int, price_to: int) -> int:
    """SPEC "Move minutes": min(sent, floor(sent × price(A) / price(B)))."""
    return min(sent, sent * price_from // price_to)


def usd_micros(text: str) -> int:
    """A decimal USD string of an answer, in micro-dollars (exact)."""
    return int(Decimal(text) * 1_000_000)


def usd_text_micros(micros: int) -> Decimal:
    return Decimal(micros) / 1_000_000


@dataclass
class DisputeModel:
    """One dispute as the model knows it: Stripe's side and which events were delivered."""

    dispute_id: str
    amount_cents: int
    inquiry: bool
    stripe_status: str
    created_event: dict[str, Any]
    closed_event: dict[str, Any] | None = None
    # The first event delivered, or a ``closed`` one, after Stripe decided applies the
    # decision (the app reads Stripe); a repeated ``created`` changes nothing.
    decision_applied: bool = False
    delivered: bool = False

    @property
    def decided(self) -> bool:
        return self.stripe_status in ("won", "lost", "warning_closed")

    @property
    def lost_cents(self) -> int:
        return self.amount_cents if self.decision_applied and self.stripe_status == "lost" else 0


@dataclass
class PurchaseModel:
    """One succeeded charge (a purchase or an auto-recharge) and what went back to the card."""

    purchase_id: str
    subaccount_id: str
    tier: str
    minutes: int
    charge_cents: int
    margin_micros: int
    payment_intent_id: str
    refunded_cents: int = 0
    disputes: list[DisputeModel] = field(default_factory=list)

    @property
    def reversed_micros(self) -> int:
        lost = sum(d.lost_cents for d in self.disputes)
        return reversed_micros(self.margin_micros, self.refunded_cents + lost, self.charge_cents)

    @property
    def disputes_settled(self) -> bool:
        return all(d.decision_applied for d in self.disputes)


# --------------------------------------------------------------------------- Stripe events


@contextlib.contextmanager
def webhooks_off(base: str, live_app_url: str) -> Iterator[None]:
    """No delivery from the emulator (both endpoints), restored afterwards."""
    for name in ("default", "connect"):
        requests.delete(f"{base}/_config/webhooks/{name}", timeout=10)
    try:
        yield
    finally:
        url = f"{live_app_url}/v1/stripe/webhook"
        requests.post(f"{base}/_config/webhooks/default", timeout=10,
                      data={"url": url, "secret": TEST_ENV["STRIPE_WEBHOOK_SECRET"]})
        requests.post(f"{base}/_config/webhooks/connect", timeout=10,
                      data={"url": url, "secret": TEST_ENV["STRIPE_CONNECT_WEBHOOK_SECRET"],
                            "connect": "true"})


class StripeEvents:
    """The emulator's event log, read incrementally, and signed delivery to the app."""

    def __init__(self, client: Any, base: str) -> None:
        self.client, self.base = client, base
        self.seen: set[str] = set()
        self.delivered: list[dict[str, Any]] = []

    def fresh(self) -> list[dict[str, Any]]:
        """Events recorded since the last call, oldest first."""
        answer = requests.get(f"{self.base}/_devstack/events", timeout=10)
        events = [e for e in answer.json()["data"] if e["id"] not in self.seen]
        self.seen.update(e["id"] for e in events)
        return events

    def deliver(self, event: dict[str, Any], *, new_id: bool = False) -> Answer:
        """POST one event, signed as Stripe signs it (Connect events with the Connect
        endpoint's secret); ``new_id`` re-sends the same object under a fresh event id, as
        Stripe does when it sends a second event about the same change."""
        from devstack.stripe_webhooks import signature_header

        if new_id:
            event = {**event, "id": f"evt_{uuid.uuid4().hex[:24]}", "created": int(time.time())}
        secret = TEST_ENV["STRIPE_CONNECT_WEBHOOK_SECRET" if event.get("account")
                          else "STRIPE_WEBHOOK_SECRET"]
        payload = json.dumps(event).encode()
        answer = call(self.client, "POST", "/v1/stripe/webhook", raw=payload,
                      headers={"Stripe-Signature": signature_header(payload, secret)})
        assert answer.status == 200, (event["type"], answer.body)
        self.delivered.append(event)
        return answer


def stripe_request(base: str, method: str, path: str, **form: Any) -> requests.Response:
    """A request to the emulator, form-encoded like Stripe's API."""
    return requests.request(method, f"{base}{path}", data=form or None, headers=STRIPE_HEADERS,
                            timeout=10)


# ------------------------------------------------------------------------- the ledger read


@dataclass
class Snapshot:
    """Everything of the (per-example) table that the invariants need, from one scan."""

    balances: dict[tuple[str, str], int]  # (account, asset) → balance row
    entry_sums: dict[tuple[str, str], int]  # (account, asset) → Σ entries
    entries: list[LedgerEntry]
    purchases: list[Purchase]

    def balance(self, account: str, asset: str) -> int:
        return self.balances.get((account, asset), 0)

    def total(self, prefix: str, asset: str) -> int:
        """Σ of the balances of every account named ``<prefix>…`` in ``asset``."""
        return sum(v for (account, a), v in self.balances.items()
                   if a == asset and account.startswith(prefix))


def snapshot(agency_id: str) -> Snapshot:
    """Scan the table (test-only: the table holds one example's agency)."""
    prefix = f"ACCT#{agency_id}#"
    balances: dict[tuple[str, str], int] = {}
    sums: dict[tuple[str, str], int] = defaultdict(int)
    entries: list[LedgerEntry] = []
    purchases: list[Purchase] = []
    for item in TableItem.scan(page_size=500, consistent_read=True):
        if isinstance(item, LedgerEntry):
            entries.append(item)
            sums[(item.account, item.asset)] += item.amount
        elif isinstance(item, LedgerBalance):
            account = item.PK.removeprefix(prefix)
            balances[(account, item.SK.removeprefix("BAL#"))] = item.balance or 0
        elif isinstance(item, Purchase):
            purchases.append(item)
    return Snapshot(balances, dict(sums), entries, purchases)


def entry_day(entry: LedgerEntry) -> date:
    created: datetime = entry.created_at
    return created.date()

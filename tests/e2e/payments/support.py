"""Helpers of the payments tests: sub-accounts, saved cards, purchases, the emulator's events."""

from __future__ import annotations

import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import requests

from chalicelib.domain.ledger import AGENCY_PROFIT, Asset, profit_held, wallet
from chalicelib.store.ledger import read_balance
from tests.conftest import TEST_ENV
from tests.helpers import AgencyFixture, call

_n = itertools.count(1)
STRIPE_HEADERS = {"Authorization": f"Bearer {TEST_ENV['STRIPE_SECRET_KEY']}"}


def new_subaccount(client: Any, agency: AgencyFixture, *, premium: str = "0.20",
                   basic: str = "0.12", subscription_start: str = "2026-02-15") -> str:
    """A secondary sub-account created through the API; returns its id."""
    n = next(_n)
    answer = call(client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
        "name": f"Client {n}", "login_email": f"pay-client{n}-{uuid.uuid4().hex[:6]}@example.com",
        "prices": {"basic": basic, "premium": premium},
        "subscription_start": subscription_start,
    })
    assert answer.status == 201, answer.body
    return answer.body["id"]


def add_card(client: Any, token: str, sid: str, pm: str = "pm_card_visa") -> dict[str, Any]:
    """Save a card; returns the 201 body."""
    answer = call(client, "POST", f"/v1/subaccounts/{sid}/payment-methods", token=token,
                  body={"payment_method": pm})
    assert answer.status == 201, answer.body
    return answer.body


def buy(client: Any, token: str, sid: str, *, tier: str = "premium", minutes: Any = 2000,
        key: str | None = None, **extra: Any) -> Any:
    """POST a purchase (with an Idempotency-Key when given)."""
    headers = {"Idempotency-Key": key} if key else None
    return call(client, "POST", f"/v1/subaccounts/{sid}/purchases", token=token,
                body={"tier": tier, "minutes": minutes, **extra}, headers=headers)


def seconds(agency: AgencyFixture, sid: str, asset: str = Asset.PREMIUM_MINUTES) -> int:
    """A wallet balance, seconds."""
    return read_balance(agency.agency_id, wallet(sid), asset).balance


def profit(agency: AgencyFixture) -> int:
    """The agency's available profit, micro-dollars."""
    return read_balance(agency.agency_id, AGENCY_PROFIT, Asset.USD).balance


def held(agency: AgencyFixture, purchase_id: str) -> int:
    """Profit held for a disputed purchase, micro-dollars."""
    return read_balance(agency.agency_id, profit_held(purchase_id), Asset.USD).balance


def run_job(client: Any, name: str, as_of: str) -> dict[str, Any]:
    """Run a scheduled job through the platform route."""
    answer = call(client, "POST", f"/v1/platform/jobs/{name}/runs", platform=True,
                  body={"as_of": as_of})
    assert answer.status == 200, answer.body
    return answer.body


def stripe_events(base: str, event_type: str) -> list[dict[str, Any]]:
    """Events the emulator sent, of one type."""
    answer = requests.get(f"{base}/_devstack/events", params={"type": event_type}, timeout=10)
    return answer.json()["data"]


def payment_intents_for(base: str, customer: str | None = None, *, at_least: int = 1
                        ) -> list[dict[str, Any]]:
    """PaymentIntents attempted (from ``payment_intent.succeeded`` / ``payment_failed``
    events), per customer. Events are published asynchronously: wait for ``at_least`` of
    them, then a little longer so that an unexpected extra one would show up too."""
    from tests.stripe_fixtures import wait_for

    wait_for(lambda: len(_intents(base, customer)) >= at_least)
    time.sleep(0.3)
    return _intents(base, customer)


def _intents(base: str, customer: str | None) -> list[dict[str, Any]]:
    events = (stripe_events(base, "payment_intent.succeeded")
              + stripe_events(base, "payment_intent.payment_failed"))
    intents = {e["data"]["object"]["id"]: e["data"]["object"] for e in events}
    return [i for i in intents.values() if customer is None or i.get("customer") == customer]


@contextlib.contextmanager
def webhooks_paused(base: str, live_app_url: str) -> Iterator[None]:
    """Stop the emulator's deliveries (events are still recorded), then restore them."""
    requests.delete(f"{base}/_config/webhooks/default", timeout=10)
    try:
        yield
    finally:
        requests.post(f"{base}/_config/webhooks/default", timeout=10, data={
            "url": f"{live_app_url}/v1/stripe/webhook",
            "secret": TEST_ENV["STRIPE_WEBHOOK_SECRET"]})


def signed_event(event_type: str, obj: dict[str, Any], *, secret: str | None = None,
                 timestamp: int | None = None) -> tuple[bytes, str]:
    """A Stripe event body and its ``Stripe-Signature`` header."""
    from devstack.stripe_webhooks import signature_header

    payload = json.dumps({
        "id": f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": event_type,
        "created": int(time.time()), "api_version": "2024-06-20", "livemode": False,
        "data": {"object": obj}, "pending_webhooks": 1, "request": {"id": None},
    }).encode()
    header = signature_header(payload, secret or TEST_ENV["STRIPE_WEBHOOK_SECRET"], timestamp)
    return payload, header


def post_webhook(client: Any, payload: bytes, header: str) -> Any:
    """POST a raw event to the webhook route."""
    return call(client, "POST", "/v1/stripe/webhook", raw=payload,
                headers={"Stripe-Signature": header})

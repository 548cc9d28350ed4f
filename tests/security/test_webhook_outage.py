"""Stripe unreachable while a webhook is being checked (SPEC 3, ``POST /v1/stripe/webhook``:
the object is retrieved from Stripe before money moves): the event answers 5xx so that Stripe
delivers it again, nothing is credited on an object nobody could check, and Stripe's retry,
once Stripe answers, credits exactly once.

The app's Stripe client goes through ``fault_proxy.FaultProxy``; the genuine events come from
the emulator's log (their delivery paused) and are posted as Stripe signs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import ROOT, reset_table
from tests.e2e.payments.support import add_card, new_subaccount, seconds, webhooks_paused
from tests.e2e.payments.test_webhook_verification import (
    deliver_recorded,
    pending_purchase,
    recorded,
)
from tests.helpers import AgencyFixture, create_agency
from tests.security.fault_proxy import FaultProxy, app_stripe_through

MINUTES = 50


@dataclass
class Shop:
    """An agency whose Stripe calls (the webhook's checks included) go through the proxy."""

    client: Any
    agency: AgencyFixture
    proxy: FaultProxy
    emulator: str
    live_app_url: str


@pytest.fixture(scope="module")
def shop(stripe_emulator: str, live_app_url: str) -> Iterator[Shop]:
    from chalice.test import Client
    from stripe._http_client import HTTPClient

    from app import app

    reset_table()
    proxy = FaultProxy(stripe_emulator, hold_seconds=1.2)
    with pytest.MonkeyPatch.context() as patch, \
            app_stripe_through(proxy, timeout_seconds=0.5), \
            Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        patch.setattr(HTTPClient, "INITIAL_DELAY", 0.05)  # stripe-python's back-off, shortened
        patch.setattr(HTTPClient, "MAX_DELAY", 0.2)
        yield Shop(client, create_agency(client), proxy, stripe_emulator, live_app_url)


def processed(event_id: str) -> bool:
    """Whether the event was recorded as processed."""
    from chalicelib.store import keys
    from chalicelib.store.webhooks import StripeEventMarker

    try:
        StripeEventMarker.get(keys.webhook_event_pk(event_id), "EVENT", consistent_read=True)
    except StripeEventMarker.DoesNotExist:
        return False
    return True


@pytest.mark.parametrize("mode", ["error_500", "drop_before", "timeout_before"])
def test_an_outage_during_the_check_credits_nothing_and_stripes_retry_credits_once(
        shop: Shop, mode: str) -> None:
    from chalicelib.store.payments import get_profile, get_purchase
    from chalicelib.stripe_gateway.payments import charge_off_session

    agency = shop.agency
    sid = new_subaccount(shop.client, agency, premium="0.25")
    add_card(shop.client, agency.owner_token, sid)
    purchase_id = f"pur_outage_{mode}"
    purchase = pending_purchase(agency, sid, purchase_id, MINUTES)
    profile = get_profile(agency.agency_id, sid)
    with webhooks_paused(shop.emulator, shop.live_app_url):
        intent = charge_off_session(  # Stripe charged; the request died before settling
            idempotency_key=f"purchase:{purchase_id}", amount_cents=purchase.amount_cents,
            customer_id=profile.customer_id, payment_method_id=purchase.payment_method_id,
            metadata={"purchase_id": purchase_id, "agency_id": agency.agency_id,
                      "subaccount_id": sid, "source": "purchase"},
            description=f"purchase {purchase_id}")
        event = recorded(shop.emulator, "payment_intent.succeeded", intent.payment_intent_id)
    shop.proxy.arm("GET", r"^/v1/payment_intents/", mode, times=20)
    try:
        refused = deliver_recorded(shop.client, event)
    finally:
        shop.proxy.disarm()

    assert refused.status >= 500, refused.body  # Stripe delivers it again later
    assert seconds(agency, sid) == 0
    assert get_purchase(agency.agency_id, purchase_id).status == "pending"
    assert not processed(event["id"])

    retried = deliver_recorded(shop.client, event)
    assert retried.status == 200, retried.body
    assert seconds(agency, sid) == MINUTES * 60
    again = deliver_recorded(shop.client, event)
    assert again.status == 200 and again.body.get("duplicate") is True, again.body
    assert seconds(agency, sid) == MINUTES * 60
    assert get_purchase(agency.agency_id, purchase_id).status == "succeeded"

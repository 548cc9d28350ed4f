"""Webhook deliveries are signed like Stripe's and survive an app that is down."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import stripe

from devstack.proc import free_port
from devstack.stripe_webhooks import signature_header
from tests.devstack.conftest import CONNECT_WEBHOOK_SECRET, WEBHOOK_SECRET, WebhookReceiver

Helper = Callable[..., requests.Response]


def _connect_event(client: stripe.StripeClient, helper: Helper) -> str:
    """Make the emulator emit one Connect event; returns the account id."""
    account = client.v1.accounts.create(params={"type": "express", "email": "a@example.com"})
    assert helper(f"accounts/{account.id}/complete_onboarding").status_code == 200
    return account.id


class TestSignatures:
    def test_every_delivery_verifies_with_the_secret(
            self, client: stripe.StripeClient, helper: Helper,
            webhook_receiver: WebhookReceiver) -> None:
        account_id = _connect_event(client, helper)
        delivery = webhook_receiver.wait_for(lambda e: e.get("account") == account_id)
        header = delivery.headers["Stripe-Signature"]

        assert header.startswith("t=") and ",v1=" in header
        assert stripe.WebhookSignature.verify_header(
            delivery.body.decode(), header, CONNECT_WEBHOOK_SECRET, tolerance=300)
        event = stripe.Webhook.construct_event(delivery.body, header, CONNECT_WEBHOOK_SECRET)
        assert (event.type, event.account, event.livemode) == (
            "account.updated", account_id, False)
        assert event.id.startswith("evt_")

    def test_the_wrong_secret_does_not_verify(
            self, client: stripe.StripeClient, helper: Helper,
            webhook_receiver: WebhookReceiver) -> None:
        account_id = _connect_event(client, helper)
        delivery = webhook_receiver.wait_for(lambda e: e.get("account") == account_id)

        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(delivery.body, delivery.headers["Stripe-Signature"],
                                           "whsec_wrong")

    def test_connect_events_use_the_connect_secret_and_platform_events_the_platform_one(
            self, client: stripe.StripeClient, helper: Helper,
            webhook_receiver: WebhookReceiver) -> None:
        # As in Stripe: a Connect endpoint gets only connected accounts' events (``account``
        # set), signed with its own secret; the platform endpoint gets only the platform's.
        account_id = _connect_event(client, helper)
        helper("balance/add_available", amount=1000)
        transfer = client.v1.transfers.create(params={"amount": 400, "currency": "usd",
                                                      "destination": account_id})
        connect = webhook_receiver.wait_for(lambda e: e.get("account") == account_id)
        platform = webhook_receiver.wait_for(lambda e: e["data"]["object"]["id"] == transfer.id)

        for delivery, right, wrong in ((connect, CONNECT_WEBHOOK_SECRET, WEBHOOK_SECRET),
                                       (platform, WEBHOOK_SECRET, CONNECT_WEBHOOK_SECRET)):
            header = delivery.headers["Stripe-Signature"]
            assert stripe.Webhook.construct_event(delivery.body, header, right).id
            with pytest.raises(stripe.SignatureVerificationError):
                stripe.Webhook.construct_event(delivery.body, header, wrong)
        assert "account" not in platform.event
        # Each event reaches the app once, through the one endpoint it belongs to.
        time.sleep(0.3)
        assert [d.event["type"] for d in webhook_receiver.deliveries] == [
            "account.updated", "transfer.created"]

    def test_the_header_is_hmac_sha256_of_timestamp_dot_body(self) -> None:
        # The same construction the app verifies, checked independently of the emulator.
        header = signature_header(b'{"id": "evt_1"}', "whsec_x", timestamp=1700000000)
        expected = hmac.new(b"whsec_x", b'1700000000.{"id": "evt_1"}', hashlib.sha256)
        assert header == f"t=1700000000,v1={expected.hexdigest()}"


class TestEventLog:
    def test_devstack_events_lists_what_was_sent_oldest_first(
            self, client: stripe.StripeClient, helper: Helper,
            events: Callable[..., list[dict[str, Any]]]) -> None:
        account_id = _connect_event(client, helper)
        helper("balance/add_available", amount=1000)
        client.v1.transfers.create(params={"amount": 400, "currency": "usd",
                                           "destination": account_id})

        sent = events()

        assert [e["type"] for e in sent] == ["account.updated", "transfer.created"]
        assert [e["type"] for e in events(account=account_id)] == ["account.updated"]
        assert events(type="transfer.created")[0]["data"]["object"]["amount"] == 400
        assert client.v1.events.retrieve(sent[0]["id"]).type == "account.updated"
        assert [e.id for e in client.v1.events.list(params={"type": "transfer.created"}).data
                ] == [sent[1]["id"]]

    def test_redeliver_sends_the_same_event_again(
            self, client: stripe.StripeClient, helper: Helper, emulator: str,
            webhook_receiver: WebhookReceiver) -> None:
        account_id = _connect_event(client, helper)
        first = webhook_receiver.wait_for(lambda e: e.get("account") == account_id)
        event_id = first.event["id"]

        requests.post(f"{emulator}/_devstack/events/{event_id}/redeliver",
                      timeout=10).raise_for_status()

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            copies = [d for d in webhook_receiver.deliveries if d.event["id"] == event_id]
            if len(copies) == 2:
                break
            time.sleep(0.05)
        assert len(copies) == 2


class TestAppDown:
    def test_an_unreachable_endpoint_is_recorded_and_the_emulator_keeps_serving(
            self, client: stripe.StripeClient, helper: Helper, emulator: str,
            webhook_receiver: WebhookReceiver) -> None:
        dead_url = f"http://127.0.0.1:{free_port()}/v1/stripe/webhook"
        requests.post(f"{emulator}/_config/webhooks/down",
                      data={"url": dead_url, "secret": "whsec_down", "connect": "true"}, timeout=10
                      ).raise_for_status()
        try:
            for _ in range(3):
                account_id = _connect_event(client, helper)
            # The live endpoint still gets every event, promptly.
            webhook_receiver.wait_for(lambda e: e.get("account") == account_id, timeout=10)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                deliveries = requests.get(f"{emulator}/_devstack/deliveries",
                                          timeout=10).json()["data"]
                down = [d for d in deliveries if d["endpoint"] == "down" and d["finished_at"]]
                if len(down) == 3:
                    break
                time.sleep(0.1)
            assert len(down) == 3
            assert all(not d["delivered"] and d["error"] for d in down)
            assert down[0]["attempts"] == 4  # retried with backoff ...
            assert down[-1]["attempts"] == 1  # ... then one attempt while it stays down
        finally:
            requests.delete(f"{emulator}/_config/webhooks/down", timeout=10)
        assert requests.get(f"{emulator}/_devstack/health", timeout=10).status_code == 200

"""Disputes in the emulator: retrieved through the real stripe client as Stripe serves them,
opened and decided by test helpers, each change published as Stripe's event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
import stripe

from tests.devstack.conftest import WebhookReceiver
from tests.devstack.test_stripe_wire_format import assert_stripe_shape


def _charged(client: stripe.StripeClient, amount: int = 5000) -> stripe.PaymentIntent:
    customer = client.v1.customers.create(params={"email": "disputer@example.com"})
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    return client.v1.payment_intents.create(params={
        "amount": amount, "currency": "usd", "customer": customer.id, "payment_method": pm.id,
        "confirm": True, "off_session": True})


def _opened(helper: Callable[..., requests.Response], charge_id: str, **form: Any
            ) -> dict[str, Any]:
    answer = helper(f"charges/{charge_id}/dispute", **form)
    assert answer.status_code == 200, answer.text
    return answer.json()


class TestDisputes:
    def test_a_dispute_is_opened_retrieved_and_decided_like_stripes(
            self, client: stripe.StripeClient, helper: Callable[..., requests.Response],
            webhook_receiver: WebhookReceiver) -> None:
        intent = _charged(client)
        opened = _opened(helper, intent.latest_charge, amount=2000)
        assert_stripe_shape("dispute", opened)
        assert (opened["charge"], opened["payment_intent"], opened["amount"],
                opened["currency"], opened["status"]) == (
            intent.latest_charge, intent.id, 2000, "usd", "needs_response")
        created = webhook_receiver.wait_for(
            lambda e: e["type"] == "charge.dispute.created"
            and e["data"]["object"]["id"] == opened["id"])
        assert "account" not in created.event

        retrieved = client.v1.disputes.retrieve(opened["id"])
        assert (retrieved.id, retrieved.status, retrieved.amount) == (
            opened["id"], "needs_response", 2000)
        assert client.v1.charges.retrieve(intent.latest_charge).disputed is True

        decided = helper(f"disputes/{opened['id']}/close", status="won")
        assert decided.status_code == 200, decided.text
        closed = webhook_receiver.wait_for(
            lambda e: e["type"] == "charge.dispute.closed"
            and e["data"]["object"]["id"] == opened["id"])
        assert closed.event["data"]["object"]["status"] == "won"
        assert client.v1.disputes.retrieve(opened["id"]).status == "won"
        again = helper(f"disputes/{opened['id']}/close", status="lost")
        assert again.status_code == 400  # a decided dispute never changes

    def test_closing_a_dispute_accepts_it_as_lost(
            self, client: stripe.StripeClient, helper: Callable[..., requests.Response]) -> None:
        intent = _charged(client)
        opened = _opened(helper, intent.latest_charge)
        assert opened["amount"] == 5000  # the whole charge by default
        closed = client.v1.disputes.close(opened["id"])
        assert closed.status == "lost"
        listed = client.v1.disputes.list(params={"charge": intent.latest_charge})
        assert [d.id for d in listed.data] == [opened["id"]]

    def test_an_unknown_dispute_is_resource_missing(self, client: stripe.StripeClient) -> None:
        with pytest.raises(stripe.InvalidRequestError) as missing:
            client.v1.disputes.retrieve("dp_does_not_exist")
        assert missing.value.http_status == 404
        assert missing.value.code == "resource_missing"

    def test_more_than_the_charge_cannot_be_disputed(
            self, client: stripe.StripeClient, helper: Callable[..., requests.Response]) -> None:
        intent = _charged(client, amount=1000)
        assert helper(f"charges/{intent.latest_charge}/dispute", amount=1001).status_code == 400
        assert helper("charges/ch_unknown/dispute").status_code == 404

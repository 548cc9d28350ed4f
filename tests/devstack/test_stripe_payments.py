"""Payments through the real stripe client behave like Stripe test mode."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import stripe

from tests.devstack.conftest import AUTH, WebhookReceiver


def _customer(client: stripe.StripeClient) -> stripe.Customer:
    return client.v1.customers.create(params={"email": "buyer@example.com"})


def _charge(client: stripe.StripeClient, customer: str, payment_method: str,
            amount: int = 1200, **extra: Any) -> stripe.PaymentIntent:
    """An off-session purchase, as the app makes it."""
    return client.v1.payment_intents.create(params={
        "amount": amount, "currency": "usd", "customer": customer,
        "payment_method": payment_method, "confirm": True, "off_session": True, **extra})


class TestTestCards:
    def test_pm_card_visa_attaches_and_an_off_session_charge_succeeds(
            self, client: stripe.StripeClient) -> None:
        customer = _customer(client)
        pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        assert pm.id.startswith("pm_") and pm.id != "pm_card_visa"
        assert pm.customer == customer.id

        intent = _charge(client, customer.id, pm.id, description="100 premium minutes")

        assert intent.status == "succeeded"
        assert intent.amount_received == 1200
        assert intent.latest_charge.startswith("ch_")  # an id, as Stripe returns it
        assert intent.description == "100 premium minutes"
        assert intent.payment_method == pm.id

    @pytest.mark.parametrize("name", ["pm_card_chargeDeclined", "pm_card_visa_chargeDeclined"])
    def test_always_declined_cards_are_declined_at_attach(
            self, client: stripe.StripeClient, name: str) -> None:
        customer = _customer(client)
        with pytest.raises(stripe.CardError) as declined:
            client.v1.payment_methods.attach(name, params={"customer": customer.id})
        assert declined.value.http_status == 402
        assert declined.value.code == "card_declined"
        assert declined.value.error.type == "card_error"
        assert declined.value.error.decline_code == "generic_decline"
        listed = client.v1.payment_methods.list(params={"customer": customer.id})
        assert listed.data == []

    def test_decline_variants_carry_their_decline_code(self, client: stripe.StripeClient) -> None:
        customer = _customer(client)
        with pytest.raises(stripe.CardError) as declined:
            client.v1.payment_methods.attach("pm_card_chargeDeclinedInsufficientFunds",
                                             params={"customer": customer.id})
        assert declined.value.error.decline_code == "insufficient_funds"

    def test_always_declined_card_used_without_attaching_declines_the_charge(
            self, client: stripe.StripeClient) -> None:
        customer = _customer(client)
        with pytest.raises(stripe.CardError) as declined:
            _charge(client, customer.id, "pm_card_chargeDeclined")
        assert declined.value.code == "card_declined"
        assert declined.value.error.payment_intent.status == "requires_payment_method"

    def test_charge_customer_fail_attaches_then_every_charge_is_declined(
            self, client: stripe.StripeClient, webhook_receiver: WebhookReceiver) -> None:
        customer = _customer(client)
        pm = client.v1.payment_methods.attach("pm_card_chargeCustomerFail",
                                              params={"customer": customer.id})
        assert pm.customer == customer.id

        for _ in range(2):
            with pytest.raises(stripe.CardError) as declined:
                _charge(client, customer.id, pm.id)
            error = declined.value.error
            assert declined.value.http_status == 402
            assert (error.type, error.code, error.decline_code) == (
                "card_error", "card_declined", "generic_decline")
            assert error.payment_intent.status == "requires_payment_method"
            assert error.payment_intent.last_payment_error.decline_code == "generic_decline"
            assert error.payment_method.id == pm.id
            assert error.charge.startswith("ch_")

        failed = webhook_receiver.wait_for(
            lambda e: e["type"] == "payment_intent.payment_failed"
            and e["data"]["object"]["id"] == error.payment_intent.id)
        assert failed.event["data"]["object"]["last_payment_error"]["type"] == "card_error"

    def test_a_declined_intent_can_be_confirmed_again_with_another_card(
            self, client: stripe.StripeClient) -> None:
        customer = _customer(client)
        bad = client.v1.payment_methods.attach("pm_card_chargeCustomerFail",
                                               params={"customer": customer.id})
        with pytest.raises(stripe.CardError) as declined:
            _charge(client, customer.id, bad.id)
        intent_id = declined.value.error.payment_intent.id
        good = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})

        intent = client.v1.payment_intents.confirm(
            intent_id, params={"payment_method": good.id, "off_session": True})

        assert intent.status == "succeeded"
        assert client.v1.payment_intents.retrieve(intent_id).amount_received == 1200

    def test_succeeded_intent_event_is_signed_and_delivered(
            self, client: stripe.StripeClient, webhook_receiver: WebhookReceiver) -> None:
        customer = _customer(client)
        pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        intent = _charge(client, customer.id, pm.id, metadata={"purchase_id": "pur_1"})

        delivery = webhook_receiver.wait_for(
            lambda e: e["type"] == "payment_intent.succeeded"
            and e["data"]["object"]["id"] == intent.id)

        obj = delivery.event["data"]["object"]
        assert obj["metadata"] == {"purchase_id": "pur_1"}
        assert obj["latest_charge"] == intent.latest_charge


class TestRefunds:
    def test_full_refund_then_nothing_left_to_refund(
            self, client: stripe.StripeClient, webhook_receiver: WebhookReceiver) -> None:
        customer = _customer(client)
        pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        intent = _charge(client, customer.id, pm.id, amount=2500)

        refund = client.v1.refunds.create(params={"payment_intent": intent.id})

        assert (refund.status, refund.amount, refund.payment_intent) == (
            "succeeded", 2500, intent.id)
        with pytest.raises(stripe.InvalidRequestError) as again:
            client.v1.refunds.create(params={"payment_intent": intent.id})
        assert again.value.code == "charge_already_refunded"
        refunded = webhook_receiver.wait_for(lambda e: e["type"] == "charge.refunded")
        charge = refunded.event["data"]["object"]
        assert (charge["id"], charge["amount_refunded"], charge["refunded"]) == (
            intent.latest_charge, 2500, True)

    def test_partial_refunds_up_to_the_charge_and_no_further(
            self, client: stripe.StripeClient) -> None:
        customer = _customer(client)
        pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        intent = _charge(client, customer.id, pm.id, amount=1000)

        first = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 300,
                                                 "reason": "requested_by_customer"})
        with pytest.raises(stripe.InvalidRequestError) as too_much:
            client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 800})
        rest = client.v1.refunds.create(params={"payment_intent": intent.id})

        assert first.amount == 300 and first.reason == "requested_by_customer"
        assert too_much.value.code == "amount_too_large"
        assert rest.amount == 700
        assert client.v1.charges.retrieve(intent.latest_charge).amount_refunded == 1000

    def test_refunds_reduce_the_platform_balance(self, client: stripe.StripeClient) -> None:
        customer = _customer(client)
        pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        intent = _charge(client, customer.id, pm.id, amount=4000)
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1500})

        assert client.v1.balance.retrieve().available[0].amount == 2500


class TestPaymentMethodsAndCustomers:
    def test_listing_works_without_type_and_under_the_customer(
            self, client: stripe.StripeClient) -> None:
        customer = _customer(client)
        pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})

        plain = client.v1.payment_methods.list(params={"customer": customer.id})
        nested = client.v1.customers.payment_methods.list(customer.id)

        assert [p.id for p in plain.data] == [pm.id]
        assert [p.id for p in nested.data] == [pm.id]
        assert client.v1.customers.payment_methods.retrieve(customer.id, pm.id).id == pm.id

    def test_default_payment_method_must_be_attached_to_that_customer(
            self, client: stripe.StripeClient) -> None:
        customer, other = _customer(client), _customer(client)
        foreign = client.v1.payment_methods.attach("pm_card_visa", params={"customer": other.id})
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.customers.update(
                customer.id, params={"invoice_settings": {"default_payment_method": foreign.id}})
        assert refused.value.param == "invoice_settings[default_payment_method]"

        own = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        updated = client.v1.customers.update(
            customer.id, params={"invoice_settings": {"default_payment_method": own.id}})
        assert updated.invoice_settings.default_payment_method == own.id

    def test_detach_clears_the_default_and_a_second_detach_is_refused(
            self, client: stripe.StripeClient) -> None:
        customer = _customer(client)
        pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        client.v1.customers.update(
            customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})

        detached = client.v1.payment_methods.detach(pm.id)

        assert detached.customer is None
        customer = client.v1.customers.retrieve(customer.id)
        assert customer.invoice_settings.default_payment_method is None
        assert client.v1.payment_methods.list(params={"customer": customer.id}).data == []
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.payment_methods.detach(pm.id)


class TestProtocol:
    def test_a_request_without_api_key_gets_stripes_401(self, emulator: str) -> None:
        response = requests.get(f"{emulator}/v1/customers", timeout=10)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "invalid_request_error"

    def test_idempotency_key_replays_a_purchase_instead_of_charging_twice(
            self, client: stripe.StripeClient, emulator: str) -> None:
        customer = _customer(client)
        pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        params = {"amount": "900", "currency": "usd", "customer": customer.id,
                  "payment_method": pm.id, "confirm": "true", "off_session": "true"}
        headers = {**AUTH, "Idempotency-Key": "purchase-42"}

        first = requests.post(f"{emulator}/v1/payment_intents", data=params, headers=headers,
                              timeout=10)
        second = requests.post(f"{emulator}/v1/payment_intents", data=params, headers=headers,
                               timeout=10)

        assert first.status_code == second.status_code == 200
        assert first.json()["id"] == second.json()["id"]
        assert second.headers["Idempotent-Replayed"] == "true"
        assert client.v1.balance.retrieve().available[0].amount == 900

    def test_a_reused_key_with_other_parameters_is_an_idempotency_error(
            self, client: stripe.StripeClient) -> None:
        client.v1.customers.create(params={"email": "a@example.com"},
                                   options={"idempotency_key": "cus-1"})
        with pytest.raises(stripe.IdempotencyError):
            client.v1.customers.create(params={"email": "b@example.com"},
                                       options={"idempotency_key": "cus-1"})

    def test_unknown_ids_are_resource_missing(self, client: stripe.StripeClient) -> None:
        with pytest.raises(stripe.InvalidRequestError) as missing:
            client.v1.payment_intents.retrieve("pi_doesnotexist")
        assert missing.value.http_status == 404
        assert missing.value.code == "resource_missing"

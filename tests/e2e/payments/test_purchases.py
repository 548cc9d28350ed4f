"""Saved cards and minute purchases, through HTTP, against the local Stripe emulator."""

from __future__ import annotations

from chalicelib.domain.ledger import Asset, card_payments, platform_revenue
from chalicelib.store.ledger import read_balance
from tests.e2e.payments.support import (
    add_card,
    buy,
    new_subaccount,
    payment_intents_for,
    profit,
    seconds,
    webhooks_paused,
)
from tests.helpers import call, create_agency
from tests.stripe_fixtures import wait_for


class TestSavedCards:
    def test_first_card_is_default_and_listed(self, app_client, stripe_emulator) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)
        first = add_card(app_client, agency.owner_token, sid)
        second = add_card(app_client, agency.owner_token, sid, "pm_card_mastercard")
        assert first["is_default"] is True and second["is_default"] is False
        assert first["brand"] == "visa" and first["last4"] == "4242"
        assert first["id"].startswith("pm_") and first["id"] != "pm_card_visa"
        listed = call(app_client, "GET", f"/v1/subaccounts/{sid}/payment-methods",
                      token=agency.owner_token)
        assert [c["id"] for c in listed.body["payment_methods"]] == [first["id"], second["id"]]
        assert listed.body["default_payment_method"] == first["id"]

    def test_removing_the_default_promotes_the_next_card(self, app_client,
                                                         stripe_emulator) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)
        first = add_card(app_client, agency.owner_token, sid)
        second = add_card(app_client, agency.owner_token, sid)
        gone = call(app_client, "DELETE", f"/v1/subaccounts/{sid}/payment-methods/{first['id']}",
                    token=agency.owner_token)
        assert gone.status == 204
        listed = call(app_client, "GET", f"/v1/subaccounts/{sid}/payment-methods",
                      token=agency.owner_token).body
        assert [c["id"] for c in listed["payment_methods"]] == [second["id"]]
        assert listed["payment_methods"][0]["is_default"] is True
        again = call(app_client, "DELETE",
                     f"/v1/subaccounts/{sid}/payment-methods/{first['id']}",
                     token=agency.owner_token)
        assert again.status == 404

    def test_card_declined_at_attach_is_402_and_not_saved(self, app_client,
                                                          stripe_emulator) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)
        answer = call(app_client, "POST", f"/v1/subaccounts/{sid}/payment-methods",
                      token=agency.owner_token,
                      body={"payment_method": "pm_card_visa_chargeDeclined"})
        assert answer.status == 402
        assert answer.error_code == "card_declined"
        assert answer.body["error"]["details"]["decline_code"] == "generic_decline"
        listed = call(app_client, "GET", f"/v1/subaccounts/{sid}/payment-methods",
                      token=agency.owner_token)
        assert listed.body["payment_methods"] == []

    def test_each_subaccount_has_its_own_customer(self, app_client, stripe_emulator) -> None:
        from chalicelib.store.payments import get_profile

        agency = create_agency(app_client)
        one, two = new_subaccount(app_client, agency), new_subaccount(app_client, agency)
        add_card(app_client, agency.owner_token, one)
        add_card(app_client, agency.owner_token, two)
        add_card(app_client, agency.owner_token, one)
        first, second = get_profile(agency.agency_id, one), get_profile(agency.agency_id, two)
        assert first.customer_id != second.customer_id
        assert len(first.cards) == 2

    def test_garbage_payment_method_is_422(self, app_client) -> None:
        agency = create_agency(app_client)
        answer = call(app_client, "POST",
                      f"/v1/subaccounts/{agency.primary_id}/payment-methods",
                      token=agency.owner_token, body={"payment_method": "card 4242"})
        assert answer.status == 422


class TestPurchase:
    def test_2000_premium_minutes_at_020_charge_400_and_earn_80(self, app_client,
                                                                stripe_emulator) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, premium="0.20")
        add_card(app_client, agency.owner_token, sid)
        answer = buy(app_client, agency.owner_token, sid, minutes="2000", key="buy-1")
        assert answer.status == 201, answer.body
        assert answer.body["status"] == "succeeded"
        assert answer.body["amount_usd"] == "400.00"
        assert answer.body["profit_usd"] == "80.00"
        assert answer.body["minutes"] == "2000.00"
        assert answer.body["payment_intent_id"].startswith("pi_")
        assert seconds(agency, sid) == 2000 * 60
        assert profit(agency) == 80_000_000
        usd = Asset.USD
        assert read_balance(agency.agency_id, card_payments(sid), usd).balance == -400_000_000
        assert read_balance(agency.agency_id, platform_revenue(sid), usd).balance == 320_000_000
        from chalicelib.store.payments import get_profile

        customer = get_profile(agency.agency_id, sid).customer_id
        intents = payment_intents_for(stripe_emulator, customer)
        assert [(i["id"], i["amount"]) for i in intents] == [
            (answer.body["payment_intent_id"], 40000)]
        # The webhook for the same charge arrives and changes nothing.
        wait_for(lambda: _event_marker_for(answer.body["payment_intent_id"]))
        assert seconds(agency, sid) == 2000 * 60
        assert profit(agency) == 80_000_000

    def test_primary_buys_at_base_cost_without_profit(self, app_client,
                                                      stripe_emulator) -> None:
        agency = create_agency(app_client)
        add_card(app_client, agency.owner_token, agency.primary_id)
        answer = buy(app_client, agency.owner_token, agency.primary_id, tier="basic",
                     minutes=500)
        assert answer.status == 201, answer.body
        assert answer.body["amount_usd"] == "50.00"
        assert answer.body["profit_usd"] == "0.00"
        assert seconds(agency, agency.primary_id, Asset.BASIC_MINUTES) == 500 * 60
        assert profit(agency) == 0

    def test_declined_card_is_402_and_credits_nothing(self, app_client,
                                                      stripe_emulator) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)
        add_card(app_client, agency.owner_token, sid, "pm_card_chargeCustomerFail")
        answer = buy(app_client, agency.owner_token, sid, minutes=2000, key="declined-1")
        assert answer.status == 402
        assert answer.error_code == "card_declined"
        assert answer.body["error"]["details"]["decline_code"]
        assert seconds(agency, sid) == 0
        assert profit(agency) == 0
        replay = buy(app_client, agency.owner_token, sid, minutes=2000, key="declined-1")
        assert replay.status == 402
        assert seconds(agency, sid) == 0

    def test_named_declining_card_is_402(self, app_client, stripe_emulator) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)
        add_card(app_client, agency.owner_token, sid)
        bad = add_card(app_client, agency.owner_token, sid, "pm_card_chargeCustomerFail")
        answer = buy(app_client, agency.owner_token, sid, minutes=10,
                     payment_method_id=bad["id"])
        assert answer.status == 402
        assert seconds(agency, sid) == 0

    def test_replays_with_one_idempotency_key_charge_once(self, app_client,
                                                          stripe_emulator) -> None:
        from chalicelib.store.payments import get_profile

        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)
        add_card(app_client, agency.owner_token, sid)
        answers = [buy(app_client, agency.owner_token, sid, minutes=100, key="same-key")
                   for _ in range(3)]
        assert {a.status for a in answers} == {201}
        assert len({a.body["id"] for a in answers}) == 1
        assert seconds(agency, sid) == 100 * 60
        customer = get_profile(agency.agency_id, sid).customer_id
        assert len(payment_intents_for(stripe_emulator, customer)) == 1
        other_body = buy(app_client, agency.owner_token, sid, minutes=101, key="same-key")
        assert other_body.status == 422

    def test_without_a_card_is_422_no_payment_method(self, app_client) -> None:
        agency = create_agency(app_client)
        answer = buy(app_client, agency.owner_token, agency.primary_id, minutes=10)
        assert answer.status == 422
        assert answer.error_code == "no_payment_method"

    def test_bad_inputs_are_422(self, app_client) -> None:
        agency = create_agency(app_client)
        for body in ({"tier": "gold", "minutes": 1}, {"tier": "basic", "minutes": "1.5"},
                     {"tier": "basic", "minutes": 0}, {"tier": "basic", "minutes": 1.0},
                     {"tier": "basic", "minutes": "2000001"}):
            answer = call(app_client, "POST",
                          f"/v1/subaccounts/{agency.primary_id}/purchases",
                          token=agency.owner_token, body=body)
            assert answer.status == 422, (body, answer.body)

    def test_a_purchase_is_one_transact_write(self, app_client, stripe_emulator,
                                              live_app_url, dynamodb_calls) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)
        add_card(app_client, agency.owner_token, sid)
        with webhooks_paused(stripe_emulator, live_app_url):
            dynamodb_calls.reset()
            answer = buy(app_client, agency.owner_token, sid, minutes=50, key="count-1")
            calls = dict(dynamodb_calls.calls)
        assert answer.status == 201
        # One transaction records the intent (purchase pending + in flight on the
        # sub-account, so a removal cannot race the charge); ONE moves the money.
        assert calls.get("TransactWriteItems") == 2, calls
        assert calls.get("Scan", 0) == 0
        assert sum(calls.values()) <= 8, calls


def _event_marker_for(intent_id: str) -> bool:
    """Whether a ``payment_intent.succeeded`` for ``intent_id`` was processed."""
    from chalicelib.store import keys
    from chalicelib.store.webhooks import StripeEventMarker

    events = [e for e in _sent_events("payment_intent.succeeded")
              if e["data"]["object"]["id"] == intent_id]
    for event in events:
        try:
            StripeEventMarker.get(keys.webhook_event_pk(event["id"]), "EVENT")
            return True
        except StripeEventMarker.DoesNotExist:
            continue
    return False


def _sent_events(event_type: str) -> list:
    import os

    import requests

    base = os.environ["STRIPE_API_BASE"]
    return requests.get(f"{base}/_devstack/events", params={"type": event_type},
                        timeout=10).json()["data"]

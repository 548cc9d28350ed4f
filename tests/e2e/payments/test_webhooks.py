"""Stripe webhooks of the payments area: refunds, disputes, signatures, finishing purchases."""

from __future__ import annotations

import time

import requests

from chalicelib.domain.ledger import Asset, card_payments, platform_revenue
from chalicelib.store.ledger import read_balance
from tests.e2e.payments.support import (
    STRIPE_HEADERS,
    add_card,
    buy,
    held,
    new_subaccount,
    post_webhook,
    profit,
    seconds,
    signed_event,
    webhooks_paused,
)
from tests.helpers import call, create_agency
from tests.stripe_fixtures import wait_for


def refund(base: str, intent_id: str, amount_cents: int | None = None) -> dict:
    """Refund through the emulator (it publishes ``charge.refunded``)."""
    form = {"payment_intent": intent_id}
    if amount_cents is not None:
        form["amount"] = str(amount_cents)
    answer = requests.post(f"{base}/v1/refunds", data=form, headers=STRIPE_HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def open_dispute(base: str, live_app_url: str, intent_id: str, amount: int,
                 status: str = "needs_response") -> str:
    """A dispute of the intent's charge, opened at Stripe; its own event is held back (each
    test delivers the events it means to). Returns the dispute id."""
    intent = requests.get(f"{base}/v1/payment_intents/{intent_id}", headers=STRIPE_HEADERS,
                          timeout=10).json()
    with webhooks_paused(base, live_app_url):
        answer = requests.post(f"{base}/v1/test_helpers/charges/{intent['latest_charge']}/dispute",
                               data={"amount": amount, "status": status},
                               headers=STRIPE_HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def decide_dispute(base: str, live_app_url: str, dispute_id: str, status: str) -> None:
    """Stripe decides the dispute (``won``, ``lost``, ``warning_closed`` or another open
    status); its event is held back."""
    with webhooks_paused(base, live_app_url):
        answer = requests.post(f"{base}/v1/test_helpers/disputes/{dispute_id}/close",
                               data={"status": status}, headers=STRIPE_HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text


def bought(client, stripe_emulator, minutes: int = 2000):
    agency = create_agency(client)
    sid = new_subaccount(client, agency, premium="0.20")
    add_card(client, agency.owner_token, sid)
    answer = buy(client, agency.owner_token, sid, minutes=minutes)
    assert answer.status == 201, answer.body
    return agency, sid, answer.body


class TestRefund:
    def test_full_refund_reverses_minutes_and_profit(self, app_client, stripe_emulator) -> None:
        agency, sid, purchase = bought(app_client, stripe_emulator)
        refund(stripe_emulator, purchase["payment_intent_id"])
        wait_for(lambda: seconds(agency, sid) == 0)
        assert profit(agency) == 0
        usd = Asset.USD
        assert read_balance(agency.agency_id, card_payments(sid), usd).balance == 0
        assert read_balance(agency.agency_id, platform_revenue(sid), usd).balance == 0

    def test_refund_takes_back_only_unused_minutes_and_all_profit(self, app_client,
                                                                  stripe_emulator) -> None:
        from chalicelib.domain.ledger import Code, LedgerTransaction, transfer, usage_sink, wallet
        from chalicelib.store.ledger import post_transaction

        agency, sid, purchase = bought(app_client, stripe_emulator)
        post_transaction(LedgerTransaction(  # 1,500 minutes used meanwhile
            agency_id=agency.agency_id, transaction_id="test-usage:1", code=Code.USAGE,
            postings=transfer(wallet(sid), usage_sink(sid), Asset.PREMIUM_MINUTES, 90_000),
            subaccount_id=sid))
        refund(stripe_emulator, purchase["payment_intent_id"])
        wait_for(lambda: profit(agency) == 0)
        assert seconds(agency, sid) == 0  # the 500 unused minutes went back, never below 0

    def test_partial_refunds_reverse_their_share(self, app_client, stripe_emulator) -> None:
        agency, sid, purchase = bought(app_client, stripe_emulator)
        refund(stripe_emulator, purchase["payment_intent_id"], 10_000)  # $100 of $400
        wait_for(lambda: profit(agency) == 60_000_000)
        assert seconds(agency, sid) == 1500 * 60
        refund(stripe_emulator, purchase["payment_intent_id"], 30_000)
        wait_for(lambda: profit(agency) == 0)
        assert seconds(agency, sid) == 0

    def test_redelivered_refund_event_changes_nothing(self, app_client, stripe_emulator,
                                                      live_app_url) -> None:
        agency, sid, purchase = bought(app_client, stripe_emulator)
        with webhooks_paused(stripe_emulator, live_app_url):  # the test delivers the events
            refund(stripe_emulator, purchase["payment_intent_id"])
        charge = requests.get(
            f"{stripe_emulator}/v1/payment_intents/{purchase['payment_intent_id']}",
            headers=STRIPE_HEADERS, timeout=10).json()["latest_charge"]
        obj = {"id": charge, "object": "charge", "payment_intent": purchase["payment_intent_id"],
               "amount": 40000, "amount_refunded": 40000, "refunded": True, "metadata": {}}
        for _ in range(2):  # two distinct events for the same refund state
            payload, header = signed_event("charge.refunded", obj)
            assert post_webhook(app_client, payload, header).status == 200
        assert seconds(agency, sid) == 0
        assert profit(agency) == 0
        assert read_balance(agency.agency_id, card_payments(sid), Asset.USD).balance == 0


class TestDispute:
    def test_dispute_holds_the_profit(self, app_client, stripe_emulator, live_app_url) -> None:
        agency, sid, purchase = bought(app_client, stripe_emulator)
        dispute_id = open_dispute(stripe_emulator, live_app_url,
                                  purchase["payment_intent_id"], 40000)
        dispute = {"id": dispute_id, "object": "dispute", "amount": 40000,
                   "payment_intent": purchase["payment_intent_id"], "charge": "ch_x",
                   "status": "needs_response", "reason": "fraudulent"}
        payload, header = signed_event("charge.dispute.created", dispute)
        answer = post_webhook(app_client, payload, header)
        assert answer.status == 200, answer.body
        assert profit(agency) == 0
        assert held(agency, purchase["id"]) == 80_000_000
        assert seconds(agency, sid) == 2000 * 60  # minutes stay until a refund or a loss
        again = post_webhook(app_client, payload, header)
        assert again.status == 200 and again.body.get("duplicate") is True
        assert held(agency, purchase["id"]) == 80_000_000


def dispute_event(client, purchase: dict, kind: str, status: str,
                  dispute_id: str, amount: int = 40000):
    """Deliver one signed dispute event (a fresh event id each time)."""
    dispute = {"id": dispute_id, "object": "dispute", "amount": amount, "currency": "usd",
               "payment_intent": purchase["payment_intent_id"], "charge": "ch_x",
               "status": status, "reason": "fraudulent"}
    payload, header = signed_event(kind, dispute)
    answer = post_webhook(client, payload, header)
    assert answer.status == 200, answer.body
    return answer.body


class TestDisputeClosed:
    def test_won_releases_the_held_profit_once(self, app_client, stripe_emulator,
                                               live_app_url) -> None:
        from tests.ledger_support import assert_ledger_consistent

        agency, sid, purchase = bought(app_client, stripe_emulator)
        dp_w = open_dispute(stripe_emulator, live_app_url, purchase["payment_intent_id"], 40000)
        dispute_event(app_client, purchase, "charge.dispute.created", "needs_response", dp_w)
        assert profit(agency) == 0 and held(agency, purchase["id"]) == 80_000_000
        decide_dispute(stripe_emulator, live_app_url, dp_w, "won")
        for _ in range(2):  # a second delivery under another event id changes nothing
            dispute_event(app_client, purchase, "charge.dispute.closed", "won", dp_w)
            assert profit(agency) == 80_000_000
            assert held(agency, purchase["id"]) == 0
        assert seconds(agency, sid) == 2000 * 60
        kinds = [n["type"] for n in call(app_client, "GET", "/v1/notifications",
                                         token=agency.owner_token).body["notifications"]]
        assert "payment_dispute_won" in kinds
        assert_ledger_consistent()

    def test_lost_takes_back_like_a_refund_once(self, app_client, stripe_emulator,
                                                live_app_url) -> None:
        from chalicelib.domain.ledger import Code, LedgerTransaction, transfer, usage_sink, wallet
        from chalicelib.store.ledger import post_transaction
        from tests.ledger_support import assert_ledger_consistent

        agency, sid, purchase = bought(app_client, stripe_emulator)
        post_transaction(LedgerTransaction(  # 1,500 of the 2,000 minutes used meanwhile
            agency_id=agency.agency_id, transaction_id="test-usage:dispute", code=Code.USAGE,
            postings=transfer(wallet(sid), usage_sink(sid), Asset.PREMIUM_MINUTES, 90_000),
            subaccount_id=sid))
        dp_l = open_dispute(stripe_emulator, live_app_url, purchase["payment_intent_id"], 40000)
        dispute_event(app_client, purchase, "charge.dispute.created", "needs_response", dp_l)
        decide_dispute(stripe_emulator, live_app_url, dp_l, "lost")
        for _ in range(2):
            dispute_event(app_client, purchase, "charge.dispute.closed", "lost", dp_l)
            assert seconds(agency, sid) == 0  # the unused 500 minutes, never below zero
            assert held(agency, purchase["id"]) == 0
            assert profit(agency) == 0  # the held profit is what was reversed
            usd = Asset.USD
            assert read_balance(agency.agency_id, card_payments(sid), usd).balance == 0
            assert read_balance(agency.agency_id, platform_revenue(sid), usd).balance == 0
        today = time.strftime("%Y-%m-%d", time.gmtime())
        report = call(app_client, "GET", f"/v1/reports/subaccounts/{sid}?from={today}"
                      f"&to={today}", token=agency.owner_token).body
        assert report["refunds_usd"] == "400.00" and report["profit_usd"] == "0.00"
        assert_ledger_consistent()

    def test_other_outcomes_change_nothing(self, app_client, stripe_emulator,
                                           live_app_url) -> None:
        agency, _sid, purchase = bought(app_client, stripe_emulator)
        dp_o = open_dispute(stripe_emulator, live_app_url, purchase["payment_intent_id"], 40000)
        dispute_event(app_client, purchase, "charge.dispute.created", "needs_response", dp_o)
        decide_dispute(stripe_emulator, live_app_url, dp_o, "under_review")
        dispute_event(app_client, purchase, "charge.dispute.closed", "under_review", dp_o)
        assert profit(agency) == 0 and held(agency, purchase["id"]) == 80_000_000

    def test_an_inquiry_closed_without_a_hold_only_notifies(self, app_client, stripe_emulator,
                                                             live_app_url) -> None:
        agency, _sid, purchase = bought(app_client, stripe_emulator)
        dp_i = open_dispute(stripe_emulator, live_app_url, purchase["payment_intent_id"], 40000,
                            status="warning_needs_response")
        decide_dispute(stripe_emulator, live_app_url, dp_i, "warning_closed")
        dispute_event(app_client, purchase, "charge.dispute.closed", "warning_closed", dp_i)
        assert profit(agency) == 80_000_000 and held(agency, purchase["id"]) == 0
        kinds = [n["type"] for n in call(app_client, "GET", "/v1/notifications",
                                         token=agency.owner_token).body["notifications"]]
        assert "payment_dispute_won" in kinds


class TestSignature:
    def test_forged_signature_is_400_and_has_no_effect(self, app_client,
                                                       stripe_emulator) -> None:
        agency, sid, purchase = bought(app_client, stripe_emulator)
        obj = {"id": "ch_forged", "object": "charge", "amount": 40000, "amount_refunded": 40000,
               "payment_intent": purchase["payment_intent_id"], "metadata": {}}
        payload, header = signed_event("charge.refunded", obj, secret="whsec_not_the_secret")
        answer = post_webhook(app_client, payload, header)
        assert answer.status == 400
        assert answer.error_code == "invalid_signature"
        stale_payload, stale = signed_event("charge.refunded", obj,
                                            timestamp=int(time.time()) - 600)
        assert post_webhook(app_client, stale_payload, stale).status == 400
        assert seconds(agency, sid) == 2000 * 60
        assert profit(agency) == 80_000_000

    def test_unknown_event_type_is_200(self, app_client) -> None:
        payload, header = signed_event("customer.created", {"id": "cus_1", "object": "customer"})
        answer = post_webhook(app_client, payload, header)
        assert answer.status == 200
        assert answer.body["handled"] is False


class TestWebhookFinishesPurchase:
    def test_succeeded_event_credits_a_purchase_left_pending(self, app_client,
                                                            stripe_emulator) -> None:
        """A crash after Stripe charged and before the ledger: the webhook credits it once."""
        from chalicelib.services import payments
        from chalicelib.store.payments import get_profile

        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, premium="0.20")
        card = add_card(app_client, agency.owner_token, sid)
        from chalicelib.store import keys
        from chalicelib.store.accounts import Subaccount

        sub = Subaccount.get(keys.agency_pk(agency.agency_id), keys.subaccount_sk(sid))
        profile = get_profile(agency.agency_id, sid)
        price = payments.price_purchase(100, sub.price_premium, 160_000)
        purchase = payments.new_purchase(
            agency_id=agency.agency_id, purchase_id="pur_crashed", source="purchase",
            subaccount_id=sid, payer_subaccount_id=sid, tier="premium", basic_seconds=0,
            premium_seconds=6000, price=price, transaction_id="purchase:pur_crashed",
            customer_id=profile.customer_id, payment_method_id=card["id"], timezone="UTC")
        payments.record_pending(purchase)
        from chalicelib.stripe_gateway.payments import charge_off_session

        charge_off_session(  # Stripe charged; "the process died" before settling
            idempotency_key="purchase:pur_crashed", amount_cents=price.amount_cents,
            customer_id=profile.customer_id, payment_method_id=card["id"],
            metadata={"purchase_id": "pur_crashed", "agency_id": agency.agency_id,
                      "subaccount_id": sid, "source": "purchase"},
            description="purchase pur_crashed")
        wait_for(lambda: seconds(agency, sid) == 6000)
        assert profit(agency) == 4_000_000
        from chalicelib.store.payments import get_purchase

        assert get_purchase(agency.agency_id, "pur_crashed").status == "succeeded"

    def test_reconciliation_finishes_from_stripe(self, app_client, stripe_emulator,
                                                 live_app_url) -> None:
        """Webhook lost too: the reconciliation sweep reads the intent and credits it."""
        from datetime import timedelta

        from chalicelib.services import payments
        from chalicelib.store import keys
        from chalicelib.store.accounts import Subaccount
        from chalicelib.store.base import utcnow
        from chalicelib.store.payments import get_profile, get_purchase
        from chalicelib.stripe_gateway.payments import charge_off_session

        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, premium="0.20")
        card = add_card(app_client, agency.owner_token, sid)
        sub = Subaccount.get(keys.agency_pk(agency.agency_id), keys.subaccount_sk(sid))
        profile = get_profile(agency.agency_id, sid)
        price = payments.price_purchase(100, sub.price_premium, 160_000)
        made = []
        for name in ("pur_lost_a", "pur_lost_b"):
            purchase = payments.new_purchase(
                agency_id=agency.agency_id, purchase_id=name, source="purchase",
                subaccount_id=sid, payer_subaccount_id=sid, tier="premium", basic_seconds=0,
                premium_seconds=6000, price=price, transaction_id=f"purchase:{name}",
                customer_id=profile.customer_id, payment_method_id=card["id"], timezone="UTC")
            payments.record_pending(purchase)
            made.append(purchase)
        with webhooks_paused(stripe_emulator, live_app_url):
            intent = charge_off_session(
                idempotency_key="purchase:pur_lost_a", amount_cents=price.amount_cents,
                customer_id=profile.customer_id, payment_method_id=card["id"],
                metadata={"purchase_id": "pur_lost_a", "agency_id": agency.agency_id,
                          "subaccount_id": sid, "source": "purchase"},
                description="purchase pur_lost_a")
            payments.mark_waiting(made[0], intent.payment_intent_id, "processing")
            counts = payments.finish_pending_purchases(utcnow() + timedelta(minutes=11))
        assert counts["succeeded"] == 1 and counts["failed"] == 1
        assert seconds(agency, sid) == 6000
        assert get_purchase(agency.agency_id, "pur_lost_a").status == "succeeded"
        interrupted = get_purchase(agency.agency_id, "pur_lost_b")
        assert interrupted.status == "failed" and interrupted.failure_code == "interrupted"
        again = payments.finish_pending_purchases(utcnow() + timedelta(minutes=11))
        assert again["processed"] == 0
        assert seconds(agency, sid) == 6000

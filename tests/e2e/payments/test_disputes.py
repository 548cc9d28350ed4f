"""Disputes and refunds of one charge, end to end (signed webhooks, the Stripe emulator's
refunds, the reconciliation job). Every expected figure comes from SPEC "Profit": a refund or
lost dispute of X out of a charge C reverses profit × X / C (micro-dollars, half up); a dispute
holds its share while open; the end state does not depend on event order or duplicates.

The purchase of ``bought``: 2,000 Premium minutes at USD 0.20 → a USD 400.00 charge, USD 80.00
profit (base 0.16).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from chalicelib.domain.ledger import Asset, card_payments, platform_revenue
from chalicelib.store.ledger import read_balance
from devstack.stripe_wire import fixture as stripe_example
from tests.e2e.connect.test_reconciliation import reconcile
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
)
from tests.e2e.payments.test_webhooks import bought, decide_dispute, open_dispute, refund
from tests.helpers import call, create_agency
from tests.ledger_support import assert_ledger_consistent
from tests.stripe_fixtures import wait_for

MINUTE = 60


def charge_of(stripe_emulator: str, intent_id: str) -> str:
    """The charge id of a PaymentIntent, as Stripe reports it."""
    answer = requests.get(f"{stripe_emulator}/v1/payment_intents/{intent_id}",
                          headers=STRIPE_HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["latest_charge"]


def dispute_object(purchase: dict[str, Any], charge_id: str, dispute_id: str, amount: int,
                   status: str) -> dict[str, Any]:
    """Stripe's example dispute, about our charge."""
    dispute = stripe_example("dispute")  # Stripe's own example, vendored in devstack/
    dispute.update(id=dispute_id, amount=amount, currency="usd", charge=charge_id,
                   payment_intent=purchase["payment_intent_id"], status=status,
                   reason="fraudulent", is_charge_refundable=False)
    return dispute


def deliver(client: Any, event_type: str, obj: dict[str, Any]) -> None:
    """One signed event, under a fresh event id every time."""
    payload, header = signed_event(event_type, obj)
    answer = post_webhook(client, payload, header)
    assert answer.status == 200, answer.body


def available_profit(client: Any, token: str) -> str:
    """The overview's available profit (what the next payout would pay)."""
    answer = call(client, "GET", "/v1/agency/overview", token=token)
    assert answer.status == 200, answer.body
    return answer.body["available_profit_usd"]


def cash(agency: Any, sid: str) -> int:
    """Card money kept by the platform for the sub-account (negative: came in)."""
    return read_balance(agency.agency_id, card_payments(sid), Asset.USD).balance


class Charge:
    """The bought purchase and its Stripe charge, with helpers to dispute it.

    Disputes are named by the test (``dp_a``…) and opened at Stripe on first use, each under
    Stripe's own id; Stripe decides one before its ``closed`` event is delivered. The
    emulator's own events are held back: each test delivers the events it means to, in its
    order.
    """

    def __init__(self, client: Any, stripe_emulator: str, live_app_url: str) -> None:
        self.client, self.emulator, self.live_app_url = client, stripe_emulator, live_app_url
        self.agency, self.sid, self.purchase = bought(client, stripe_emulator)
        self.charge_id = charge_of(stripe_emulator, self.purchase["payment_intent_id"])
        self.stripe_ids: dict[str, str] = {}
        self.decided: set[str] = set()

    def _stripe_id(self, name: str, amount: int, inquiry: bool) -> str:
        if name not in self.stripe_ids:
            self.stripe_ids[name] = open_dispute(
                self.emulator, self.live_app_url, self.purchase["payment_intent_id"], amount,
                status="warning_needs_response" if inquiry else "needs_response")
        return self.stripe_ids[name]

    def dispute(self, event_type: str, dispute_id: str, amount: int, status: str) -> None:
        deliver(self.client, event_type,
                dispute_object(self.purchase, self.charge_id, dispute_id, amount, status))

    def created(self, name: str, amount: int) -> None:
        self.dispute("charge.dispute.created", self._stripe_id(name, amount, False), amount,
                     "needs_response")

    def closed(self, name: str, amount: int, outcome: str) -> None:
        dispute_id = self._stripe_id(name, amount, outcome == "warning_closed")
        if dispute_id not in self.decided:
            decide_dispute(self.emulator, self.live_app_url, dispute_id, outcome)
            self.decided.add(dispute_id)
        self.dispute("charge.dispute.closed", dispute_id, amount, outcome)

    @property
    def available(self) -> str:
        return available_profit(self.client, self.agency.owner_token)

    @property
    def held(self) -> int:
        return held(self.agency, self.purchase["id"])

    @property
    def minutes_left(self) -> int:
        return seconds(self.agency, self.sid)


class TestPartialDispute:
    def test_a_partially_lost_dispute_strands_no_profit(self, app_client, stripe_emulator,
                                                         live_app_url) -> None:
        charge = Charge(app_client, stripe_emulator, live_app_url)
        charge.created("dp_partial_lost", 10_000)  # USD 100 of the USD 400 charge
        assert charge.held == 20_000_000  # its share: 80 × 100 / 400
        assert charge.available == "60.00"
        charge.closed("dp_partial_lost", 10_000, "lost")
        assert charge.available == "60.00"  # 80 − 20: the share of the lost USD 100
        assert charge.held == 0
        assert charge.minutes_left == 1500 * MINUTE  # the lost quarter of the minutes
        assert cash(charge.agency, charge.sid) == -300_000_000
        assert_ledger_consistent()

    def test_a_won_partial_dispute_gives_back_exactly_its_hold(self, app_client,
                                                               stripe_emulator,
                                                               live_app_url) -> None:
        charge = Charge(app_client, stripe_emulator, live_app_url)
        charge.created("dp_partial_won", 10_000)
        assert charge.available == "60.00"
        charge.closed("dp_partial_won", 10_000, "won")
        assert charge.available == "80.00"
        assert charge.held == 0
        assert charge.minutes_left == 2000 * MINUTE
        assert_ledger_consistent()


class TestRefundShare:
    def test_a_partial_refund_reverses_its_share_of_the_profit_half_up(
            self, app_client, stripe_emulator) -> None:
        # 7 Premium minutes at USD 0.17: a USD 1.19 charge, USD 0.07 profit (base 0.16).
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, premium="0.17")
        add_card(app_client, agency.owner_token, sid)
        answer = buy(app_client, agency.owner_token, sid, minutes=7)
        assert answer.status == 201, answer.body
        assert answer.body["amount_usd"] == "1.19" and answer.body["profit_usd"] == "0.07"
        refund(stripe_emulator, answer.body["payment_intent_id"], 3)
        # 70,000 × 3 / 119 = 1,764.7… → 1,765 micro-dollars reversed (half up).
        wait_for(lambda: profit(agency) != 70_000)
        assert profit(agency) == 70_000 - 1_765
        assert_ledger_consistent()


#: Two disputes on one charge: A (USD 100) is lost, B (USD 200) is won.
A_CREATED = ("dp_a", 10_000, "created")
A_LOST = ("dp_a", 10_000, "lost")
B_CREATED = ("dp_b", 20_000, "created")
B_WON = ("dp_b", 20_000, "won")
ORDERS = {
    "in_order": [A_CREATED, A_LOST, B_CREATED, B_WON],
    "closed_first": [A_LOST, B_WON, A_CREATED, B_CREATED],
    "interleaved": [B_CREATED, A_LOST, B_WON, A_CREATED],
    "reversed": [B_WON, B_CREATED, A_LOST, A_CREATED],
}


class TestDisputeEventOrder:
    @pytest.mark.parametrize("outcome", ["won", "warning_closed", "lost"])
    def test_a_dispute_closed_before_its_created_event_strands_no_profit(
            self, app_client, stripe_emulator, live_app_url, outcome: str) -> None:
        charge = Charge(app_client, stripe_emulator, live_app_url)
        for _ in range(2):  # each delivered twice, under different event ids
            charge.closed("dp_late", 10_000, outcome)
        for _ in range(2):
            charge.created("dp_late", 10_000)
        assert charge.held == 0
        if outcome == "lost":
            assert charge.available == "60.00"
            assert charge.minutes_left == 1500 * MINUTE
        else:
            assert charge.available == "80.00"
            assert charge.minutes_left == 2000 * MINUTE
        assert_ledger_consistent()

    @pytest.mark.parametrize("order", list(ORDERS), ids=list(ORDERS))
    def test_dispute_events_in_any_order_and_twice_end_in_the_same_state(
            self, app_client, stripe_emulator, live_app_url, order: str) -> None:
        charge = Charge(app_client, stripe_emulator, live_app_url)
        for dispute_id, amount, step in ORDERS[order]:
            for _ in range(2):
                if step == "created":
                    charge.created(dispute_id, amount)
                else:
                    charge.closed(dispute_id, amount, step)
        assert charge.held == 0
        assert charge.available == "60.00"  # 80 − the share of the lost USD 100
        assert charge.minutes_left == 1500 * MINUTE
        assert cash(charge.agency, charge.sid) == -300_000_000
        assert_ledger_consistent()


class TestLostDisputeIsNotARefund:
    def test_a_lost_dispute_is_not_reported_as_a_refund_mismatch(
            self, app_client, stripe_emulator, live_app_url) -> None:
        from datetime import UTC, datetime, timedelta

        requests.post(f"{stripe_emulator}/_devstack/reset", timeout=10)
        charge = Charge(app_client, stripe_emulator, live_app_url)
        charge.created("dp_recon", 10_000)
        charge.closed("dp_recon", 10_000, "lost")
        summary = reconcile(app_client, datetime.now(UTC) + timedelta(minutes=1))
        assert summary["differences"] == []
        assert summary["failed"] == 0, summary

    def test_a_refund_after_a_lost_dispute_reverses_its_share_never_more_than_the_charge(
            self, app_client, stripe_emulator, live_app_url) -> None:
        from datetime import UTC, datetime, timedelta

        requests.post(f"{stripe_emulator}/_devstack/reset", timeout=10)
        charge = Charge(app_client, stripe_emulator, live_app_url)
        charge.created("dp_then_refund", 10_000)
        charge.closed("dp_then_refund", 10_000, "lost")
        assert charge.available == "60.00"

        refund(stripe_emulator, charge.purchase["payment_intent_id"], 10_000)
        wait_for(lambda: charge.available == "40.00")  # another quarter: 80 × 200 / 400
        assert charge.minutes_left == 1000 * MINUTE
        assert cash(charge.agency, charge.sid) == -200_000_000
        summary = reconcile(app_client, datetime.now(UTC) + timedelta(minutes=1))
        assert summary["differences"] == [], summary

        # Stripe's amount_refunded leaves disputes out, so refunds can reach the whole
        # charge: together with the lost dispute, never more than the charge comes back.
        refund(stripe_emulator, charge.purchase["payment_intent_id"], 30_000)
        wait_for(lambda: charge.available == "0.00")
        assert charge.minutes_left == 0
        assert cash(charge.agency, charge.sid) == 0
        usd = Asset.USD
        assert read_balance(charge.agency.agency_id, platform_revenue(charge.sid),
                            usd).balance == 0
        assert charge.held == 0
        summary = reconcile(app_client, datetime.now(UTC) + timedelta(minutes=1))
        assert summary["differences"] == [], summary
        assert_ledger_consistent()


class TestConcurrentDeliveries:
    def test_concurrent_events_about_one_dispute_all_succeed_and_hold_once(
            self, app_client, stripe_emulator, live_app_url) -> None:
        """Stripe may deliver several events about one dispute at the same moment (a
        ``created`` and its retry, an ``updated``): each is answered 200 and the dispute holds
        its share once. A delivery that loses the race reads again instead of answering 409."""
        charge = Charge(app_client, stripe_emulator, live_app_url)
        dispute_id = charge._stripe_id("dp_race", 10_000, False)
        obj = dispute_object(charge.purchase, charge.charge_id, dispute_id, 10_000,
                             "needs_response")
        events = [signed_event("charge.dispute.created", obj) for _ in range(6)]
        gate = threading.Barrier(len(events))

        def deliver_one(event: tuple[bytes, str]) -> int:
            payload, header = event
            gate.wait()
            return requests.post(f"{live_app_url}/v1/stripe/webhook", data=payload, timeout=60,
                                 headers={"Stripe-Signature": header,
                                          "Content-Type": "application/json"}).status_code

        with ThreadPoolExecutor(len(events)) as pool:
            statuses = list(pool.map(deliver_one, events))
        assert statuses == [200] * len(events)
        assert charge.held == 20_000_000  # 80 × 100 / 400, once
        assert charge.available == "60.00"
        assert_ledger_consistent()

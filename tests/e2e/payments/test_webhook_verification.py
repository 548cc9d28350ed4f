"""A signed event proves it came from Stripe, not that its object is current or ours (SPEC 3,
``POST /v1/stripe/webhook``): before money moves, the object is retrieved from Stripe and
checked against what the ledger recorded; a mismatch changes nothing, is recorded as a
reconciliation finding, notifies the agency (never its clients) and still answers 200.

Every forged event here is correctly signed with the webhook secret: only its content lies.
The purchase of ``bought``: 2,000 Premium minutes at USD 0.20, a USD 400.00 charge and USD 80.00
of profit (SPEC "Purchase": charge = N × price, profit = charge − N × base 0.16).
"""

from __future__ import annotations

import json
from typing import Any

import requests

from chalicelib.domain.ledger import Asset, card_payments
from chalicelib.store import keys
from chalicelib.store.findings import ReconciliationReport
from chalicelib.store.ledger import read_balance
from tests.conftest import TEST_ENV
from tests.e2e.payments.support import (
    STRIPE_HEADERS,
    add_card,
    buy,
    held,
    new_subaccount,
    payment_intents_for,
    post_webhook,
    profit,
    seconds,
    signed_event,
    stripe_events,
    webhooks_paused,
)
from tests.e2e.payments.test_webhooks import bought
from tests.helpers import AgencyFixture, call, create_agency
from tests.ledger_support import assert_ledger_consistent
from tests.stripe_fixtures import wait_for

MINUTE = 60
FULL_PROFIT = 80_000_000  # USD 80.00 of the USD 400.00 charge


def stripe_get(base: str, path: str) -> dict[str, Any]:
    answer = requests.get(f"{base}{path}", headers=STRIPE_HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def stripe_post(base: str, path: str, **form: Any) -> dict[str, Any]:
    answer = requests.post(f"{base}{path}", data=form, headers=STRIPE_HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def deliver(client: Any, event_type: str, obj: dict[str, Any]) -> tuple[str, Any]:
    """A signed event under a fresh id; returns its id and the answer."""
    payload, header = signed_event(event_type, obj)
    return json.loads(payload)["id"], post_webhook(client, payload, header)


def deliver_recorded(client: Any, event: dict[str, Any]) -> Any:
    """An event the emulator recorded, delivered as Stripe signs it."""
    from devstack.stripe_webhooks import signature_header

    payload = json.dumps(event).encode()
    return post_webhook(client, payload, signature_header(payload,
                                                          TEST_ENV["STRIPE_WEBHOOK_SECRET"]))


def recorded(base: str, event_type: str, object_id: str) -> dict[str, Any]:
    """The emulator's event of ``event_type`` about ``object_id``."""
    return wait_for(lambda: next((e for e in stripe_events(base, event_type)
                                  if e["data"]["object"]["id"] == object_id), None))


def findings_of(event_id: str) -> list[dict[str, Any]]:
    """Reconciliation findings about one event (the operator reads the one partition)."""
    return [difference for report in ReconciliationReport.query(keys.RECONCILIATION_PK)
            for difference in report.differences if difference.get("event_id") == event_id]


def notification_types(client: Any, token: str) -> list[str]:
    answer = call(client, "GET", "/v1/notifications", token=token)
    assert answer.status == 200, answer.body
    return [n["type"] for n in answer.body["notifications"]]


def assert_recorded_and_notified(client: Any, agency: AgencyFixture, event_id: str,
                                 answer: Any) -> None:
    """The mismatch answered 200, left one finding for the agency and told its owner."""
    assert answer.status == 200, answer.body
    [finding] = findings_of(event_id)
    assert finding["agency_id"] == agency.agency_id
    assert "stripe_event_mismatch" in notification_types(client, agency.owner_token)


def pending_purchase(agency: AgencyFixture, sid: str, purchase_id: str, minutes: int) -> Any:
    """A purchase recorded before Stripe was called, whose request died there (the webhook
    is what would finish it)."""
    from chalicelib.services import payments
    from chalicelib.store.accounts import Subaccount
    from chalicelib.store.payments import get_profile

    sub = Subaccount.get(keys.agency_pk(agency.agency_id), keys.subaccount_sk(sid))
    profile = get_profile(agency.agency_id, sid)
    price = payments.price_purchase(minutes, sub.price_premium, 160_000)
    purchase = payments.new_purchase(
        agency_id=agency.agency_id, purchase_id=purchase_id, source="purchase",
        subaccount_id=sid, payer_subaccount_id=sid, tier="premium", basic_seconds=0,
        premium_seconds=minutes * MINUTE, price=price, transaction_id=f"purchase:{purchase_id}",
        customer_id=profile.customer_id, payment_method_id=profile.default_payment_method,
        timezone="UTC")
    payments.record_pending(purchase)
    return purchase


def purchase_status(agency: AgencyFixture, purchase_id: str) -> str:
    from chalicelib.store.payments import get_purchase

    return get_purchase(agency.agency_id, purchase_id).status


class TestForgedSucceededEvent:
    def test_a_succeeded_event_forged_from_a_declined_intent_credits_nothing(
            self, app_client, stripe_emulator) -> None:
        """The reviewer's reproduction: a declined purchase's real PaymentIntent with its
        status flipped to ``succeeded``, correctly signed."""
        from chalicelib.services.payments import purchase_id_for
        from chalicelib.store.payments import get_profile
        from tests.e2e.identity.support import join

        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, premium="0.20")
        add_card(app_client, agency.owner_token, sid, "pm_card_chargeCustomerFail")
        declined = buy(app_client, agency.owner_token, sid, minutes=100, key="declined")
        assert declined.status == 402, declined.body
        purchase_id = purchase_id_for(agency.agency_id, sid, agency.owner_id, "declined")
        customer = get_profile(agency.agency_id, sid).customer_id
        [intent] = payment_intents_for(stripe_emulator, customer)
        assert intent["status"] == "requires_payment_method"

        event_id, answer = deliver(app_client, "payment_intent.succeeded",
                                   {**intent, "status": "succeeded"})

        assert_recorded_and_notified(app_client, agency, event_id, answer)
        assert seconds(agency, sid) == 0
        assert profit(agency) == 0
        assert purchase_status(agency, purchase_id) == "failed"
        client_admin = join(app_client, agency.owner_token, "subaccount_admin",
                            access="specific", subaccount_ids=[sid])
        assert "stripe_event_mismatch" not in notification_types(app_client,
                                                                 client_admin.token)
        assert_ledger_consistent()

    def test_a_real_intent_relabelled_as_another_agencys_purchase_credits_nothing(
            self, app_client, stripe_emulator) -> None:
        """Agency A's real succeeded charge, its metadata pointing at agency B's pending
        purchase of the same amount."""
        agency_a, _sid_a, purchase_a = bought(app_client, stripe_emulator)
        agency_b = create_agency(app_client)
        sid_b = new_subaccount(app_client, agency_b, premium="0.20")
        add_card(app_client, agency_b.owner_token, sid_b)
        pending_purchase(agency_b, sid_b, "pur_victim", 2000)
        intent = stripe_get(stripe_emulator,
                            f"/v1/payment_intents/{purchase_a['payment_intent_id']}")
        relabelled = {**intent, "metadata": {"purchase_id": "pur_victim",
                                             "agency_id": agency_b.agency_id,
                                             "subaccount_id": sid_b, "source": "purchase"}}

        event_id, answer = deliver(app_client, "payment_intent.succeeded", relabelled)

        assert_recorded_and_notified(app_client, agency_b, event_id, answer)
        assert seconds(agency_b, sid_b) == 0
        assert purchase_status(agency_b, "pur_victim") == "pending"
        assert profit(agency_a) == FULL_PROFIT  # A's own purchase is untouched

    def test_an_intent_whose_amount_is_not_the_purchases_credits_nothing(
            self, app_client, stripe_emulator, live_app_url) -> None:
        """A real, genuinely signed event of an intent that names our pending purchase of
        USD 200.00 but charged USD 0.50."""
        from chalicelib.store.payments import get_profile
        from chalicelib.stripe_gateway.payments import charge_off_session

        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, premium="0.20")
        add_card(app_client, agency.owner_token, sid)
        purchase = pending_purchase(agency, sid, "pur_underpaid", 1000)
        profile = get_profile(agency.agency_id, sid)
        with webhooks_paused(stripe_emulator, live_app_url):
            cheap = charge_off_session(
                idempotency_key="cheap:pur_underpaid", amount_cents=50,
                customer_id=profile.customer_id, payment_method_id=purchase.payment_method_id,
                metadata={"purchase_id": "pur_underpaid", "agency_id": agency.agency_id,
                          "subaccount_id": sid, "source": "purchase"},
                description="purchase pur_underpaid")
            event = recorded(stripe_emulator, "payment_intent.succeeded",
                             cheap.payment_intent_id)

        answer = deliver_recorded(app_client, event)

        assert_recorded_and_notified(app_client, agency, event["id"], answer)
        assert seconds(agency, sid) == 0
        assert purchase_status(agency, "pur_underpaid") == "pending"


class TestRefundEvents:
    def test_a_refund_event_with_an_inflated_amount_refunded_reverses_nothing(
            self, app_client, stripe_emulator) -> None:
        agency, sid, purchase = bought(app_client, stripe_emulator)
        intent = stripe_get(stripe_emulator,
                            f"/v1/payment_intents/{purchase['payment_intent_id']}")
        charge = stripe_get(stripe_emulator, f"/v1/charges/{intent['latest_charge']}")
        assert charge["amount_refunded"] == 0

        event_id, answer = deliver(app_client, "charge.refunded",
                                   {**charge, "amount_refunded": 40_000, "refunded": True})

        assert_recorded_and_notified(app_client, agency, event_id, answer)
        assert seconds(agency, sid) == 2000 * MINUTE
        assert profit(agency) == FULL_PROFIT
        assert read_balance(agency.agency_id, card_payments(sid), Asset.USD).balance == \
            -400_000_000

    def test_a_late_refund_event_applies_what_stripe_has_refunded_by_now(
            self, app_client, stripe_emulator, live_app_url) -> None:
        """Two refunds (USD 100, then USD 200) whose events were not delivered; the first
        event arrives late: Stripe's cumulative USD 300 is what is reversed, and the second
        event changes nothing more."""
        agency, sid, purchase = bought(app_client, stripe_emulator)
        intent_id = purchase["payment_intent_id"]
        with webhooks_paused(stripe_emulator, live_app_url):
            stripe_post(stripe_emulator, "/v1/refunds", payment_intent=intent_id, amount=10_000)
            stripe_post(stripe_emulator, "/v1/refunds", payment_intent=intent_id, amount=20_000)
            events = wait_for(lambda: (lambda found: found if len(found) == 2 else None)(
                [e for e in stripe_events(stripe_emulator, "charge.refunded")
                 if e["data"]["object"]["payment_intent"] == intent_id]))
        first, second = sorted(events, key=lambda e: e["data"]["object"]["amount_refunded"])
        assert first["data"]["object"]["amount_refunded"] == 10_000

        assert deliver_recorded(app_client, first).status == 200
        # Profit × 300 / 400 reversed; three quarters of the 2,000 unused minutes back.
        assert profit(agency) == 20_000_000
        assert seconds(agency, sid) == 500 * MINUTE
        assert deliver_recorded(app_client, second).status == 200
        assert profit(agency) == 20_000_000
        assert seconds(agency, sid) == 500 * MINUTE
        assert_ledger_consistent()


class Disputed:
    """The bought purchase, its charge, and a dispute opened on it at Stripe (its own event
    not delivered: each test delivers what it means to)."""

    def __init__(self, client: Any, emulator: str, live_app_url: str, amount: int) -> None:
        self.client, self.emulator, self.live_app_url = client, emulator, live_app_url
        self.agency, self.sid, self.purchase = bought(client, emulator)
        intent = stripe_get(emulator, f"/v1/payment_intents/{self.purchase['payment_intent_id']}")
        self.charge_id = intent["latest_charge"]
        with webhooks_paused(emulator, live_app_url):
            self.dispute = stripe_post(emulator,
                                       f"/v1/test_helpers/charges/{self.charge_id}/dispute",
                                       amount=amount)

    def decide(self, status: str) -> None:
        with webhooks_paused(self.emulator, self.live_app_url):
            self.dispute = stripe_post(
                self.emulator, f"/v1/test_helpers/disputes/{self.dispute['id']}/close",
                status=status)

    @property
    def held(self) -> int:
        return held(self.agency, self.purchase["id"])


class TestDisputeEvents:
    def test_a_closed_event_claiming_won_acts_on_the_loss_stripe_reports(
            self, app_client, stripe_emulator, live_app_url) -> None:
        disputed = Disputed(app_client, stripe_emulator, live_app_url, 40_000)
        _, created = deliver(app_client, "charge.dispute.created", disputed.dispute)
        assert created.status == 200, created.body
        assert disputed.held == FULL_PROFIT
        disputed.decide("lost")

        _, answer = deliver(app_client, "charge.dispute.closed",
                            {**disputed.dispute, "status": "won"})

        assert answer.status == 200, answer.body
        assert disputed.held == 0
        assert profit(disputed.agency) == 0  # the whole charge was lost: all its profit
        assert seconds(disputed.agency, disputed.sid) == 0
        assert read_balance(disputed.agency.agency_id, card_payments(disputed.sid),
                            Asset.USD).balance == 0
        assert_ledger_consistent()

    def test_a_dispute_stripe_does_not_have_holds_nothing(self, app_client,
                                                          stripe_emulator) -> None:
        agency, _sid, purchase = bought(app_client, stripe_emulator)
        intent = stripe_get(stripe_emulator,
                            f"/v1/payment_intents/{purchase['payment_intent_id']}")
        forged = {"id": "dp_never_opened", "object": "dispute", "amount": 40_000,
                  "currency": "usd", "charge": intent["latest_charge"],
                  "payment_intent": intent["id"], "status": "needs_response",
                  "reason": "fraudulent"}

        event_id, answer = deliver(app_client, "charge.dispute.created", forged)

        assert_recorded_and_notified(app_client, agency, event_id, answer)
        assert held(agency, purchase["id"]) == 0
        assert profit(agency) == FULL_PROFIT

    def test_real_dispute_events_apply_exactly_once(self, app_client, stripe_emulator) -> None:
        """Stripe's own events, delivered by the emulator and then once more each."""
        agency, sid, purchase = bought(app_client, stripe_emulator)
        intent = stripe_get(stripe_emulator,
                            f"/v1/payment_intents/{purchase['payment_intent_id']}")
        dispute = stripe_post(stripe_emulator,
                              f"/v1/test_helpers/charges/{intent['latest_charge']}/dispute",
                              amount=10_000)
        wait_for(lambda: held(agency, purchase["id"]) == 20_000_000)  # 80 × 100 / 400
        stripe_post(stripe_emulator, f"/v1/test_helpers/disputes/{dispute['id']}/close",
                    status="lost")
        wait_for(lambda: held(agency, purchase["id"]) == 0)
        assert profit(agency) == 60_000_000
        assert seconds(agency, sid) == 1500 * MINUTE
        for event_type in ("charge.dispute.created", "charge.dispute.closed"):
            event = recorded(stripe_emulator, event_type, dispute["id"])
            again = deliver_recorded(app_client, event)
            assert again.status == 200 and again.body.get("duplicate") is True, again.body
            _, fresh = deliver(app_client, event_type, event["data"]["object"])
            assert fresh.status == 200, fresh.body
        assert profit(agency) == 60_000_000
        assert seconds(agency, sid) == 1500 * MINUTE
        assert_ledger_consistent()


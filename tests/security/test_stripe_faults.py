"""Stripe faults: 500s, timeouts and connections dropped after the charge was made.

The app's Stripe client goes through ``fault_proxy.FaultProxy`` in front of the emulator
(the emulator's webhooks still reach the app directly, as Stripe's would). Each scenario
breaks purchases in one way; afterwards, with the webhook and the reconciliation job, every
charge Stripe made has exactly its minutes and every credited minute its charge — checked
per scenario and, at the end, over the whole agency against Stripe's own records.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.conftest import ROOT, TEST_ENV, reset_table
from tests.helpers import AgencyFixture, Answer, call, create_agency
from tests.security.fault_proxy import FaultProxy, app_stripe_through
from tests.security.support import intents_by_purchase
from tests.stripe_fixtures import wait_for

INTENTS = r"^/v1/payment_intents$"
MINUTES = 50  # 50 Premium minutes at USD 0.25: USD 12.50
_n = itertools.count(1)


@dataclass
class Shop:
    """An agency whose Stripe calls go through the fault proxy."""

    client: Any
    agency: AgencyFixture
    proxy: FaultProxy
    emulator: str
    live_app_url: str

    def sub_with_card(self) -> str:
        """A fresh sub-account with a saved card (attached through the proxy)."""
        n = next(_n)
        made = call(self.client, "POST", "/v1/subaccounts", token=self.agency.owner_token,
                    body={"name": f"Faulty {n}", "login_email": f"faulty{n}@c.example.com",
                          "prices": {"basic": "0.15", "premium": "0.25"}})
        assert made.status == 201, made.body
        card = call(self.client, "POST", f"/v1/subaccounts/{made.body['id']}/payment-methods",
                    token=self.agency.owner_token, body={"payment_method": "pm_card_visa"})
        assert card.status == 201, card.body
        return made.body["id"]

    def buy(self, sid: str, key: str) -> Answer:
        """``POST …/purchases`` of 50 Premium minutes with an Idempotency-Key."""
        return call(self.client, "POST", f"/v1/subaccounts/{sid}/purchases",
                    token=self.agency.owner_token, body={"tier": "premium", "minutes": MINUTES},
                    headers={"Idempotency-Key": key})

    def seconds(self, sid: str) -> int:
        """Premium seconds in the wallet."""
        from chalicelib.domain.ledger import Asset, wallet
        from chalicelib.store.ledger import read_balance

        return read_balance(self.agency.agency_id, wallet(sid), Asset.PREMIUM_MINUTES).balance

    def purchase(self, sid: str, key: str) -> Any:
        """Our purchase row for that key."""
        from chalicelib.services.payments import purchase_id_for
        from chalicelib.store.payments import get_purchase

        return get_purchase(self.agency.agency_id,
                            purchase_id_for(self.agency.agency_id, sid, self.agency.owner_id,
                                            key))

    def charges_for(self, sid: str, key: str) -> set[str]:
        """Succeeded PaymentIntents Stripe holds for that purchase."""
        purchase_id = self.purchase(sid, key).purchase_id
        return intents_by_purchase(self.emulator, self.agency.agency_id).get(purchase_id, set())

    def reconcile(self, minutes_later: int = 11) -> dict[str, Any]:
        """Run the reconciliation job as if the clock read now + ``minutes_later``."""
        as_of = (datetime.now(UTC) + timedelta(minutes=minutes_later)).isoformat()
        answer = call(self.client, "POST", "/v1/platform/jobs/reconciliation/runs",
                      platform=True, body={"as_of": as_of})
        assert answer.status == 200, answer.body
        return answer.body


@pytest.fixture(scope="module")
def shop(stripe_emulator: str, live_app_url: str) -> Iterator[Shop]:
    """A fresh table, an agency, and the app's Stripe traffic through the proxy."""
    from chalice.test import Client
    from stripe._http_client import HTTPClient

    from app import app

    reset_table()
    proxy = FaultProxy(stripe_emulator, hold_seconds=1.2)
    with pytest.MonkeyPatch.context() as patch, \
            app_stripe_through(proxy, timeout_seconds=0.5), \
            Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        # stripe-python's own retry policy, with its back-off shortened for the suite
        patch.setattr(HTTPClient, "INITIAL_DELAY", 0.05)
        patch.setattr(HTTPClient, "MAX_DELAY", 0.2)
        yield Shop(client, create_agency(client), proxy, stripe_emulator, live_app_url)


@pytest.fixture(autouse=True)
def no_leftover_faults(shop: Shop) -> Iterator[None]:
    """Each scenario arms its own faults."""
    shop.proxy.disarm()
    yield
    shop.proxy.disarm()


def webhooks_off(emulator: str) -> None:
    """Stop the emulator's deliveries (events are still recorded)."""
    requests.delete(f"{emulator}/_config/webhooks/default", timeout=10)


def webhooks_on(emulator: str, live_app_url: str) -> None:
    """Deliver again to the app's webhook route."""
    requests.post(f"{emulator}/_config/webhooks/default", timeout=10, data={
        "url": f"{live_app_url}/v1/stripe/webhook",
        "secret": TEST_ENV["STRIPE_WEBHOOK_SECRET"]})


def redeliver_succeeded(emulator: str, intent_ids: set[str]) -> None:
    """Stripe retries a webhook it could not deliver: send those events again."""
    answer = requests.get(f"{emulator}/_devstack/events",
                          params={"type": "payment_intent.succeeded"}, timeout=10)
    for event in answer.json()["data"]:
        if event["data"]["object"]["id"] in intent_ids:
            requests.post(f"{emulator}/_devstack/events/{event['id']}/redeliver", timeout=10)


class TestFaultBeforeTheCharge:
    @pytest.mark.parametrize("mode", ["error_500", "drop_before", "timeout_before"])
    def test_nothing_charged_nothing_credited_and_a_retry_charges_once(self, shop: Shop,
                                                                       mode: str) -> None:
        sid, key = shop.sub_with_card(), f"before-{mode}"
        shop.proxy.arm("POST", INTENTS, mode, times=3)  # the first try and both retries
        answer = shop.buy(sid, key)
        assert answer.status == 503, answer.body
        assert answer.error_code == "temporarily_unavailable"
        assert answer.headers.get("Retry-After") == "2"
        assert not [s for s in shop.proxy.seen("POST", INTENTS) if s.forwarded]
        assert shop.seconds(sid) == 0
        shop.reconcile()
        assert shop.seconds(sid) == 0 and not shop.charges_for(sid, key)
        retry = shop.buy(sid, key)  # the caller retries with its key once Stripe is back
        assert retry.status in (201, 402, 409, 422), retry.body
        if retry.status == 201:
            assert shop.seconds(sid) == MINUTES * 60
            assert len(shop.charges_for(sid, key)) == 1
        else:  # the reconciliation closed the purchase: a retry must not charge either
            assert shop.seconds(sid) == 0 and not shop.charges_for(sid, key)


class TestFaultAfterTheCharge:
    @pytest.mark.parametrize("mode", ["error_500_after", "drop_after", "timeout_after"])
    def test_the_webhook_credits_the_charge_exactly_once(self, shop: Shop, mode: str) -> None:
        """Stripe charged, the app never heard: the webhook credits it; a retry by the
        caller and a reconciliation run change nothing."""
        sid, key = shop.sub_with_card(), f"after-{mode}"
        shop.proxy.arm("POST", INTENTS, mode, times=3)
        answer = shop.buy(sid, key)
        assert answer.status in (202, 503), answer.body
        forwarded = [s for s in shop.proxy.seen("POST", INTENTS) if s.forwarded
                     and s.idempotency_key and s.idempotency_key.endswith(
                         shop.purchase(sid, key).purchase_id)]
        assert len(forwarded) == 3  # three attempts, one idempotency key
        wait_for(lambda: shop.seconds(sid) == MINUTES * 60)
        assert len(shop.charges_for(sid, key)) == 1
        retry = shop.buy(sid, key)
        assert retry.status == 201, retry.body
        shop.reconcile()
        assert shop.seconds(sid) == MINUTES * 60
        assert len(shop.charges_for(sid, key)) == 1
        assert shop.purchase(sid, key).status == "succeeded"

    def test_a_single_lost_answer_is_healed_by_the_clients_own_retry(self, shop: Shop) -> None:
        """Only the first attempt's answer is lost: stripe-python retries with the same
        idempotency key and Stripe replays the charge instead of making a second one."""
        sid, key = shop.sub_with_card(), "after-once"
        shop.proxy.arm("POST", INTENTS, "drop_after", times=1)
        answer = shop.buy(sid, key)
        assert answer.status == 201, answer.body
        assert shop.seconds(sid) == MINUTES * 60
        assert len(shop.charges_for(sid, key)) == 1

    def test_lost_answer_and_lost_webhook_are_healed_by_stripes_retry(self, shop: Shop
                                                                      ) -> None:
        """The webhook endpoint is down too: reconciliation runs (and must not lose or
        double anything); when Stripe delivers the event again, the minutes arrive once."""
        sid, key = shop.sub_with_card(), "after-no-webhook"
        webhooks_off(shop.emulator)
        try:
            shop.proxy.arm("POST", INTENTS, "drop_after", times=3)
            answer = shop.buy(sid, key)
            assert answer.status == 503, answer.body
            charged = shop.charges_for(sid, key)
            assert len(charged) == 1
            summary = shop.reconcile()
            assert summary["job"] == "reconciliation"
            assert shop.seconds(sid) in (0, MINUTES * 60)
        finally:
            webhooks_on(shop.emulator, shop.live_app_url)
        redeliver_succeeded(shop.emulator, charged)
        wait_for(lambda: shop.seconds(sid) == MINUTES * 60)
        redeliver_succeeded(shop.emulator, charged)  # and once more: still once
        shop.reconcile()
        assert shop.seconds(sid) == MINUTES * 60
        assert shop.purchase(sid, key).status == "succeeded"

    def test_reconciliation_alone_credits_a_charge_whose_answer_and_webhook_were_lost(
            self, shop: Shop) -> None:
        """The safety net itself: Stripe's webhook never arrives (endpoint misconfigured
        for longer than Stripe retries); reconciliation must still give the minutes."""
        sid, key = shop.sub_with_card(), "after-reconcile-only"
        webhooks_off(shop.emulator)
        charged: set[str] = set()
        try:
            shop.proxy.arm("POST", INTENTS, "drop_after", times=3)
            assert shop.buy(sid, key).status == 503
            charged = shop.charges_for(sid, key)
            assert len(charged) == 1
            shop.reconcile()
            shop.reconcile(minutes_later=60)
            assert shop.seconds(sid) == MINUTES * 60
        finally:  # Stripe's own retry heals it, so the agency-wide check below stays whole
            webhooks_on(shop.emulator, shop.live_app_url)
            redeliver_succeeded(shop.emulator, charged)
            wait_for(lambda: shop.seconds(sid) == MINUTES * 60)


class TestFaultsOnOtherCalls:
    def test_reconciliation_survives_stripe_errors_and_finishes_later(self, shop: Shop
                                                                       ) -> None:
        """Stripe failing during the job: no 5xx, nothing moved twice; the next run is
        whole again."""
        sid, key = shop.sub_with_card(), "recon-faults"
        assert shop.buy(sid, key).status == 201
        for mode in ("error_500", "drop_after"):
            shop.proxy.arm("GET", r"^/v1/(payment_intents|charges|transfers)", mode, times=50)
            summary = shop.reconcile()
            assert summary["job"] == "reconciliation"
            shop.proxy.disarm()
        shop.reconcile()
        assert shop.seconds(sid) == MINUTES * 60
        assert len(shop.charges_for(sid, key)) == 1

    @pytest.mark.parametrize("mode", ["drop_after", "error_500"])
    def test_saving_a_card_through_faults_makes_one_card(self, shop: Shop, mode: str) -> None:
        n = next(_n)
        made = call(shop.client, "POST", "/v1/subaccounts", token=shop.agency.owner_token,
                    body={"name": f"Card {n}", "login_email": f"card{n}@c.example.com",
                          "prices": {"basic": "0.15", "premium": "0.25"}})
        sid = made.body["id"]
        shop.proxy.arm("POST", r"^/v1/(customers|payment_methods)", mode, times=3)
        first = call(shop.client, "POST", f"/v1/subaccounts/{sid}/payment-methods",
                     token=shop.agency.owner_token, body={"payment_method": "pm_card_visa"})
        assert first.status < 500 or first.error_code == "temporarily_unavailable", \
            first.body
        shop.proxy.disarm()
        again = call(shop.client, "POST", f"/v1/subaccounts/{sid}/payment-methods",
                     token=shop.agency.owner_token, body={"payment_method": "pm_card_visa"})
        assert again.status in (200, 201, 409), again.body
        cards = call(shop.client, "GET", f"/v1/subaccounts/{sid}/payment-methods",
                     token=shop.agency.owner_token)
        listed = cards.body.get("payment_methods") or cards.body.get("data") or []
        assert len(listed) == 1, cards.body
        assert shop.buy(sid, f"card-{mode}").status == 201


def test_every_charge_has_its_minutes_and_every_minute_its_charge(shop: Shop) -> None:
    """Over the whole agency after every scenario: Stripe's succeeded charges, our credited
    purchases and the ledger's purchase credits are the same set, one charge each, and each
    wallet holds exactly the minutes of its charged purchases."""
    from chalicelib.store.base import TableItem
    from chalicelib.store.ledger import LedgerEntry
    from chalicelib.store.payments import Purchase
    from tests.ledger_support import assert_ledger_consistent

    purchases, credits = [], {}
    for item in TableItem.scan():
        if isinstance(item, Purchase) and item.agency_id == shop.agency.agency_id:
            purchases.append(item)
        elif (isinstance(item, LedgerEntry) and item.agency_id == shop.agency.agency_id
              and item.transaction_id.startswith("purchase:") and item.amount > 0
              and item.account.startswith("sub:")):
            credits[item.transaction_id.removeprefix("purchase:")] = item.amount
    charges = intents_by_purchase(shop.emulator, shop.agency.agency_id)
    assert charges, "the scenarios made charges"
    assert all(len(intents) == 1 for intents in charges.values()), charges
    succeeded = {p.purchase_id for p in purchases if p.status == "succeeded"}
    assert set(charges) == succeeded == set(credits), (set(charges), succeeded, set(credits))
    for purchase in purchases:
        if purchase.purchase_id in credits:
            assert credits[purchase.purchase_id] == purchase.premium_seconds
    per_sub: dict[str, int] = {}
    for purchase in purchases:
        if purchase.status == "succeeded":
            per_sub[purchase.subaccount_id] = (per_sub.get(purchase.subaccount_id, 0)
                                               + purchase.premium_seconds)
    for sid, seconds in per_sub.items():
        assert shop.seconds(sid) == seconds, sid
    assert_ledger_consistent()

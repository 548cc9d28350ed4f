"""Reconciliation reads every page of Stripe's lists, not the first 100 objects.

A charge request that died after Stripe charged leaves its purchase ``pending`` with no
PaymentIntent id; the reconciliation job finds the intent among the customer's (newest first,
100 a page) and credits it. The primary's card pays every auto-allocation, so its customer
easily has more than 100 intents after the one looked for.
"""

from __future__ import annotations

from datetime import timedelta

import requests

from chalicelib.services import payments
from chalicelib.store import keys
from chalicelib.store.accounts import Subaccount
from chalicelib.store.base import utcnow
from chalicelib.store.payments import get_profile, get_purchase
from chalicelib.stripe_gateway.payments import charge_off_session
from tests.e2e.payments.support import (
    add_card,
    new_subaccount,
    run_job,
    seconds,
    webhooks_paused,
)
from tests.helpers import create_agency

LATER_INTENTS = 101  # more than one page of Stripe's list after the lost one


class TestReconciliationPaging:
    def test_reconciliation_finds_an_intent_beyond_the_first_hundred(
            self, app_client, stripe_emulator, live_app_url) -> None:
        requests.post(f"{stripe_emulator}/_devstack/reset", timeout=10)
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, premium="0.20")
        card = add_card(app_client, agency.owner_token, sid)
        sub = Subaccount.get(keys.agency_pk(agency.agency_id), keys.subaccount_sk(sid))
        profile = get_profile(agency.agency_id, sid)
        price = payments.price_purchase(100, sub.price_premium, 160_000)
        lost = payments.new_purchase(
            agency_id=agency.agency_id, purchase_id="pur_lost_early", source="purchase",
            subaccount_id=sid, payer_subaccount_id=sid, tier="premium", basic_seconds=0,
            premium_seconds=6000, price=price, transaction_id="purchase:pur_lost_early",
            customer_id=profile.customer_id, payment_method_id=card["id"], timezone="UTC")
        payments.record_pending(lost)
        with webhooks_paused(stripe_emulator, live_app_url):
            # Stripe charged, but neither its answer nor its webhook ever reached us.
            charge_off_session(
                idempotency_key="purchase:pur_lost_early", amount_cents=price.amount_cents,
                customer_id=profile.customer_id, payment_method_id=card["id"],
                metadata={"purchase_id": "pur_lost_early", "agency_id": agency.agency_id,
                          "subaccount_id": sid, "source": "purchase"},
                description="purchase pur_lost_early")
            for n in range(LATER_INTENTS):  # later charges of the same customer
                charge_off_session(
                    idempotency_key=f"later:{agency.agency_id}:{n}", amount_cents=100,
                    customer_id=profile.customer_id, payment_method_id=card["id"],
                    metadata={"note": f"later {n}"}, description=f"later charge {n}")
            as_of = (utcnow() + timedelta(minutes=11)).strftime("%Y-%m-%dT%H:%M:%SZ")
            summary = run_job(app_client, "reconciliation", as_of)

        assert get_purchase(agency.agency_id, "pur_lost_early").status == "succeeded"
        assert seconds(agency, sid) == 6000
        assert summary["pending_purchases"]["succeeded"] == 1, summary
        # Every charge of the period is compared, past the first page too: the later
        # charges have no purchase of ours, and each one is reported.
        kinds = [d["kind"] for d in summary["differences"]]
        assert summary["differences_total"] == LATER_INTENTS, kinds
        assert set(kinds) == {"charge_without_purchase"}


class TestEmulatorListsLikeStripe:
    def test_payment_intents_list_newest_first_in_pages_with_the_created_filter(
            self, app_client, stripe_emulator) -> None:
        import time

        from chalicelib.stripe_gateway.client import stripe_client

        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, premium="0.20")
        card = add_card(app_client, agency.owner_token, sid)
        customer = get_profile(agency.agency_id, sid).customer_id
        made = [charge_off_session(
            idempotency_key=f"list:{agency.agency_id}:{n}", amount_cents=100 + n,
            customer_id=customer, payment_method_id=card["id"], metadata={},
            description=f"list {n}").payment_intent_id for n in range(3)]
        client = stripe_client().v1.payment_intents
        first = client.list({"customer": customer, "limit": 2})
        assert first.has_more is True and len(first.data) == 2
        rest = client.list({"customer": customer, "limit": 2,
                            "starting_after": first.data[-1].id})
        assert rest.has_more is False
        listed = [pi.id for pi in [*first.data, *rest.data]]
        assert sorted(listed) == sorted(made)
        created = [pi.created for pi in [*first.data, *rest.data]]
        assert created == sorted(created, reverse=True)  # newest first
        paged = [pi.id for pi in client.list({"customer": customer, "limit": 1})
                 .auto_paging_iter()]
        assert paged == listed
        future = client.list({"customer": customer, "created": {"gte": int(time.time()) + 60}})
        assert future.data == []

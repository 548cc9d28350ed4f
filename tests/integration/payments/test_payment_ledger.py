"""Payments' ledger effects against DynamoDB (moto), without Stripe: credits, refunds,
disputes, plan renewals, and the cost of the usage hook."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime

import pytest

from chalicelib.domain.ledger import (
    AGENCY_PROFIT,
    Asset,
    card_payments,
    platform_revenue,
    profit_held,
    supply,
    wallet,
)
from chalicelib.domain.plans import BASE_COST_MICROS
from chalicelib.services import payments
from chalicelib.services.agencies import create_agency
from chalicelib.store.ledger import read_balance
from chalicelib.store.payments import Purchase, get_purchase
from chalicelib.store.transact import commit


def balance(aid: str, account: str, asset: str) -> int:
    return read_balance(aid, account, asset).balance


def succeeded_purchase(aid: str, sid: str, *, minutes: int = 2000, price: int = 200_000,
                       tier: str = "premium", source: str = "purchase") -> Purchase:
    """A purchase credited through the same ops as the request and the webhook."""
    breakdown = payments.price_purchase(minutes, price, BASE_COST_MICROS[tier])
    pid = f"pur_{uuid.uuid4().hex[:12]}"
    purchase = payments.new_purchase(
        agency_id=aid, purchase_id=pid, source=source, subaccount_id=sid,
        payer_subaccount_id=sid, tier=tier,
        basic_seconds=minutes * 60 if tier == "basic" else 0,
        premium_seconds=minutes * 60 if tier == "premium" else 0, price=breakdown,
        transaction_id=f"purchase:{pid}", customer_id="cus_test", payment_method_id="pm_test",
            timezone="UTC")
    assert payments.record_pending(purchase) is None
    commit(payments.success_ops(purchase, f"pi_{pid}", f"ch_{pid}"))
    return get_purchase(aid, pid)


@pytest.fixture
def agency(table):
    return create_agency(name="A", owner_email=f"o{uuid.uuid4().hex[:8]}@x.example.com",
                         owner_password="owner-password-1", plan="agency_pro",
                         subscription_start=date(2026, 1, 31))


class TestPricing:
    @pytest.mark.parametrize(("minutes", "price", "base", "charge", "profit"), [
        (2000, 200_000, 160_000, 400_000_000, 80_000_000),
        (1, 123_456, 100_000, 120_000, 20_000),  # $0.123456 → 12 cents, half up
        (3, 100_005, 100_000, 300_000, 0),  # rounding can eat a sub-cent margin
        (500, 100_000, 100_000, 50_000_000, 0),  # primary: base cost, no profit
    ])
    def test_charge_is_whole_cents_and_profit_is_the_rest(self, minutes, price, base, charge,
                                                          profit) -> None:
        result = payments.price_purchase(minutes, price, base)
        assert result.charge_micros == charge
        assert result.profit_micros == profit
        assert result.revenue_micros + result.profit_micros == result.charge_micros
        assert result.amount_cents * 10_000 == result.charge_micros


class TestCreditsAndReversals:
    def test_credit_is_balanced_and_once_only(self, agency) -> None:
        aid, sid = agency.agency.agency_id, agency.primary.subaccount_id
        purchase = succeeded_purchase(aid, sid, price=200_000)
        assert purchase.status == "succeeded" and purchase.DUEPK is None
        again = payments.complete(purchase, purchase.payment_intent_id, purchase.charge_id)
        assert again.status == "succeeded"
        assert balance(aid, wallet(sid), Asset.PREMIUM_MINUTES) == 120_000
        assert balance(aid, supply(sid), Asset.PREMIUM_MINUTES) == -120_000
        assert balance(aid, card_payments(sid), Asset.USD) == -400_000_000
        assert balance(aid, platform_revenue(sid), Asset.USD) == 320_000_000
        assert balance(aid, AGENCY_PROFIT, Asset.USD) == 80_000_000

    def test_refund_after_dispute_takes_the_held_profit_first(self, agency) -> None:
        from chalicelib.services.payment_events import refund_ops

        aid, sid = agency.agency.agency_id, agency.primary.subaccount_id
        purchase = succeeded_purchase(aid, sid)
        from chalicelib.domain.chargebacks import DISPUTE_CREATED
        from chalicelib.services.payment_events import dispute_ops

        # A dispute of the whole charge, as Stripe confirmed it (the webhook's check).
        commit(dispute_ops(purchase, "dp_1", None, DISPUTE_CREATED, "needs_response", 40_000))
        assert balance(aid, AGENCY_PROFIT, Asset.USD) == 0
        assert balance(aid, profit_held(purchase.purchase_id), Asset.USD) == 80_000_000
        purchase = get_purchase(aid, purchase.purchase_id)
        commit(refund_ops(purchase, purchase.charge_id, 40_000))
        assert balance(aid, profit_held(purchase.purchase_id), Asset.USD) == 0
        assert balance(aid, AGENCY_PROFIT, Asset.USD) == 0
        assert balance(aid, card_payments(sid), Asset.USD) == 0
        assert balance(aid, platform_revenue(sid), Asset.USD) == 0
        assert balance(aid, wallet(sid), Asset.PREMIUM_MINUTES) == 0
        # The same refund state again changes nothing.
        assert refund_ops(get_purchase(aid, purchase.purchase_id), purchase.charge_id,
                          40_000) == []

    def test_refund_of_spent_minutes_claws_profit_back_below_zero(self, agency) -> None:
        from chalicelib.domain.ledger import Code, LedgerTransaction, transfer, usage_sink
        from chalicelib.services.payment_events import refund_ops
        from chalicelib.store.ledger import post_transaction

        aid, sid = agency.agency.agency_id, agency.primary.subaccount_id
        purchase = succeeded_purchase(aid, sid)
        post_transaction(LedgerTransaction(  # the profit was paid out meanwhile
            agency_id=aid, transaction_id="payout:x", code=Code.PAYOUT,
            postings=transfer(AGENCY_PROFIT, "paid_out", Asset.USD, 80_000_000)))
        post_transaction(LedgerTransaction(
            agency_id=aid, transaction_id="usage:all", code=Code.USAGE,
            postings=transfer(wallet(sid), usage_sink(sid), Asset.PREMIUM_MINUTES, 120_000)))
        commit(refund_ops(purchase, purchase.charge_id, 40_000))
        assert balance(aid, wallet(sid), Asset.PREMIUM_MINUTES) == 0
        assert balance(aid, AGENCY_PROFIT, Asset.USD) == -80_000_000  # netted by next payout


class TestPlanRenewal:
    def test_concurrent_runs_credit_a_cycle_once(self, table) -> None:
        from chalicelib.services.plan_renewal import plan_renewal_sweep

        created = create_agency(name="L", owner_email="legacy@x.example.com",
                                owner_password="owner-password-1", plan="partner_legacy",
                                subscription_start=date(2026, 1, 31))
        as_of = datetime.now(UTC)
        results: list[dict] = []
        threads = [threading.Thread(target=lambda: results.append(plan_renewal_sweep(as_of)))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(r["succeeded"] for r in results) == 1
        primary = created.primary.subaccount_id
        assert balance(created.agency.agency_id, wallet(primary), Asset.PREMIUM_MINUTES) == 60_000


class TestUsageHook:
    def test_without_rules_a_debit_costs_one_batch_get(self, agency, dynamodb_calls) -> None:
        from chalicelib.services.auto_recharge import after_usage_debit

        dynamodb_calls.reset()
        after_usage_debit(agency.agency.agency_id, agency.primary.subaccount_id, "premium",
                          600, 540)
        assert dict(dynamodb_calls.calls) == {"BatchGetItem": 1}

    def test_a_credit_costs_nothing(self, agency, dynamodb_calls) -> None:
        from chalicelib.services.auto_recharge import after_usage_debit

        dynamodb_calls.reset()
        after_usage_debit(agency.agency.agency_id, agency.primary.subaccount_id, "premium",
                          540, 600)
        assert dynamodb_calls.total == 0

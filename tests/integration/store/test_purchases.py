"""The purchase and payment-profile repositories against DynamoDB (moto): a purchase saved
pending once, in flight on a live sub-account only, settled once whoever comes first, and
found again by its PaymentIntent; saved cards written only over the version read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.store import accounts, payments, purchases, subaccounts
from chalicelib.store.payments import Purchase
from chalicelib.store.transact import ConditionFailed, commit
from tests.integration.store.support import add_subaccount, new_agency, stored

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
TAKEN = Conflict("taken", code="purchase_exists")
GONE = NotFound("subaccount not found")
SETTLED = Conflict("settled", code="already_posted")


def pending(agency_id: str, sid: str, purchase_id: str = "pur_1") -> Purchase:
    return purchases.new_pending(
        agency_id=agency_id, purchase_id=purchase_id, source="purchase", subaccount_id=sid,
        payer_subaccount_id=sid, tier="basic", basic_seconds=600, premium_seconds=0,
        charge_micros=2_000_000, revenue_micros=1_000_000, profit_micros=1_000_000,
        amount_cents=200, transaction_id=f"purchase:{purchase_id}", customer_id="cus_1",
        payment_method_id="pm_1", timezone="UTC", rule_ref=None, created_at=AT,
        reconcile_at=AT + timedelta(minutes=10))


def recorded(purchase_id: str = "pur_1") -> tuple[Purchase, str]:
    created = new_agency()
    sub = add_subaccount(created)
    purchase = pending(sub.agency_id, sub.subaccount_id, purchase_id)
    commit(purchases.record_pending_ops(purchase, exists=TAKEN, subaccount_gone=GONE))
    return purchase, sub.subaccount_id


def read(purchase: Purchase) -> Purchase:
    found = payments.get_purchase(purchase.agency_id, purchase.purchase_id)
    assert found is not None
    return found


def due_ids(moment: datetime) -> set[str]:
    return {p.purchase_id for p in purchases.pending_due(moment)}


def in_flight(purchase: Purchase) -> set[str]:
    sub = accounts.find_subaccount(purchase.agency_id, purchase.subaccount_id)
    assert sub is not None
    return set(sub.pending_purchase_ids or ())


class TestRecordingPending:
    def test_a_pending_purchase_is_in_flight_and_due_for_reconciliation_later(
            self, table) -> None:
        purchase, _ = recorded()
        found = read(purchase)
        assert (found.status, found.charge_micros, found.transaction_id) == (
            "pending", 2_000_000, "purchase:pur_1")
        assert in_flight(purchase) == {"pur_1"}
        assert purchase.purchase_id not in due_ids(AT + timedelta(minutes=9))
        assert purchase.purchase_id in due_ids(AT + timedelta(minutes=10))

    def test_a_purchase_id_is_recorded_once(self, table) -> None:
        purchase, _ = recorded()
        with pytest.raises(Conflict) as refused:
            commit(purchases.record_pending_ops(purchase, exists=TAKEN, subaccount_gone=GONE))
        assert refused.value is TAKEN

    def test_a_removed_subaccount_gets_no_purchase(self, table) -> None:
        created = new_agency()
        sub = add_subaccount(created)
        commit([subaccounts.remove_op(stored(sub), at=AT)])
        purchase = pending(sub.agency_id, sub.subaccount_id)
        with pytest.raises(NotFound) as refused:
            commit(purchases.record_pending_ops(purchase, exists=TAKEN, subaccount_gone=GONE))
        assert refused.value is GONE
        assert payments.get_purchase(sub.agency_id, "pur_1") is None


class TestSettling:
    def test_success_is_written_once_and_indexes_the_intent(self, table) -> None:
        purchase, _ = recorded()
        commit([purchases.success_op(purchase, intent_id="pi_1", charge_id="ch_1", at=AT,
                                     error=SETTLED), purchases.settled_op(purchase)])
        found = read(purchase)
        assert (found.status, found.stripe_status, found.payment_intent_id, found.charge_id,
                found.completed_at) == ("succeeded", "succeeded", "pi_1", "ch_1", AT)
        assert in_flight(purchase) == set()
        assert due_ids(AT + timedelta(days=1)) == set()
        by_intent = payments.find_purchase_by_intent("pi_1")
        assert by_intent is not None and by_intent.purchase_id == "pur_1"
        with pytest.raises(Conflict) as refused:
            commit([purchases.success_op(purchase, intent_id="pi_1", charge_id=None, at=AT,
                                         error=SETTLED)])
        assert refused.value is SETTLED

    def test_a_failed_purchase_still_succeeds_when_stripe_charged_it(self, table) -> None:
        purchase, _ = recorded()
        commit([purchases.failure_op(purchase, code="interrupted", decline_code=None,
                                     message="lost", intent_id=None, at=AT, error=SETTLED)])
        commit([purchases.success_op(purchase, intent_id="pi_1", charge_id="ch_1", at=AT,
                                     error=SETTLED)])
        found = read(purchase)
        assert (found.status, found.failure_code, found.failure_message) == (
            "succeeded", None, None)

    def test_only_a_pending_purchase_fails(self, table) -> None:
        purchase, _ = recorded()
        commit([purchases.failure_op(purchase, code="card_declined",
                                     decline_code="insufficient_funds", message="declined",
                                     intent_id="pi_1", at=AT, error=SETTLED)])
        found = read(purchase)
        assert (found.status, found.failure_code, found.decline_code,
                found.payment_intent_id) == ("failed", "card_declined", "insufficient_funds",
                                             "pi_1")
        assert due_ids(AT + timedelta(days=1)) == set()
        with pytest.raises(Conflict) as refused:
            commit([purchases.failure_op(purchase, code="card_declined", decline_code=None,
                                         message="again", intent_id=None, at=AT,
                                         error=SETTLED)])
        assert refused.value is SETTLED

    def test_waiting_is_remembered_only_while_pending(self, table) -> None:
        purchase, _ = recorded()
        commit([purchases.waiting_op(purchase, intent_id="pi_1", stripe_status="processing")])
        assert (read(purchase).stripe_status, read(purchase).payment_intent_id) == (
            "processing", "pi_1")
        commit([purchases.success_op(purchase, intent_id="pi_1", charge_id=None, at=AT,
                                     error=SETTLED)])
        with pytest.raises(ConditionFailed):
            commit([purchases.waiting_op(purchase, intent_id="pi_1",
                                         stripe_status="processing")])
        assert read(purchase).stripe_status == "succeeded"

    def test_only_a_settled_purchase_leaves_the_reconciliation_index(self, table) -> None:
        purchase, _ = recorded()
        with pytest.raises(ConditionFailed):
            commit([purchases.unindex_op(purchase)])
        assert purchase.purchase_id in due_ids(AT + timedelta(days=1))


class TestProfiles:
    def test_the_first_profile_is_kept_and_cards_follow_the_version(self, table) -> None:
        assert payments.get_profile("agy_1", "sub_1") is None
        payments.create_profile("agy_1", "sub_1", "cus_1", AT)
        payments.create_profile("agy_1", "sub_1", "cus_2", AT)  # a concurrent first use
        profile = payments.get_profile("agy_1", "sub_1")
        assert profile is not None
        assert (profile.customer_id, profile.cards, profile.version) == ("cus_1", {}, 0)
        changed = Conflict("changed", code="concurrent_update")
        card = {"brand": "visa", "last4": "4242", "exp_month": 1, "exp_year": 2030}
        commit([payments.cards_op(profile, cards={"pm_1": card}, order=["pm_1"],
                                  default="pm_1", error=changed)])
        saved = payments.get_profile("agy_1", "sub_1")
        assert saved is not None
        assert (saved.cards, saved.card_order, saved.default_payment_method,
                saved.version) == ({"pm_1": card}, ["pm_1"], "pm_1", 1)
        with pytest.raises(Conflict) as refused:  # written over a stale read
            commit([payments.cards_op(profile, cards={}, order=[], default=None,
                                      error=changed)])
        assert refused.value is changed
        commit([payments.cards_op(saved, cards={}, order=[], default=None, error=changed)])
        emptied = payments.get_profile("agy_1", "sub_1")
        assert emptied is not None and emptied.default_payment_method is None

    def test_a_profile_is_picked_from_a_batch_read_by_its_subaccount(self, table) -> None:
        created = new_agency()
        sid = created.primary.subaccount_id
        payments.create_profile(created.agency.agency_id, sid, "cus_1", AT)
        _, found = accounts.subaccount_with_payment_profile(created.agency.agency_id, sid)
        profile = payments.profile_in(found, sid)
        assert profile is not None and profile.customer_id == "cus_1"
        assert payments.profile_in(found, "sub_other") is None
        assert payments.profile_in({}, sid) is None

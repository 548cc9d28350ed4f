"""Connect and transfer events are checked against Stripe before they act (SPEC 3,
``POST /v1/stripe/webhook``): the event's ``account`` must be the agency's recorded Connect
account, the object is retrieved from Stripe and its state, not the payload's, is what counts;
a mismatch changes nothing, is a reconciliation finding and a notification, and answers 200.

Dispatch follows the endpoint: an event verified with the Connect secret reaches only the
Connect handlers (``account.updated``, ``payout.*``), a platform event never reaches them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from chalicelib.domain.ledger import PAID_OUT, PAYOUTS_IN_FLIGHT, Asset
from chalicelib.store.ledger import read_balance
from tests.e2e.connect.helpers import (
    add_profit,
    connect,
    notifications,
    payouts,
    profit,
    stripe_get,
    stripe_post,
    sweep,
)
from tests.e2e.connect.test_connect_payouts import ANCHOR, at, cycle_dates
from tests.e2e.connect.test_webhook_secrets import (
    CONNECT_SECRET,
    PLATFORM_SECRET,
    deliver,
    deliveries_paused,
    recorded_event,
)
from tests.e2e.payments.support import add_card, buy, new_subaccount, seconds
from tests.e2e.payments.test_webhook_verification import findings_of
from tests.helpers import AgencyFixture, call, create_agency
from tests.stripe_fixtures import wait_for

PAID = 150_000_000  # the USD 150.00 of profit paid out by ``paying_agency``


def paying_agency(client: Any, emulator: str) -> tuple[AgencyFixture, str, dict[str, Any]]:
    """A connected agency whose USD 150.00 payout is in transit (its transfer sent)."""
    agency = create_agency(client, subscription_start=ANCHOR)
    account_id = connect(client, agency, emulator)
    stripe_post(emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
    add_profit(agency, PAID, uuid.uuid4().hex)
    assert sweep(client, at(cycle_dates()[0]))["succeeded"] >= 1
    [payout] = payouts(client, agency)
    assert payout["status"] == "in_transit" and payout["transfer_id"], payout
    return agency, account_id, payout


def onboarding_started(client: Any, agency: AgencyFixture) -> str:
    """Onboarding begun (status ``initiating``); returns the Express account id."""
    started = call(client, "POST", "/v1/agency/connect/onboarding", token=agency.owner_token)
    assert started.status == 200, started.body
    return str(started.body["account_id"])


def connect_state(client: Any, agency: AgencyFixture) -> dict[str, Any]:
    answer = call(client, "GET", "/v1/agency/connect", token=agency.owner_token)
    assert answer.status == 200, answer.body
    return answer.body


def event_of(event_type: str, obj: dict[str, Any], account: str | None) -> dict[str, Any]:
    """A Stripe event about ``obj`` (a Connect event when ``account`` is given)."""
    event = {"id": f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": event_type,
             "created": int(time.time()), "api_version": "2024-06-20", "livemode": False,
             "data": {"object": obj}, "pending_webhooks": 1, "request": {"id": None}}
    if account is not None:
        event["account"] = account
    return event


def assert_recorded_and_notified(agency: AgencyFixture, event: dict[str, Any],
                                 answer: Any) -> None:
    assert answer.status == 200, answer.body
    [finding] = findings_of(event["id"])
    assert finding["agency_id"] == agency.agency_id
    assert any(n.type == "stripe_event_mismatch" and n.subaccount_id is None
               for n in notifications(agency))


class TestConnectEventsAreCheckedAgainstStripe:
    def test_a_payout_failed_of_another_account_fails_none_of_the_agencys_payouts(
            self, app_client, stripe_emulator, live_app_url) -> None:
        agency, account_id, _payout = paying_agency(app_client, stripe_emulator)
        other = create_agency(app_client, subscription_start=ANCHOR)
        other_account = connect(app_client, other, stripe_emulator)
        with deliveries_paused(stripe_emulator, live_app_url, connect=True):
            failed = stripe_post(stripe_emulator,
                                 f"/v1/test_helpers/accounts/{other_account}/fail_payout",
                                 amount=5_000, failure_code="account_closed")
            real = recorded_event(stripe_emulator, lambda e: e["data"]["object"]["id"]
                                  == failed["id"], type="payout.failed")
        forged = {**real, "account": account_id}

        _, answer = deliver(app_client, forged, CONNECT_SECRET)

        assert_recorded_and_notified(agency, forged, answer)
        [payout] = payouts(app_client, agency)
        assert (payout["status"], payout["failure_stage"]) == ("in_transit", None)
        assert connect_state(app_client, agency)["bank_action_needed"] is False
        assert read_balance(agency.agency_id, PAYOUTS_IN_FLIGHT, Asset.USD).balance == PAID

    def test_a_payout_paid_for_a_payout_stripe_does_not_have_settles_nothing(
            self, app_client, stripe_emulator) -> None:
        agency, account_id, _payout = paying_agency(app_client, stripe_emulator)
        forged = event_of("payout.paid", {
            "id": "po_never_made", "object": "payout", "amount": 15_000, "currency": "usd",
            "status": "paid", "created": int(time.time()), "failure_code": None}, account_id)

        _, answer = deliver(app_client, forged, CONNECT_SECRET)

        assert_recorded_and_notified(agency, forged, answer)
        assert payouts(app_client, agency)[0]["status"] == "in_transit"
        assert read_balance(agency.agency_id, PAID_OUT, Asset.USD).balance == 0

    def test_an_account_updated_carrying_another_account_changes_nothing(
            self, app_client, stripe_emulator, live_app_url) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = onboarding_started(app_client, agency)
        other = create_agency(app_client, subscription_start=ANCHOR)
        other_account = onboarding_started(app_client, other)
        with deliveries_paused(stripe_emulator, live_app_url, connect=True):
            stripe_post(stripe_emulator,
                        f"/v1/test_helpers/accounts/{other_account}/complete_onboarding")
            real = recorded_event(stripe_emulator, lambda e: True, type="account.updated",
                                  account=other_account)
        forged = {**real, "account": account_id}

        _, answer = deliver(app_client, forged, CONNECT_SECRET)

        assert_recorded_and_notified(agency, forged, answer)
        assert connect_state(app_client, agency)["status"] == "initiating"

    def test_account_updated_takes_the_account_from_stripe_not_from_the_event(
            self, app_client, stripe_emulator) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = onboarding_started(app_client, agency)
        account = stripe_get(stripe_emulator, f"/v1/accounts/{account_id}")
        claimed = {**account, "details_submitted": True, "charges_enabled": True,
                   "payouts_enabled": True, "capabilities": {"transfers": "active"},
                   "requirements": {**account["requirements"], "currently_due": [],
                                    "eventually_due": [], "past_due": [],
                                    "disabled_reason": None}}

        _, answer = deliver(app_client, event_of("account.updated", claimed, account_id),
                            CONNECT_SECRET)

        assert answer.status == 200, answer.body
        state = connect_state(app_client, agency)
        assert (state["status"], state["payouts_enabled"]) == ("initiating", False)

    def test_a_transfer_reversal_stripe_does_not_report_returns_nothing_to_the_profit(
            self, app_client, stripe_emulator) -> None:
        agency, _account_id, payout = paying_agency(app_client, stripe_emulator)
        transfer = stripe_get(stripe_emulator, f"/v1/transfers/{payout['transfer_id']}")
        assert transfer["amount_reversed"] == 0
        forged = event_of("transfer.reversed", {**transfer, "amount_reversed": transfer["amount"],
                                                "reversed": True}, None)

        _, answer = deliver(app_client, forged, PLATFORM_SECRET)

        assert_recorded_and_notified(agency, forged, answer)
        assert payouts(app_client, agency)[0]["status"] == "in_transit"
        assert profit(agency) == 0  # the money is with the agency: it must not be paid twice
        assert read_balance(agency.agency_id, PAYOUTS_IN_FLIGHT, Asset.USD).balance == PAID

    def test_a_real_bank_failure_still_applies_once(self, app_client, stripe_emulator) -> None:
        agency, account_id, _payout = paying_agency(app_client, stripe_emulator)
        failed = stripe_post(stripe_emulator, f"/v1/test_helpers/accounts/{account_id}/fail_payout",
                             failure_code="account_closed")
        wait_for(lambda: payouts(app_client, agency)[0]["status"] == "failed")
        real = recorded_event(stripe_emulator, lambda e: e["data"]["object"]["id"]
                              == failed["id"], type="payout.failed")
        _, again = deliver(app_client, real, CONNECT_SECRET)
        assert again.status == 200 and again.body.get("duplicate") is True, again.body
        [payout] = payouts(app_client, agency)
        assert (payout["status"], payout["failure_stage"], payout["failure_code"]) == (
            "failed", "bank", "account_closed")
        assert read_balance(agency.agency_id, PAID_OUT, Asset.USD).balance == PAID
        assert not any(n.type == "stripe_event_mismatch" for n in notifications(agency))


class TestDispatchFollowsTheEndpoint:
    def test_a_platform_signed_account_updated_never_reaches_the_connect_handlers(
            self, app_client, stripe_emulator, live_app_url) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = onboarding_started(app_client, agency)
        with deliveries_paused(stripe_emulator, live_app_url, connect=True):
            stripe_post(stripe_emulator,
                        f"/v1/test_helpers/accounts/{account_id}/complete_onboarding")
            real = recorded_event(stripe_emulator, lambda e: True, type="account.updated",
                                  account=account_id)
        platform = {key: value for key, value in real.items() if key != "account"}

        _, answer = deliver(app_client, platform, PLATFORM_SECRET)

        assert answer.status == 200, answer.body
        assert answer.body["handled"] is False
        assert connect_state(app_client, agency)["status"] == "initiating"
        _, applied = deliver(app_client, real, CONNECT_SECRET)  # the real one still applies
        assert applied.status == 200, applied.body
        assert connect_state(app_client, agency)["status"] == "connected"

    def test_a_connect_signed_refund_never_reaches_the_payment_handlers(
            self, app_client, stripe_emulator, live_app_url) -> None:
        agency = create_agency(app_client)
        account_id = onboarding_started(app_client, agency)
        sid = new_subaccount(app_client, agency, premium="0.20")
        add_card(app_client, agency.owner_token, sid)
        purchase = buy(app_client, agency.owner_token, sid, minutes=100)
        assert purchase.status == 201, purchase.body
        intent_id = purchase.body["payment_intent_id"]
        with deliveries_paused(stripe_emulator, live_app_url, connect=False):
            stripe_post(stripe_emulator, "/v1/refunds", payment_intent=intent_id)
            real = recorded_event(stripe_emulator, lambda e: e["data"]["object"].get(
                "payment_intent") == intent_id, type="charge.refunded")

        _, answer = deliver(app_client, {**real, "account": account_id}, CONNECT_SECRET)

        assert answer.status == 200, answer.body
        assert answer.body["handled"] is False
        assert seconds(agency, sid) == 100 * 60
        _, applied = deliver(app_client, real, PLATFORM_SECRET)
        assert applied.status == 200, applied.body
        assert seconds(agency, sid) == 0

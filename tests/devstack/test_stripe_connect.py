"""Connect through the real stripe client: accounts, links, transfers, payouts, test helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
import stripe

from tests.devstack.conftest import AUTH, CONNECT_WEBHOOK_SECRET, WebhookReceiver

Helper = Callable[..., requests.Response]


def _express(client: stripe.StripeClient, email: str = "agency@example.com") -> stripe.Account:
    return client.v1.accounts.create(params={
        "type": "express", "email": email, "country": "US",
        "capabilities": {"transfers": {"requested": True}},
        "metadata": {"agency_id": "ag_1"}})


def _onboarded(client: stripe.StripeClient, helper: Helper) -> stripe.Account:
    account = _express(client)
    assert helper(f"accounts/{account.id}/complete_onboarding").status_code == 200
    return account


def _fund_platform(helper: Helper, cents: int) -> None:
    assert helper("balance/add_available", amount=cents).status_code == 200


class TestAccounts:
    def test_a_new_express_account_cannot_do_anything_yet(
            self, client: stripe.StripeClient) -> None:
        account = _express(client)

        assert account.id.startswith("acct_")
        assert (account.type, account.email) == ("express", "agency@example.com")
        assert (account.details_submitted, account.charges_enabled,
                account.payouts_enabled) == (False, False, False)
        assert "external_account" in account.requirements.currently_due
        assert account.requirements.disabled_reason == "requirements.past_due"
        assert account.capabilities.transfers == "inactive"
        assert account.metadata.to_dict() == {"agency_id": "ag_1"}

    def test_account_link_then_complete_onboarding_enables_payouts(
            self, client: stripe.StripeClient, emulator: str, helper: Helper,
            webhook_receiver: WebhookReceiver) -> None:
        account = _express(client)
        link = client.v1.account_links.create(params={
            "account": account.id, "type": "account_onboarding",
            "refresh_url": "http://127.0.0.1:8080/connect/refresh",
            "return_url": "http://127.0.0.1:8080/connect/return"})
        assert link.url.startswith(f"{emulator}/connect/onboarding/{account.id}?link=")
        assert link.expires_at > link.created

        response = helper(f"accounts/{account.id}/complete_onboarding")

        assert response.status_code == 200
        retrieved = client.v1.accounts.retrieve(account.id)
        assert (retrieved.details_submitted, retrieved.charges_enabled,
                retrieved.payouts_enabled) == (True, True, True)
        assert retrieved.requirements.currently_due == []
        assert retrieved.requirements.disabled_reason is None
        assert retrieved.capabilities.transfers == "active"
        delivery = webhook_receiver.wait_for(
            lambda e: e["type"] == "account.updated" and e.get("account") == account.id)
        event = stripe.Webhook.construct_event(
            delivery.body, delivery.headers["Stripe-Signature"], CONNECT_WEBHOOK_SECRET)
        assert event.data.object.payouts_enabled is True
        assert event.data.previous_attributes.payouts_enabled is False

    def test_the_onboarding_page_completes_and_returns_to_the_app(
            self, client: stripe.StripeClient) -> None:
        account = _express(client)
        link = client.v1.account_links.create(params={
            "account": account.id, "type": "account_onboarding",
            "refresh_url": "http://app.local/refresh", "return_url": "http://app.local/return"})
        page = requests.get(link.url, timeout=10)
        assert page.status_code == 200 and "Complete onboarding" in page.text

        submit_url = link.url.replace("?link=", "/complete?link=")
        done = requests.post(submit_url, allow_redirects=False, timeout=10)
        reused = requests.get(link.url, allow_redirects=False, timeout=10)

        assert done.status_code == 303 and done.headers["Location"] == "http://app.local/return"
        assert client.v1.accounts.retrieve(account.id).payouts_enabled is True
        assert reused.status_code == 302  # single use: back to refresh_url, like Stripe
        assert reused.headers["Location"] == "http://app.local/refresh"

    def test_login_link_only_after_onboarding(self, client: stripe.StripeClient,
                                              emulator: str, helper: Helper) -> None:
        account = _express(client)
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.accounts.login_links.create(account.id)
        helper(f"accounts/{account.id}/complete_onboarding")

        login = client.v1.accounts.login_links.create(account.id)

        assert login.url.startswith(f"{emulator}/connect/express/{account.id}?login=")
        assert requests.get(login.url, timeout=10).status_code == 200

    def test_update_and_list_accounts(self, client: stripe.StripeClient) -> None:
        account = _express(client)
        updated = client.v1.accounts.update(account.id, params={
            "email": "new@example.com", "metadata": {"tier": "pro"}})
        listed = client.v1.accounts.list()

        assert updated.email == "new@example.com"
        assert updated.metadata.to_dict() == {"agency_id": "ag_1", "tier": "pro"}
        assert [a.id for a in listed.data] == [account.id]

    def test_unknown_account_is_resource_missing(self, client: stripe.StripeClient) -> None:
        with pytest.raises(stripe.InvalidRequestError) as missing:
            client.v1.accounts.retrieve("acct_nope")
        assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


class TestTransfers:
    def test_a_transfer_moves_platform_funds_to_the_account(
            self, client: stripe.StripeClient, helper: Helper,
            webhook_receiver: WebhookReceiver) -> None:
        account = _onboarded(client, helper)
        _fund_platform(helper, 10_000)

        transfer = client.v1.transfers.create(params={
            "amount": 2500, "currency": "usd", "destination": account.id,
            "metadata": {"cycle": "2026-12"}, "transfer_group": "payout-2026-12"})

        assert transfer.id.startswith("tr_")
        assert (transfer.amount, transfer.destination, transfer.reversed) == (
            2500, account.id, False)
        assert client.v1.balance.retrieve().available[0].amount == 7500
        connected = client.v1.balance.retrieve(options={"stripe_account": account.id})
        assert connected.available[0].amount == 2500
        assert client.v1.transfers.retrieve(transfer.id).metadata.to_dict() == {"cycle": "2026-12"}
        listed = client.v1.transfers.list(params={"destination": account.id})
        assert [t.id for t in listed.data] == [transfer.id]
        webhook_receiver.wait_for(lambda e: e["type"] == "transfer.created"
                                  and e["data"]["object"]["id"] == transfer.id)

    def test_the_same_idempotency_key_returns_the_same_transfer_and_debits_once(
            self, client: stripe.StripeClient, helper: Helper, emulator: str) -> None:
        account = _onboarded(client, helper)
        _fund_platform(helper, 5000)
        params = {"amount": 3000, "currency": "usd", "destination": account.id}

        first = client.v1.transfers.create(params=params,
                                           options={"idempotency_key": "sweep-ag1-2026-12"})
        again = client.v1.transfers.create(params=params,
                                           options={"idempotency_key": "sweep-ag1-2026-12"})

        assert again.id == first.id
        assert client.v1.balance.retrieve().available[0].amount == 2000
        assert len(client.v1.transfers.list().data) == 1
        with pytest.raises(stripe.IdempotencyError):
            client.v1.transfers.create(params={**params, "amount": 100},
                                       options={"idempotency_key": "sweep-ag1-2026-12"})

    def test_a_short_platform_balance_fails_with_balance_insufficient(
            self, client: stripe.StripeClient, helper: Helper) -> None:
        account = _onboarded(client, helper)
        _fund_platform(helper, 999)

        with pytest.raises(stripe.InvalidRequestError) as short:
            client.v1.transfers.create(params={"amount": 1000, "currency": "usd",
                                               "destination": account.id})

        assert (short.value.http_status, short.value.code) == (400, "balance_insufficient")
        assert short.value.error.type == "invalid_request_error"
        assert client.v1.balance.retrieve().available[0].amount == 999

    def test_fail_next_injects_one_failure_then_transfers_work_again(
            self, client: stripe.StripeClient, helper: Helper) -> None:
        account = _onboarded(client, helper)
        _fund_platform(helper, 5000)
        params = {"amount": 100, "currency": "usd", "destination": account.id}
        assert helper("transfers/fail_next").json()["code"] == "balance_insufficient"
        assert helper("transfers/fail_next", code="account_invalid").status_code == 200

        codes = []
        for _ in range(2):
            with pytest.raises(stripe.InvalidRequestError) as failed:
                client.v1.transfers.create(params=params)
            codes.append(failed.value.code)
        transfer = client.v1.transfers.create(params=params)

        assert codes == ["balance_insufficient", "account_invalid"]
        assert transfer.amount == 100

    @pytest.mark.parametrize("restricted_by", ["never_onboarded", "restrict_helper"])
    def test_an_account_that_cannot_receive_funds_refuses_transfers(
            self, client: stripe.StripeClient, helper: Helper, restricted_by: str,
            webhook_receiver: WebhookReceiver) -> None:
        _fund_platform(helper, 5000)
        if restricted_by == "never_onboarded":
            account = _express(client)
        else:
            account = _onboarded(client, helper)
            restricted = helper(f"accounts/{account.id}/restrict",
                                disabled_reason="rejected.fraud").json()
            assert restricted["payouts_enabled"] is False
            assert restricted["requirements"]["disabled_reason"] == "rejected.fraud"
            webhook_receiver.wait_for(
                lambda e: e["type"] == "account.updated" and e.get("account") == account.id
                and e["data"]["object"]["payouts_enabled"] is False)

        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.transfers.create(params={"amount": 100, "currency": "usd",
                                               "destination": account.id})

        assert refused.value.code == "insufficient_capabilities_for_transfer"
        assert client.v1.balance.retrieve().available[0].amount == 5000

    def test_card_purchases_fund_the_platform_balance(
            self, client: stripe.StripeClient, helper: Helper) -> None:
        customer = client.v1.customers.create(params={"email": "buyer@example.com"})
        pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        client.v1.payment_intents.create(params={
            "amount": 4200, "currency": "usd", "customer": customer.id,
            "payment_method": pm.id, "confirm": True, "off_session": True})
        account = _onboarded(client, helper)

        client.v1.transfers.create(params={"amount": 4200, "currency": "usd",
                                           "destination": account.id})

        assert client.v1.balance.retrieve().available[0].amount == 0


class TestPayouts:
    def _funded_account(self, client: stripe.StripeClient, helper: Helper,
                        cents: int) -> stripe.Account:
        account = _onboarded(client, helper)
        _fund_platform(helper, cents)
        client.v1.transfers.create(params={"amount": cents, "currency": "usd",
                                           "destination": account.id})
        return account

    def test_fail_payout_sends_a_signed_connect_payout_failed(
            self, client: stripe.StripeClient, helper: Helper,
            webhook_receiver: WebhookReceiver) -> None:
        account = self._funded_account(client, helper, 7300)

        payout: dict[str, Any] = helper(f"accounts/{account.id}/fail_payout",
                                        failure_code="account_closed").json()

        assert (payout["status"], payout["amount"], payout["failure_code"]) == (
            "failed", 7300, "account_closed")
        assert payout["failure_message"] == "The bank account has been closed."
        delivery = webhook_receiver.wait_for(lambda e: e["type"] == "payout.failed")
        event = stripe.Webhook.construct_event(
            delivery.body, delivery.headers["Stripe-Signature"], CONNECT_WEBHOOK_SECRET)
        assert event.account == account.id
        assert event.data.object.id == payout["id"]
        assert event.data.object.failure_code == "account_closed"
        # A failed payout returns the money to the connected balance, as in Stripe.
        connected = client.v1.balance.retrieve(options={"stripe_account": account.id})
        assert connected.available[0].amount == 7300

    def test_fail_payout_defaults_to_account_closed(self, client: stripe.StripeClient,
                                                    helper: Helper) -> None:
        account = self._funded_account(client, helper, 100)
        payout = helper(f"accounts/{account.id}/fail_payout").json()
        assert payout["failure_code"] == "account_closed"

    def test_pay_out_sends_payout_paid_and_empties_the_balance(
            self, client: stripe.StripeClient, helper: Helper,
            webhook_receiver: WebhookReceiver) -> None:
        account = self._funded_account(client, helper, 5000)

        payout = helper(f"accounts/{account.id}/pay_out").json()

        assert (payout["status"], payout["amount"]) == ("paid", 5000)
        delivery = webhook_receiver.wait_for(lambda e: e["type"] == "payout.paid")
        assert delivery.event["account"] == account.id
        connected = client.v1.balance.retrieve(options={"stripe_account": account.id})
        assert connected.available[0].amount == 0
        listed = client.v1.payouts.list(options={"stripe_account": account.id})
        assert [(p.id, p.status) for p in listed.data] == [(payout["id"], "paid")]

    def test_a_payout_created_by_the_app_can_be_failed_by_id(
            self, client: stripe.StripeClient, helper: Helper) -> None:
        account = self._funded_account(client, helper, 2000)
        created = client.v1.payouts.create(params={"amount": 1500, "currency": "usd"},
                                           options={"stripe_account": account.id})
        assert created.status == "pending"

        failed = helper(f"accounts/{account.id}/fail_payout", payout=created.id,
                        failure_code="no_account").json()

        assert (failed["id"], failed["status"], failed["failure_code"]) == (
            created.id, "failed", "no_account")
        retrieved = client.v1.payouts.retrieve(created.id,
                                               options={"stripe_account": account.id})
        assert retrieved.status == "failed"

    def test_nothing_to_pay_out_is_an_error(self, client: stripe.StripeClient,
                                            helper: Helper) -> None:
        account = _onboarded(client, helper)
        response = helper(f"accounts/{account.id}/pay_out")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "balance_insufficient"

    def test_another_accounts_header_is_refused(self, client: stripe.StripeClient,
                                                emulator: str) -> None:
        response = requests.get(f"{emulator}/v1/balance",
                                headers={**AUTH, "Stripe-Account": "acct_unknown"}, timeout=10)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "account_invalid"

"""Stripe Connect onboarding and profit payouts, end to end: HTTP routes, the platform job
route, the Stripe emulator (real ``stripe`` client over HTTP) and its signed webhooks."""

from __future__ import annotations

from datetime import UTC, date, datetime

from chalicelib.domain.ledger import PAID_OUT, PAYOUTS_IN_FLIGHT, Asset
from chalicelib.store.ledger import read_balance
from tests.billing_oracle import next_cycle_after
from tests.e2e.connect.helpers import (
    add_profit,
    connect,
    notifications,
    payouts,
    profit,
    stripe_post,
    sweep,
    transfers_to,
)
from tests.helpers import call, create_agency
from tests.stripe_fixtures import wait_for

ANCHOR = "2026-01-31"


def cycle_dates() -> tuple[str, str]:
    """The first two payout dates of an agency anchored on ANCHOR that onboards today."""
    first = next_cycle_after(date.fromisoformat(ANCHOR), datetime.now(UTC).date())
    second = next_cycle_after(date.fromisoformat(ANCHOR), first)
    return first.isoformat(), second.isoformat()


def at(day: str) -> str:
    return f"{day}T02:00:00Z"


class TestConnectOnboarding:
    def test_onboarding_is_resumable_then_connected_by_account_updated(
            self, stripe_emulator, app_client) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        before = call(app_client, "GET", "/v1/agency/connect", token=agency.owner_token)
        assert before.status == 200
        assert before.body["status"] == "not_connected"
        assert before.body["account_id"] is None

        first = call(app_client, "POST", "/v1/agency/connect/onboarding",
                     token=agency.owner_token)
        second = call(app_client, "POST", "/v1/agency/connect/onboarding",
                      token=agency.owner_token)
        assert first.status == second.status == 200
        assert first.body["status"] == "initiating"
        assert first.body["account_id"] == second.body["account_id"]
        assert first.body["url"] != second.body["url"]
        account_id = first.body["account_id"]

        state = call(app_client, "GET", "/v1/agency/connect", token=agency.owner_token).body
        assert state["status"] == "initiating"
        assert state["payouts_enabled"] is False
        assert "external_account" in state["requirements_due"]

        refused = call(app_client, "POST", "/v1/agency/connect/dashboard-link",
                       token=agency.owner_token)
        assert refused.status == 409
        assert refused.error_code == "connect_not_connected"

        stripe_post(stripe_emulator, f"/v1/test_helpers/accounts/{account_id}/complete_onboarding")
        connected = wait_for(lambda: (lambda b: b if b["status"] == "connected" else None)(
            call(app_client, "GET", "/v1/agency/connect", token=agency.owner_token).body))
        assert connected["payouts_enabled"] is True
        assert connected["requirements_due"] == []

        link = call(app_client, "POST", "/v1/agency/connect/dashboard-link",
                    token=agency.owner_token)
        assert link.status == 200
        assert link.body["url"].startswith(stripe_emulator)

        overview = call(app_client, "GET", "/v1/agency/overview", token=agency.owner_token)
        assert overview.status == 200
        assert overview.body["connect_status"] == "connected"
        assert overview.body["next_payout_date"] == cycle_dates()[0]
        assert overview.body["payout_threshold_usd"] == "100.00"

    def test_status_is_rederived_on_every_account_update(self, stripe_emulator,
                                                         app_client) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = connect(app_client, agency, stripe_emulator)
        stripe_post(stripe_emulator, f"/v1/test_helpers/accounts/{account_id}/restrict")
        restricted = wait_for(lambda: (lambda b: b if b["status"] == "restricted" else None)(
            call(app_client, "GET", "/v1/agency/connect", token=agency.owner_token).body))
        assert restricted["payouts_enabled"] is False
        assert restricted["disabled_reason"] == "requirements.past_due"
        stripe_post(stripe_emulator, f"/v1/test_helpers/accounts/{account_id}/complete_onboarding")
        wait_for(lambda: call(app_client, "GET", "/v1/agency/connect",
                              token=agency.owner_token).body["status"] == "connected")

    def test_unauthenticated_is_401(self, app_client) -> None:
        assert call(app_client, "GET", "/v1/agency/connect").status == 401
        assert call(app_client, "GET", "/v1/agency/overview").status == 401


class TestPayoutSweep:
    def test_below_threshold_carries_over_then_whole_profit_is_paid_once(
            self, stripe_emulator, app_client) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = connect(app_client, agency, stripe_emulator)
        stripe_post(stripe_emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
        first, second = cycle_dates()

        add_profit(agency, 80_000_000, "a")
        summary = sweep(app_client, at(first))
        assert summary["processed"] == 1 and summary["skipped"] == 1
        assert payouts(app_client, agency) == []
        assert transfers_to(stripe_emulator, account_id) == []
        assert profit(agency) == 80_000_000

        add_profit(agency, 40_000_000, "b")
        summary = sweep(app_client, at(second))
        assert summary["succeeded"] == 1
        listed = payouts(app_client, agency)
        assert [(p["amount_usd"], p["status"], p["cycle_date"]) for p in listed] == [
            ("120.00", "in_transit", second)]
        sent = transfers_to(stripe_emulator, account_id)
        assert [t["amount"] for t in sent] == [12_000]
        assert profit(agency) == 0
        assert read_balance(agency.agency_id, PAYOUTS_IN_FLIGHT, Asset.USD).balance == 120_000_000

        rerun = sweep(app_client, at(second))
        assert rerun["processed"] == 0
        assert len(payouts(app_client, agency)) == 1
        assert len(transfers_to(stripe_emulator, account_id)) == 1

        stripe_post(stripe_emulator, f"/v1/test_helpers/accounts/{account_id}/pay_out")
        wait_for(lambda: payouts(app_client, agency)[0]["status"] == "paid")
        assert read_balance(agency.agency_id, PAID_OUT, Asset.USD).balance == 120_000_000
        assert read_balance(agency.agency_id, PAYOUTS_IN_FLIGHT, Asset.USD).balance == 0

        overview = call(app_client, "GET", "/v1/agency/overview", token=agency.owner_token).body
        assert overview["last_payout"]["status"] == "paid"
        assert overview["available_profit_usd"] == "0.00"

    def test_bank_failure_marks_stage_bank_flags_and_notifies(self, stripe_emulator,
                                                               app_client) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = connect(app_client, agency, stripe_emulator)
        stripe_post(stripe_emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
        add_profit(agency, 150_000_000, "a")
        assert sweep(app_client, at(cycle_dates()[0]))["succeeded"] == 1

        stripe_post(stripe_emulator, f"/v1/test_helpers/accounts/{account_id}/fail_payout",
                    failure_code="account_closed")
        failed = wait_for(lambda: (lambda p: p if p["status"] == "failed" else None)(
            payouts(app_client, agency)[0]))
        assert failed["failure_stage"] == "bank"
        assert failed["failure_code"] == "account_closed"
        assert profit(agency) == 0  # nothing returns: the money is in the agency's Stripe balance
        assert read_balance(agency.agency_id, PAYOUTS_IN_FLIGHT, Asset.USD).balance == 0
        assert read_balance(agency.agency_id, PAID_OUT, Asset.USD).balance == 150_000_000

        status = call(app_client, "GET", "/v1/agency/connect", token=agency.owner_token).body
        assert status["bank_action_needed"] is True
        assert status["bank_failure_code"] == "account_closed"
        overview = call(app_client, "GET", "/v1/agency/overview", token=agency.owner_token).body
        assert {"bank_details_need_fixing"} <= {a["code"] for a in overview["action_needed"]}
        assert any(n.type == "payout_failed" and n.data["stage"] == "bank"
                   for n in notifications(agency))
        outbox = call(app_client, "GET", "/v1/platform/outbox", platform=True,
                      body=None, headers={}).body
        assert any(m["to"] == agency.owner_email and "bank" in m["subject"]
                   for m in outbox["messages"])

        # A later account.updated showing a working bank account clears the flag.
        stripe_post(stripe_emulator, f"/v1/test_helpers/accounts/{account_id}/complete_onboarding")
        wait_for(lambda: call(app_client, "GET", "/v1/agency/connect",
                              token=agency.owner_token).body["bank_action_needed"] is False)

    def test_transfer_failure_returns_the_profit(self, stripe_emulator, app_client) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = connect(app_client, agency, stripe_emulator)
        add_profit(agency, 120_000_000, "a")
        stripe_post(stripe_emulator, "/v1/test_helpers/transfers/fail_next",
                    code="balance_insufficient")
        summary = sweep(app_client, at(cycle_dates()[0]))
        assert summary["failed"] == 1
        [payout] = payouts(app_client, agency)
        assert (payout["status"], payout["failure_stage"], payout["failure_code"]) == (
            "failed", "transfer", "balance_insufficient")
        assert profit(agency) == 120_000_000
        assert read_balance(agency.agency_id, PAYOUTS_IN_FLIGHT, Asset.USD).balance == 0
        assert transfers_to(stripe_emulator, account_id) == []
        overview = call(app_client, "GET", "/v1/agency/overview", token=agency.owner_token).body
        assert overview["available_profit_usd"] == "120.00"
        assert overview["payout_expected"] is True

    def test_not_connected_agency_is_never_due(self, stripe_emulator, app_client) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        add_profit(agency, 500_000_000, "a")
        summary = sweep(app_client, at(cycle_dates()[0]))
        assert summary["processed"] == 0
        assert payouts(app_client, agency) == []
        overview = call(app_client, "GET", "/v1/agency/overview", token=agency.owner_token).body
        assert overview["connect_status"] == "not_connected"
        assert overview["next_payout_date"] is None
        assert {"connect_not_connected"} <= {a["code"] for a in overview["action_needed"]}


class TestClawback:
    def test_negative_profit_pays_nothing_then_next_payout_is_net(self, stripe_emulator,
                                                                  app_client) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = connect(app_client, agency, stripe_emulator)
        stripe_post(stripe_emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
        first, second = cycle_dates()
        add_profit(agency, -30_000_000, "refund-after-payout")
        overview = call(app_client, "GET", "/v1/agency/overview", token=agency.owner_token).body
        assert overview["available_profit_usd"] == "-30.00"
        assert {"profit_clawback"} <= {a["code"] for a in overview["action_needed"]}
        assert sweep(app_client, at(first))["skipped"] == 1
        assert payouts(app_client, agency) == []

        add_profit(agency, 140_000_000, "b")
        assert sweep(app_client, at(second))["succeeded"] == 1
        [payout] = payouts(app_client, agency)
        assert payout["amount_usd"] == "110.00"
        assert [t["amount"] for t in transfers_to(stripe_emulator, account_id)] == [11_000]


class TestRoles:
    def test_member_views_overview_but_not_connect_or_payouts(self, app_client) -> None:
        from chalicelib.services.passwords import hash_password
        from chalicelib.store import keys
        from chalicelib.store.accounts import EmailClaim, User
        from chalicelib.store.base import utcnow
        from tests.helpers import login

        agency = create_agency(app_client, subscription_start=ANCHOR)
        email = f"member-{agency.agency_id}@example.com"
        User(keys.agency_pk(agency.agency_id), keys.user_sk("usr_member"),
             agency_id=agency.agency_id, user_id="usr_member", email=email,
             role="agency_member", access_all=True, subaccount_ids=[],
             password_hash=hash_password("member-password-1"), created_at=utcnow()).save()
        EmailClaim(keys.email_pk(email), "EMAIL", agency_id=agency.agency_id,
                   owner_type="user", owner_id="usr_member").save()
        token = login(app_client, email, "member-password-1")
        assert call(app_client, "GET", "/v1/agency/overview", token=token).status == 200
        for method, path in (("GET", "/v1/agency/connect"), ("GET", "/v1/agency/payouts"),
                             ("POST", "/v1/agency/connect/onboarding"),
                             ("POST", "/v1/agency/connect/dashboard-link")):
            answer = call(app_client, method, path, token=token)
            assert answer.status == 403, (path, answer.body)

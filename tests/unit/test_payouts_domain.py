"""Payout rules and the Connect status derived from Stripe's account object (pure)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.money import MICROS_PER_CENT
from chalicelib.domain.payouts import (
    PAYOUT_THRESHOLD_MICROS,
    ConnectStatus,
    SkipReason,
    decide_payout,
    derive_connect_state,
    payout_amount_micros,
    payout_id,
    payout_transaction_id,
)


def account(**overrides: Any) -> dict[str, Any]:
    """A Stripe Express account as the emulator (and Stripe) send it, fresh by default."""
    base: dict[str, Any] = {
        "id": "acct_1",
        "object": "account",
        "details_submitted": False,
        "payouts_enabled": False,
        "charges_enabled": False,
        "requirements": {"currently_due": ["external_account", "tos_acceptance.date"],
                         "past_due": ["external_account"], "disabled_reason":
                             "requirements.past_due"},
        "external_accounts": {"object": "list", "data": []},
    }
    base.update(overrides)
    return base


ONBOARDED = {
    "details_submitted": True,
    "payouts_enabled": True,
    "requirements": {"currently_due": [], "past_due": [], "disabled_reason": None},
    "external_accounts": {"object": "list", "data": [{"id": "ba_1", "status": "verified"}]},
}


class TestConnectStatus:
    def test_no_account_is_not_connected(self) -> None:
        assert derive_connect_state(None).status == ConnectStatus.NOT_CONNECTED

    def test_fresh_account_is_initiating_with_its_requirements(self) -> None:
        state = derive_connect_state(account())
        assert state.status == ConnectStatus.INITIATING
        assert state.requirements_due == ("external_account", "tos_acceptance.date")
        assert state.payouts_enabled is False

    def test_onboarded_account_with_payouts_is_connected(self) -> None:
        state = derive_connect_state(account(**ONBOARDED))
        assert state.status == ConnectStatus.CONNECTED
        assert state.requirements_due == ()
        assert state.bank_account_working is True

    def test_submitted_but_payouts_disabled_is_restricted(self) -> None:
        state = derive_connect_state(account(
            details_submitted=True, payouts_enabled=False,
            requirements={"currently_due": ["external_account"], "past_due": [],
                          "disabled_reason": "requirements.past_due"}))
        assert state.status == ConnectStatus.RESTRICTED
        assert state.disabled_reason == "requirements.past_due"
        assert state.bank_account_working is False

    def test_rejected_account_is_restricted_even_before_details(self) -> None:
        state = derive_connect_state(account(requirements={"disabled_reason": "rejected.fraud"}))
        assert state.status == ConnectStatus.RESTRICTED

    def test_status_follows_every_update_back_and_forth(self) -> None:
        connected = derive_connect_state(account(**ONBOARDED))
        restricted = derive_connect_state(account(**{**ONBOARDED, "payouts_enabled": False}))
        again = derive_connect_state(account(**ONBOARDED))
        assert (connected.status, restricted.status, again.status) == (
            ConnectStatus.CONNECTED, ConnectStatus.RESTRICTED, ConnectStatus.CONNECTED)

    def test_errored_bank_account_is_not_working(self) -> None:
        state = derive_connect_state(account(**{
            **ONBOARDED,
            "external_accounts": {"data": [{"id": "ba_1", "status": "errored"}]}}))
        assert state.status == ConnectStatus.CONNECTED
        assert state.bank_account_working is False

    def test_unexpanded_bank_list_trusts_payouts_enabled(self) -> None:
        state = derive_connect_state(account(**{**ONBOARDED, "external_accounts": None}))
        assert state.bank_account_working is True


class TestPayoutDecision:
    def test_below_threshold_carries_over(self) -> None:
        decision = decide_payout(80_000_000, connected=True, payouts_enabled=True)
        assert decision.pay is False
        assert decision.skip_reason == SkipReason.BELOW_THRESHOLD

    def test_threshold_exactly_pays_the_whole_balance(self) -> None:
        decision = decide_payout(PAYOUT_THRESHOLD_MICROS, connected=True, payouts_enabled=True)
        assert decision.pay is True
        assert decision.amount_micros == 100_000_000

    def test_whole_available_profit_is_paid(self) -> None:
        decision = decide_payout(120_000_000, connected=True, payouts_enabled=True)
        assert (decision.pay, decision.amount_micros) == (True, 120_000_000)

    def test_negative_profit_clawback_pays_nothing(self) -> None:
        decision = decide_payout(-5_000_000, connected=True, payouts_enabled=True)
        assert decision.pay is False
        assert decision.skip_reason == SkipReason.BELOW_THRESHOLD

    def test_not_connected_or_payouts_disabled_pays_nothing(self) -> None:
        assert decide_payout(500_000_000, connected=False,
                             payouts_enabled=False).skip_reason == SkipReason.NOT_CONNECTED
        assert decide_payout(500_000_000, connected=True,
                             payouts_enabled=False).skip_reason == SkipReason.PAYOUTS_DISABLED

    def test_sub_cent_remainder_stays_in_the_profit(self) -> None:
        assert payout_amount_micros(120_004_999) == 120_000_000

    def test_just_under_threshold_after_cent_rounding_is_not_paid(self) -> None:
        assert decide_payout(99_999_999, connected=True, payouts_enabled=True).pay is False

    @given(st.integers(min_value=-10**12, max_value=10**12))
    def test_amount_is_whole_cents_never_more_than_available(self, available: int) -> None:
        amount = payout_amount_micros(available)
        assert amount % MICROS_PER_CENT == 0
        assert 0 <= amount <= max(available, 0)
        assert max(available, 0) - amount < MICROS_PER_CENT

    @given(st.integers(min_value=-10**12, max_value=10**12))
    def test_pays_iff_whole_cents_reach_threshold(self, available: int) -> None:
        decision = decide_payout(available, connected=True, payouts_enabled=True)
        assert decision.pay == (payout_amount_micros(available) >= PAYOUT_THRESHOLD_MICROS)


class TestIds:
    def test_payout_ids_are_deterministic_per_agency_and_cycle(self) -> None:
        assert payout_id("agy_1", "2026-02-28") == "pyt_agy_1_20260228"
        assert payout_transaction_id("agy_1", "2026-02-28") == "payout:agy_1:2026-02-28"
        assert payout_id("agy_1", "2026-02-28") != payout_id("agy_1", "2026-03-31")

"""The Connect account repository against DynamoDB (moto): reads, and the conditions that
refuse a second account, an older ``account.updated`` and a flag on no account."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.domain.payouts import ConnectState, ConnectStatus
from chalicelib.services.agencies import create_agency
from chalicelib.store import connect_accounts
from chalicelib.store.transact import ConditionFailed, commit

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
INITIATING = ConnectState(ConnectStatus.INITIATING, requirements_due=("external_account",))
RESTRICTED = ConnectState(ConnectStatus.RESTRICTED, details_submitted=True,
                          disabled_reason="requirements.past_due")
CONNECTED = ConnectState(ConnectStatus.CONNECTED, details_submitted=True, payouts_enabled=True)


def onboarded(agency_id: str = "agy_1", account_id: str = "acct_1") -> None:
    account = connect_accounts.new(agency_id=agency_id, account_id=account_id,
                                   state=INITIATING, at=AT)
    commit([connect_accounts.create_op(account, Conflict("twice", code="twice"))])


def applied(state: ConnectState, event_created: int, *, bank_action_needed: bool = False
            ) -> None:
    current = connect_accounts.get("agy_1")
    assert current is not None
    commit([connect_accounts.apply_state_op(
        current, state, bank_action_needed=bank_action_needed, event_created=event_created,
        at=AT, error=Conflict("stale", code="stale_event"))])


class TestReads:
    def test_an_agency_without_onboarding_has_no_account(self, table) -> None:
        assert connect_accounts.get("agy_none") is None
        assert connect_accounts.of_stripe_account("acct_none") is None

    def test_the_account_is_found_by_agency_and_by_its_stripe_id(self, table) -> None:
        onboarded("agy_1", "acct_1")
        onboarded("agy_2", "acct_2")
        mine = connect_accounts.get("agy_1")
        assert mine is not None
        assert (mine.account_id, mine.status, mine.requirements_due) == (
            "acct_1", "initiating", ["external_account"])
        assert mine.bank_action_needed is False
        found = connect_accounts.of_stripe_account("acct_2")
        assert found is not None and found.agency_id == "agy_2"

    def test_the_owner_email_is_the_owners_and_none_once_the_user_is_gone(self, table) -> None:
        made = create_agency(name="A", owner_email="Owner@Agency.example.com",
                             owner_password="owner-password-1", plan="agency_pro",
                             subscription_start=date(2026, 1, 31))
        assert connect_accounts.owner_email(made.agency.agency_id, made.owner.user_id) == (
            "owner@agency.example.com")
        assert connect_accounts.owner_email(made.agency.agency_id, "usr_gone") is None


class TestConditions:
    def test_an_agency_gets_one_account(self, table) -> None:
        onboarded("agy_1", "acct_1")
        second = connect_accounts.new(agency_id="agy_1", account_id="acct_other",
                                      state=INITIATING, at=AT)
        with pytest.raises(Conflict) as refused:
            commit([connect_accounts.create_op(second, Conflict("twice", code="twice"))])
        assert refused.value.code == "twice"
        kept = connect_accounts.get("agy_1")
        assert kept is not None and kept.account_id == "acct_1"
        assert connect_accounts.of_stripe_account("acct_other") is None

    def test_a_newer_event_applies_and_an_older_one_is_refused(self, table) -> None:
        onboarded()
        applied(RESTRICTED, 200)
        restricted = connect_accounts.get("agy_1")
        assert restricted is not None
        assert (restricted.status, restricted.disabled_reason, restricted.last_event_at) == (
            "restricted", "requirements.past_due", 200)
        with pytest.raises(Conflict) as stale:
            applied(CONNECTED, 199)
        assert stale.value.code == "stale_event"
        assert connect_accounts.get("agy_1").status == "restricted"
        applied(CONNECTED, 200)  # the same moment is not older
        connected = connect_accounts.get("agy_1")
        assert connected is not None
        assert (connected.status, connected.payouts_enabled, connected.disabled_reason) == (
            "connected", True, None)

    def test_a_bank_failure_flags_the_account_until_a_state_clears_it(self, table) -> None:
        onboarded()
        commit([connect_accounts.flag_bank_failure_op("agy_1", "account_closed", AT)])
        flagged = connect_accounts.get("agy_1")
        assert flagged is not None
        assert (flagged.bank_action_needed, flagged.bank_failure_code) == (True,
                                                                          "account_closed")
        applied(CONNECTED, 300, bank_action_needed=False)
        assert connect_accounts.get("agy_1").bank_action_needed is False

    def test_a_bank_failure_of_an_agency_without_account_writes_nothing(self, table) -> None:
        with pytest.raises(ConditionFailed):
            commit([connect_accounts.flag_bank_failure_op("agy_none", "account_closed", AT)])
        assert connect_accounts.get("agy_none") is None

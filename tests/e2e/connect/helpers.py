"""Helpers for the Connect and payout e2e tests: emulator controls, profit, sweeps."""

from __future__ import annotations

from typing import Any

import requests

from chalicelib.domain.ledger import (
    AGENCY_PROFIT,
    Asset,
    Code,
    LedgerTransaction,
    card_payments,
    transfer,
)
from chalicelib.store import keys
from chalicelib.store.activity import Notification
from chalicelib.store.ledger import post_transaction, read_balance
from tests.helpers import AgencyFixture, call
from tests.stripe_fixtures import wait_for

HEADERS = {"Authorization": "Bearer sk_test_local"}


def stripe_post(base: str, path: str, **form: Any) -> dict[str, Any]:
    """A form-encoded POST to the emulator, like Stripe's own test helpers."""
    answer = requests.post(f"{base}{path}", data=form, headers=HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def stripe_get(base: str, path: str, **params: Any) -> dict[str, Any]:
    """A GET on the emulator."""
    answer = requests.get(f"{base}{path}", params=params, headers=HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def add_profit(agency: AgencyFixture, micros: int, tag: str) -> None:
    """Profit as a sub-account purchase would leave it (the payments feature's posting)."""
    post_transaction(LedgerTransaction(
        agency_id=agency.agency_id, transaction_id=f"test-profit:{tag}", code=Code.PURCHASE,
        postings=transfer(card_payments(agency.primary_id), AGENCY_PROFIT, Asset.USD, micros),
        subaccount_id=agency.primary_id))


def profit(agency: AgencyFixture) -> int:
    """The agency's available profit, micro-dollars."""
    return read_balance(agency.agency_id, AGENCY_PROFIT, Asset.USD).balance


def connect(client: Any, agency: AgencyFixture, emulator: str) -> str:
    """Onboard the agency through HTTP and the emulator; returns its account id."""
    started = call(client, "POST", "/v1/agency/connect/onboarding", token=agency.owner_token)
    assert started.status == 200, started.body
    account_id = started.body["account_id"]
    stripe_post(emulator, f"/v1/test_helpers/accounts/{account_id}/complete_onboarding")
    wait_for(lambda: call(client, "GET", "/v1/agency/connect",
                          token=agency.owner_token).body["status"] == "connected")
    return account_id


def sweep(client: Any, as_of: str) -> dict[str, Any]:
    """Run the payout sweep through the platform route."""
    answer = call(client, "POST", "/v1/platform/jobs/payout-sweep/runs", platform=True,
                  body={"as_of": as_of})
    assert answer.status == 200, answer.body
    return answer.body


def payouts(client: Any, agency: AgencyFixture) -> list[dict[str, Any]]:
    """The agency's payouts through HTTP."""
    answer = call(client, "GET", "/v1/agency/payouts", token=agency.owner_token)
    assert answer.status == 200, answer.body
    return answer.body["payouts"]


def transfers_to(emulator: str, account_id: str) -> list[dict[str, Any]]:
    """Stripe transfers to one connected account."""
    return stripe_get(emulator, "/v1/transfers", destination=account_id, limit=100)["data"]


def notifications(agency: AgencyFixture) -> list[Notification]:
    """Notifications of the agency (read from the store: that route is another feature's)."""
    return list(Notification.query(keys.notifications_pk(agency.agency_id)))

"""The two ways a payout fails (SPEC "Payouts"), end to end through the sweep route, the
Stripe emulator's transfer-failure and payout test helpers and its signed Connect events.

- the transfer fails: the payout is ``failed`` / ``transfer``, the amount returns to the
  available profit, a notification goes out, and the next DAILY sweep tries again (not the
  next cycle), up to 3 times per cycle; one payout per cycle in effect, never paid twice;
- the bank refuses the connected account's payout: the agency's latest in-transit payout whose
  transfer reached the connected account (never one whose transfer was not sent) fails at
  stage ``bank``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
import requests

from chalicelib.domain.ledger import PAID_OUT, PAYOUTS_IN_FLIGHT, Asset
from chalicelib.store.ledger import read_balance
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
from tests.e2e.connect.test_connect_payouts import ANCHOR, at, cycle_dates
from tests.helpers import call, create_agency
from tests.stripe_fixtures import wait_for


@pytest.fixture(autouse=True)
def fresh_emulator(stripe_emulator: str) -> Iterator[None]:
    """No transfer failure queued by another test, no other account's transfers."""
    requests.post(f"{stripe_emulator}/_devstack/reset", timeout=10)
    yield
    requests.post(f"{stripe_emulator}/_devstack/reset", timeout=10)


def days_after(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def fail_next_transfer(emulator: str, code: str = "balance_insufficient",
                       status: int = 400) -> None:
    stripe_post(emulator, "/v1/test_helpers/transfers/fail_next", code=code, status=status)


class TestTransferFailureRetry:
    def test_a_failed_transfer_is_retried_by_the_next_daily_sweep_not_the_next_cycle(
            self, stripe_emulator, app_client) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = connect(app_client, agency, stripe_emulator)
        stripe_post(stripe_emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
        first, second = cycle_dates()
        add_profit(agency, 120_000_000, "a")

        fail_next_transfer(stripe_emulator)
        assert sweep(app_client, at(first))["failed"] == 1
        [failed] = payouts(app_client, agency)
        assert (failed["status"], failed["failure_stage"]) == ("failed", "transfer")
        assert profit(agency) == 120_000_000  # back in the available profit
        assert any(n.type == "payout_failed" and n.data["stage"] == "transfer"
                   for n in notifications(agency))

        retried = sweep(app_client, at(days_after(first, 1)))  # the next daily sweep
        assert retried["succeeded"] == 1, retried
        assert [t["amount"] for t in transfers_to(stripe_emulator, account_id)] == [12_000]
        listed = payouts(app_client, agency)
        assert [(p["amount_usd"], p["status"], p["cycle_date"]) for p in listed] == [
            ("120.00", "in_transit", first), ("120.00", "failed", first)]
        assert listed[0]["id"] != listed[1]["id"]
        assert profit(agency) == 0
        assert read_balance(agency.agency_id, PAYOUTS_IN_FLIGHT, Asset.USD).balance == 120_000_000

        # One payout per cycle in effect: reruns and the following days pay nothing more.
        for day in (days_after(first, 1), days_after(first, 2)):
            sweep(app_client, at(day))
        assert len(transfers_to(stripe_emulator, account_id)) == 1
        overview = call(app_client, "GET", "/v1/agency/overview", token=agency.owner_token).body
        assert overview["next_payout_date"] == second

    def test_transfer_retries_stop_after_three_per_cycle_then_the_next_cycle_pays(
            self, stripe_emulator, app_client) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = connect(app_client, agency, stripe_emulator)
        stripe_post(stripe_emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
        first, second = cycle_dates()
        add_profit(agency, 120_000_000, "a")

        for day in range(4):  # the cycle's transfer, then 3 daily retries, all refused
            fail_next_transfer(stripe_emulator)
            assert sweep(app_client, at(days_after(first, day)))["failed"] == 1, day
        assert sweep(app_client, at(days_after(first, 4)))["processed"] == 0
        assert transfers_to(stripe_emulator, account_id) == []
        assert profit(agency) == 120_000_000
        listed = payouts(app_client, agency)
        assert [(p["status"], p["failure_stage"]) for p in listed] == [("failed", "transfer")] * 4
        assert len({p["id"] for p in listed}) == 4
        overview = call(app_client, "GET", "/v1/agency/overview", token=agency.owner_token).body
        assert overview["next_payout_date"] == second

        assert sweep(app_client, at(second))["succeeded"] == 1
        assert [t["amount"] for t in transfers_to(stripe_emulator, account_id)] == [12_000]
        assert payouts(app_client, agency)[0]["cycle_date"] == second
        assert profit(agency) == 0


    def test_concurrent_sweeps_on_the_retry_day_pay_the_cycle_once(
            self, stripe_emulator, app_client) -> None:
        from datetime import UTC, datetime

        from chalicelib.jobs import run_job

        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = connect(app_client, agency, stripe_emulator)
        stripe_post(stripe_emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
        first, _second = cycle_dates()
        add_profit(agency, 250_000_000, "a")
        fail_next_transfer(stripe_emulator)
        assert sweep(app_client, at(first))["failed"] == 1
        as_of = datetime.fromisoformat(f"{days_after(first, 1)}T02:00:00+00:00").astimezone(UTC)
        results: list[dict] = []
        threads = [threading.Thread(target=lambda: results.append(run_job("payout-sweep", as_of)))
                   for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(r["succeeded"] for r in results) == 1
        assert [t["amount"] for t in transfers_to(stripe_emulator, account_id)] == [25_000]
        assert [p["status"] for p in payouts(app_client, agency)] == ["in_transit", "failed"]
        assert profit(agency) == 0


class TestBankFailureMatching:
    def test_payout_failed_never_marks_a_payout_whose_transfer_was_not_sent(
            self, stripe_emulator, app_client) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = connect(app_client, agency, stripe_emulator)
        stripe_post(stripe_emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
        first, second = cycle_dates()
        add_profit(agency, 150_000_000, "a")
        assert sweep(app_client, at(first))["succeeded"] == 1  # transfer sent

        add_profit(agency, 120_000_000, "b")
        for _ in range(3):  # Stripe down for the whole call (stripe-python retries twice)
            fail_next_transfer(stripe_emulator, code="api_error", status=500)
        assert sweep(app_client, at(second))["failed"] == 1
        newest, sent = payouts(app_client, agency)
        assert (newest["cycle_date"], newest["status"], newest["transfer_id"]) == (
            second, "in_transit", None)
        assert sent["transfer_id"] is not None

        stripe_post(stripe_emulator, f"/v1/test_helpers/accounts/{account_id}/fail_payout",
                    failure_code="account_closed")
        wait_for(lambda: payouts(app_client, agency)[1]["status"] == "failed")
        newest, sent = payouts(app_client, agency)
        assert (sent["status"], sent["failure_stage"], sent["failure_code"]) == (
            "failed", "bank", "account_closed")
        assert (newest["status"], newest["failure_stage"]) == ("in_transit", None)
        assert read_balance(agency.agency_id, PAID_OUT, Asset.USD).balance == 150_000_000
        assert read_balance(agency.agency_id, PAYOUTS_IN_FLIGHT, Asset.USD).balance == 120_000_000

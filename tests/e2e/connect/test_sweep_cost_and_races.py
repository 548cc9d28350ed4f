"""The payout sweep reads only what is due, and concurrent sweeps pay once."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

from chalicelib.jobs import run_job
from chalicelib.services.payouts import schedule_op
from chalicelib.store.transact import commit
from tests.e2e.connect.helpers import (
    add_profit,
    connect,
    payouts,
    stripe_post,
    transfers_to,
)
from tests.e2e.connect.test_connect_payouts import ANCHOR, cycle_dates
from tests.helpers import create_agency


class TestSweepReadsOnlyDueAgencies:
    def test_no_scan_and_two_reads_per_due_agency(self, table, dynamodb_calls) -> None:
        today = date(2026, 3, 10)
        # Two agencies due on 2026-03-31, three due only on 2026-04-15.
        for n in range(2):
            commit([schedule_op(f"agy_due{n}", date(2026, 1, 31), today)])
        for n in range(3):
            commit([schedule_op(f"agy_later{n}", date(2026, 1, 15), date(2026, 3, 20))])
        dynamodb_calls.reset()
        summary = run_job("payout-sweep", datetime(2026, 3, 31, 2, tzinfo=UTC))
        assert summary["processed"] == 2
        assert summary["results"] == {"not_connected": 2}
        assert dynamodb_calls.calls["Scan"] == 0
        assert dynamodb_calls.calls["GetItem"] == 2 * 2
        # Unsent transfers + due schedules, each read in every shard of the due index: a
        # constant, whatever the number of agencies (SPEC: the partition is sharded).
        from chalicelib.store.keys import DUE_SHARDS

        assert dynamodb_calls.calls["Query"] <= 2 * DUE_SHARDS
        again = run_job("payout-sweep", datetime(2026, 3, 31, 2, tzinfo=UTC))
        assert again["processed"] == 0  # moved on to the next cycle date


class TestSweepDecidesFromTheSchedule:
    def test_connect_state_rides_on_the_schedule_so_a_due_agency_costs_one_read(
            self, stripe_emulator, app_client, dynamodb_calls) -> None:
        from chalicelib.store.payout_schedules import PayoutSchedule
        from tests.e2e.connect.helpers import stripe_post as post
        from tests.stripe_fixtures import wait_for

        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = connect(app_client, agency, stripe_emulator)

        def schedule() -> PayoutSchedule:
            return PayoutSchedule.get(*PayoutSchedule.key(agency.agency_id),
                                      consistent_read=True)

        copied = schedule()
        assert (copied.connect_account_id, copied.connect_status,
                copied.connect_payouts_enabled) == (account_id, "connected", True)
        stripe_post(stripe_emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
        add_profit(agency, 150_000_000, "one-read")
        first, second = cycle_dates()
        dynamodb_calls.reset()
        paid = run_job("payout-sweep", datetime.fromisoformat(f"{first}T02:00:00+00:00"))
        assert paid["results"] == {"paid": 1}
        sweep_calls = dynamodb_calls.in_this_thread()  # not the transfer webhook's reads
        assert sweep_calls["GetItem"] == 1  # the profit balance, nothing else
        assert dynamodb_calls.calls["Scan"] == 0

        # A restriction reaches the schedule with the ConnectAccount, in one transaction.
        post(stripe_emulator, f"/v1/test_helpers/accounts/{account_id}/restrict")
        wait_for(lambda: schedule().connect_status == "restricted")
        assert schedule().connect_payouts_enabled is False
        add_profit(agency, 150_000_000, "two")
        held = run_job("payout-sweep", datetime.fromisoformat(f"{second}T02:00:00+00:00"))
        assert held["results"] == {"payouts_disabled": 1}
        assert [p["amount_usd"] for p in payouts(app_client, agency)] == ["150.00"]


class TestConcurrentSweeps:
    def test_two_sweeps_at_once_pay_one_transfer(self, stripe_emulator, app_client) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = connect(app_client, agency, stripe_emulator)
        stripe_post(stripe_emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
        add_profit(agency, 250_000_000, "a")
        as_of = datetime.fromisoformat(f"{cycle_dates()[0]}T02:00:00+00:00")
        results: list[dict] = []
        threads = [threading.Thread(target=lambda: results.append(run_job("payout-sweep", as_of)))
                   for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(r["succeeded"] for r in results) == 1
        assert [p["amount_usd"] for p in payouts(app_client, agency)] == ["250.00"]
        assert [t["amount"] for t in transfers_to(stripe_emulator, account_id)] == [25_000]


class TestUnconfirmedTransfer:
    def test_stripe_outage_leaves_payout_in_transit_then_it_is_sent_once(
            self, stripe_emulator, app_client) -> None:
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = connect(app_client, agency, stripe_emulator)
        stripe_post(stripe_emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
        add_profit(agency, 130_000_000, "a")
        for _ in range(3):  # stripe-python retries a 5xx twice on its own
            stripe_post(stripe_emulator, "/v1/test_helpers/transfers/fail_next",
                        code="api_error", status=500)
        as_of = datetime.fromisoformat(f"{cycle_dates()[0]}T02:00:00+00:00")
        summary = run_job("payout-sweep", as_of)
        assert summary["results"] == {"transfer_pending": 1}
        [pending] = payouts(app_client, agency)
        assert (pending["status"], pending["transfer_id"]) == ("in_transit", None)
        assert transfers_to(stripe_emulator, account_id) == []

        finished = run_job("reconciliation", datetime.now(UTC))
        assert finished["unsent_transfers"]["unsent_sent"] == 1
        sent = transfers_to(stripe_emulator, account_id)
        assert [t["amount"] for t in sent] == [13_000]
        assert payouts(app_client, agency)[0]["transfer_id"] == sent[0]["id"]
        again = run_job("payout-sweep", as_of)
        assert again["unsent_transfers"]["unsent_seen"] == 0
        assert len(transfers_to(stripe_emulator, account_id)) == 1

"""Reconciliation: silent when the ledger and Stripe agree, a report of every difference
when they do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from chalicelib.store import keys
from chalicelib.store.findings import ReconciliationReport
from tests.e2e.connect.helpers import HEADERS, add_profit, connect, stripe_post, sweep
from tests.e2e.connect.test_connect_payouts import ANCHOR, at, cycle_dates
from tests.helpers import call, create_agency


def reconcile(client, as_of: datetime) -> dict:
    answer = call(client, "POST", "/v1/platform/jobs/reconciliation/runs", platform=True,
                  body={"as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert answer.status == 200, answer.body
    return answer.body


def reports() -> list[ReconciliationReport]:
    return list(ReconciliationReport.query(keys.RECONCILIATION_PK))


class TestReconciliation:
    def test_agreement_writes_nothing_and_a_stray_transfer_is_reported(
            self, stripe_emulator, app_client) -> None:
        requests.post(f"{stripe_emulator}/_devstack/reset", timeout=10)
        agency = create_agency(app_client, subscription_start=ANCHOR)
        account_id = connect(app_client, agency, stripe_emulator)
        stripe_post(stripe_emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
        add_profit(agency, 120_000_000, "a")
        assert sweep(app_client, at(cycle_dates()[0]))["succeeded"] == 1

        now = datetime.now(UTC) + timedelta(minutes=1)
        clean = reconcile(app_client, now)
        assert clean["differences_total"] == 0, clean["differences"]
        assert clean["succeeded"] == 1
        assert clean["failed"] == 0, clean
        assert reports() == []

        stray = requests.post(f"{stripe_emulator}/v1/transfers", headers=HEADERS, data={
            "amount": 500, "currency": "usd", "destination": account_id,
            "metadata[agency_id]": agency.agency_id, "metadata[payout_id]": "pyt_unknown",
            "metadata[cycle_date]": "2020-01-31"}, timeout=10)
        assert stray.status_code == 200, stray.text
        found = reconcile(app_client, now)
        assert [d["kind"] for d in found["differences"]] == ["transfer_without_payout"]
        assert found["differences"][0]["stripe_id"] == stray.json()["id"]
        [report] = reports()
        assert report.differences[0]["kind"] == "transfer_without_payout"

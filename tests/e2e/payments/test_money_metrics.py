"""Money events are CloudWatch metrics in the embedded metric format (SPEC section 4): one
EMF line per request or job run on stdout, naming what was counted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.connect.helpers import add_profit, connect, payouts, stripe_post, sweep
from tests.e2e.connect.test_connect_payouts import ANCHOR, at, cycle_dates
from tests.e2e.payments.support import add_card, buy, new_subaccount
from tests.helpers import call, create_agency
from tests.stripe_fixtures import wait_for


def emitted(out: str) -> dict[str, float]:
    """Metric name → value summed over the EMF lines printed."""
    totals: dict[str, float] = {}
    for line in out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "AgencyAccounts"
            for metric in directive["Metrics"]:
                values = document[metric["Name"]]
                values = values if isinstance(values, list) else [values]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals


def test_purchases_declines_and_usage_records_are_counted(
        app_client: Any, stripe_emulator: str, capsys: pytest.CaptureFixture[str]) -> None:
    agency = create_agency(app_client)
    sid = new_subaccount(app_client, agency)
    add_card(app_client, agency.owner_token, sid)
    capsys.readouterr()
    assert buy(app_client, agency.owner_token, sid, minutes=10).status == 201
    assert emitted(capsys.readouterr().out) == {"PurchasesCredited": 1}

    declined = new_subaccount(app_client, agency)
    add_card(app_client, agency.owner_token, declined, "pm_card_chargeCustomerFail")
    capsys.readouterr()
    assert buy(app_client, agency.owner_token, declined, minutes=10).status == 402
    assert emitted(capsys.readouterr().out) == {"PaymentsDeclined": 1}

    record = {"subaccount_id": sid, "tier": "premium", "duration_seconds": 60,
              "direction": "outbound", "status": "completed",
              "started_at": "2026-06-01T10:00:00Z"}
    answer = call(app_client, "POST", "/v1/platform/usage", platform=True, body={"records": [
        {**record, "call_id": "metrics-call-1"}, {**record, "call_id": "metrics-call-2"},
        {**record, "call_id": "metrics-call-1"}]})
    assert answer.status == 200, answer.body
    assert emitted(capsys.readouterr().out) == {"UsageRecordsRecorded": 2,
                                                "UsageRecordsDuplicate": 1}


def test_a_bank_refused_payout_is_counted_for_its_alarm(
        app_client: Any, stripe_emulator: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``payout.failed`` (the connected account's bank refused the money) is the metric
    ``BankPayoutsFailed``, which the ``BankPayoutsFailed`` alarm in infra/table.json watches."""
    agency = create_agency(app_client, subscription_start=ANCHOR)
    account_id = connect(app_client, agency, stripe_emulator)
    stripe_post(stripe_emulator, "/v1/test_helpers/balance/add_available", amount=100_000)
    add_profit(agency, 150_000_000, "metrics")
    assert sweep(app_client, at(cycle_dates()[0]))["succeeded"] == 1
    capsys.readouterr()

    stripe_post(stripe_emulator, f"/v1/test_helpers/accounts/{account_id}/fail_payout",
                failure_code="account_closed")
    wait_for(lambda: payouts(app_client, agency)[0]["status"] == "failed")
    assert emitted(capsys.readouterr().out).get("BankPayoutsFailed") == 1

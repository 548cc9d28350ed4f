"""Profit earned by a real purchase (payments feature) is paid out, and reconciles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from tests.e2e.connect.helpers import connect, payouts, profit, sweep, transfers_to
from tests.e2e.connect.test_connect_payouts import ANCHOR, at, cycle_dates
from tests.e2e.connect.test_reconciliation import reconcile, reports
from tests.helpers import call, create_agency


class TestProfitFromPurchases:
    def test_purchase_profit_is_paid_out_and_reconciles(self, stripe_emulator,
                                                        app_client) -> None:
        requests.post(f"{stripe_emulator}/_devstack/reset", timeout=10)
        agency = create_agency(app_client, subscription_start=ANCHOR)
        client_sub = call(app_client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
            "name": "Client", "login_email": f"client-{agency.agency_id}@example.com",
            "prices": {"basic": "0.12", "premium": "0.20"}})
        assert client_sub.status == 201, client_sub.body
        sid = client_sub.body["id"]
        card = call(app_client, "POST", f"/v1/subaccounts/{sid}/payment-methods",
                    token=agency.owner_token, body={"payment_method": "pm_card_visa"})
        assert card.status == 201, card.body
        bought = call(app_client, "POST", f"/v1/subaccounts/{sid}/purchases",
                      token=agency.owner_token, body={"tier": "premium", "minutes": 3000})
        assert bought.status == 201, bought.body
        assert bought.body["profit_usd"] == "120.00"
        assert profit(agency) == 120_000_000
        overview = call(app_client, "GET", "/v1/agency/overview", token=agency.owner_token).body
        assert overview["profit_this_period_usd"] == "120.00"
        assert overview["available_profit_usd"] == "120.00"

        account_id = connect(app_client, agency, stripe_emulator)
        # No top-up: the platform balance is the $600 charge itself.
        assert sweep(app_client, at(cycle_dates()[0]))["succeeded"] == 1
        assert [p["amount_usd"] for p in payouts(app_client, agency)] == ["120.00"]
        assert [t["amount"] for t in transfers_to(stripe_emulator, account_id)] == [12_000]

        summary = reconcile(app_client, datetime.now(UTC) + timedelta(minutes=1))
        assert summary["differences_total"] == 0, summary["differences"]
        assert summary["failed"] == 0, summary
        assert summary["succeeded"] == 2  # one charge, one transfer
        assert reports() == []

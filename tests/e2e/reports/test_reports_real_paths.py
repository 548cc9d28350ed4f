"""Reports fed by the real write paths: sub-accounts, card purchases (Stripe emulator),
platform grants, usage ingestion and confirmed moves, all through HTTP.

The report of every sub-account must equal what the ledger says for the same range (a
brute-force read of the entries), the call figures must equal what ingestion answered, and
the CSV must parse back to the JSON figures.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.domain.money import minutes_cost, parse_usd, render_usd
from chalicelib.services.reports import agency_usage_totals
from tests.e2e.reports.scenario import LedgerView
from tests.helpers import AgencyFixture, call, create_agency
from tests.stripe_fixtures import wait_for


def new_client(client: Any, agency: AgencyFixture, name: str, basic: str,
               premium: str) -> str:
    answer = call(client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
        "name": name, "login_email": f"rep-{uuid.uuid4().hex[:10]}@example.com",
        "prices": {"basic": basic, "premium": premium}, "subscription_start": "2026-01-31"})
    assert answer.status == 201, answer.body
    return answer.body["id"]


def report(client: Any, token: str, start: date, end: date, sid: str | None = None,
           **headers: str) -> Any:
    path = "/v1/reports/subaccounts" + (f"/{sid}" if sid else "")
    return call(client, "GET", f"{path}?from={start}&to={end}", token=token,
                headers=headers or None)


class TestReportsOverRealWritePaths:
    def test_a_month_of_purchases_usage_and_moves_matches_the_ledger(
            self, app_client, stripe_emulator) -> None:
        client = app_client
        agency = create_agency(client, subscription_start="2026-01-31")
        a = new_client(client, agency, "Client A", "0.15", "0.25")
        b = new_client(client, agency, "Client B", "0.12", "0.20")
        today = datetime.now(UTC).date()
        month_start = today.replace(day=1)
        last_of_previous = month_start - timedelta(days=1)

        # Minutes in: a card purchase for A (profit), a platform grant for the primary.
        card = call(client, "POST", f"/v1/subaccounts/{a}/payment-methods",
                    token=agency.owner_token, body={"payment_method": "pm_card_visa"})
        assert card.status == 201, card.body
        bought = call(client, "POST", f"/v1/subaccounts/{a}/purchases", token=agency.owner_token,
                      body={"tier": "basic", "minutes": 20},
                      headers={"Idempotency-Key": uuid.uuid4().hex})
        assert bought.status in (201, 202), bought.body
        granted = call(client, "POST", "/v1/platform/adjustments", platform=True,
                       headers={"Idempotency-Key": uuid.uuid4().hex},
                       body={"subaccount_id": agency.primary_id, "asset": "premium_minutes",
                             "amount": "30", "reason": "welcome minutes"})
        assert granted.status == 201, granted.body
        if bought.status == 202:
            wait_for(lambda: report(client, agency.owner_token, today, today, a)
                     .body["purchases_usd"] == "3.00")

        # A move from the primary to B (0.16 → 0.20: 600 s arrive as 480 s).
        quote = call(client, "POST", "/v1/transfers/quotes", token=agency.owner_token,
                     headers={"Idempotency-Key": uuid.uuid4().hex},
                     body={"from_subaccount_id": agency.primary_id, "to_subaccount_id": b,
                           "asset": "premium_minutes", "amount": "10"})
        assert quote.status == 201, quote.body
        moved = call(client, "POST", "/v1/transfers", token=agency.owner_token,
                     headers={"Idempotency-Key": uuid.uuid4().hex},
                     body={"quote_id": quote.body["quote_id"]})
        assert moved.status == 201, moved.body

        # Calls on both sides of a month end, and today; one overdraws B's wallet.
        def at(day: date, clock: str) -> str:
            return f"{day.isoformat()}T{clock}Z"

        records = [
            ("basic", a, 125, "completed", "outbound", at(last_of_previous, "23:59:59")),
            ("basic", a, 61, "no-answer", "outbound", at(month_start, "00:00:00")),
            ("premium", b, 300, "completed", "inbound", at(month_start, "08:00:00")),
            ("premium", b, 400, "failed", "inbound", at(today, "00:00:01")),  # 180 s short
            ("premium", agency.primary_id, 90, "voicemail", "outbound", at(today, "00:00:02")),
        ]
        ingested = call(client, "POST", "/v1/platform/usage", platform=True, body={"records": [
            {"call_id": f"call-{uuid.uuid4().hex}", "subaccount_id": sid, "tier": tier,
             "duration_seconds": seconds, "direction": direction, "status": status,
             "started_at": started}
            for tier, sid, seconds, status, direction, started in records]})
        assert ingested.status == 200, ingested.body
        assert ingested.body["recorded"] == len(records), ingested.body
        debited = [r["debited_seconds"] for r in ingested.body["results"]]
        assert debited == [125, 61, 300, 180, 90]

        start = last_of_previous - timedelta(days=3)
        answer = report(client, agency.owner_token, start, today)
        assert answer.status == 200, answer.body
        rows = {row["subaccount_id"]: row for row in answer.body["subaccounts"]}
        assert set(rows) == {agency.primary_id, a, b}

        ledger = LedgerView(agency.agency_id)
        for sid, row in rows.items():
            truth = ledger.sums(sid, start, today)
            assert row["seconds_used"] == {"basic": truth["used_basic_seconds"],
                                           "premium": truth["used_premium_seconds"]}, sid
            assert parse_usd(row["purchases_usd"]) == truth["purchases_micros"], sid
            assert parse_usd(row["profit_usd"], signed=True) == truth["profit_micros"], sid
            assert len(row["daily"]) == (today - start).days + 1

        assert rows[a]["seconds_used"] == {"basic": 186, "premium": 0}
        assert rows[a]["purchases_usd"] == "3.00" and rows[a]["profit_usd"] == "1.00"
        assert rows[a]["calls"]["by_status"]["no_answer"] == 1
        assert rows[a]["spent_usd"] == render_usd(minutes_cost(125, 150_000)
                                                  + minutes_cost(61, 150_000))
        assert rows[b]["seconds_used"]["premium"] == 480
        assert rows[b]["shortfall_seconds"] == 220
        assert rows[b]["calls"]["by_direction"] == {"inbound": 2, "outbound": 0}
        assert rows[b]["seconds_moved"] == {"in": 480, "out": 0}
        assert rows[b]["wallet_balance_usd"] == "0.00"
        primary = rows[agency.primary_id]
        assert primary["calls"]["by_status"]["other"] == 1
        assert primary["seconds_moved"] == {"in": 0, "out": 600}
        assert primary["wallet_balance_usd"] == render_usd(minutes_cost(1800 - 600 - 90,
                                                                        160_000))

        # The month end splits A's two calls into different days.
        by_day = {d["date"]: d for d in rows[a]["daily"]}
        assert by_day[last_of_previous.isoformat()]["seconds_used"]["basic"] == 125
        assert by_day[month_start.isoformat()]["seconds_used"]["basic"] == 61
        this_month = report(client, agency.owner_token, month_start, today, a).body
        assert this_month["seconds_used"]["basic"] == 61

        # The agency figures (Monthly Overview) are the sums of the rows.
        totals = agency_usage_totals(agency.agency_id, start, today)
        assert totals["total_used_seconds"] == answer.body["totals"]["seconds_used"] == {
            "basic": 186, "premium": 570}
        assert totals["profit_micros"] == parse_usd(answer.body["totals"]["profit_usd"],
                                                    signed=True) == 1_000_000
        assert totals["purchases_micros"] == 3_000_000
        assert totals["calls_total"] == 5

        # The CSV parses back to the same figures.
        csv_answer = report(client, agency.owner_token, start, today, Accept="text/csv")
        assert csv_answer.status == 200
        lines = list(csv.DictReader(io.StringIO(csv_answer.body, newline="")))
        assert {line["subaccount_id"] for line in lines} == set(rows)
        for line in lines:
            row = rows[line["subaccount_id"]]
            assert int(line["basic_seconds_used"]) == row["seconds_used"]["basic"]
            assert int(line["premium_seconds_used"]) == row["seconds_used"]["premium"]
            assert int(line["calls_total"]) == row["calls"]["total"]
            for money in ("spent_usd", "purchases_usd", "profit_usd", "wallet_balance_usd"):
                assert parse_usd(line[money], signed=True) == parse_usd(row[money],
                                                                        signed=True)


class TestMonthlyOverviewTotals:
    def test_global_minutes_are_all_time_across_every_subaccount_even_removed(
            self, app_client) -> None:
        client = app_client
        agency = create_agency(client, subscription_start="2026-01-31")
        a = new_client(client, agency, "Client A", "0.15", "0.25")
        b = new_client(client, agency, "Client B", "0.12", "0.20")
        for sid in (a, b):
            granted = call(client, "POST", "/v1/platform/adjustments", platform=True,
                           headers={"Idempotency-Key": uuid.uuid4().hex},
                           body={"subaccount_id": sid, "asset": "basic_minutes",
                                 "amount": "10", "reason": "test grant"})
            assert granted.status == 201, granted.body
        now = datetime.now(UTC)
        long_ago = "2025-06-01T12:00:00Z"  # before any current billing period
        records = [(a, 90, long_ago), (a, 30, now.strftime("%Y-%m-%dT%H:%M:%SZ")),
                   (b, 45, long_ago)]
        ingested = call(client, "POST", "/v1/platform/usage", platform=True, body={"records": [
            {"call_id": f"call-{uuid.uuid4().hex}", "subaccount_id": sid, "tier": "basic",
             "duration_seconds": seconds, "direction": "outbound", "status": "completed",
             "started_at": started} for sid, seconds, started in records]})
        assert ingested.body["recorded"] == 3, ingested.body
        removed = call(client, "POST", f"/v1/subaccounts/{b}/removal", token=agency.owner_token,
                       body={"minutes_destination_id": agency.primary_id})
        assert removed.status in (200, 201), removed.body

        overview = call(client, "GET", "/v1/agency/overview", token=agency.owner_token).body
        assert overview["total_minutes_used"]["basic_seconds"] == 90 + 30 + 45
        assert overview["total_minutes_used"]["total"] == "2.75"
        assert overview["minutes_used_this_period"]["basic_seconds"] == 30
        assert overview["plan_renewal_date"] == (
            date.fromisoformat(overview["period_end"]) + timedelta(days=1)).isoformat()
        assert overview["period_start"] <= now.date().isoformat() <= overview["period_end"]

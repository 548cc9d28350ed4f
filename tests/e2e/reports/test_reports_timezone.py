"""Report dates are dates of the agency's timezone (SPEC "Reporting", issue 12).

Every event is counted on its local date in the timezone the agency has when the event is
recorded: calls on either side of a local midnight (west of UTC, east of UTC, a half-hour
zone, a DST change) land on the local days, card purchases, moves and refunds land on the
local "today", a timezone change applies from then on, and bad timezones are refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from chalicelib.domain.timezones import local_date
from tests.e2e.payments.support import STRIPE_HEADERS, add_card, buy
from tests.e2e.reports.scenario import LedgerView
from tests.helpers import AgencyFixture, call, create_agency
from tests.stripe_fixtures import wait_for


def grant(client: Any, sid: str, asset: str, minutes: str) -> None:
    answer = call(client, "POST", "/v1/platform/adjustments", platform=True,
                  headers={"Idempotency-Key": uuid.uuid4().hex},
                  body={"subaccount_id": sid, "asset": asset, "amount": minutes,
                        "reason": "test grant"})
    assert answer.status == 201, answer.body


def ingest(client: Any, sid: str, calls: list[tuple[str, int, str]]) -> None:
    """Record calls ``(tier, seconds, started_at)``; each must be debited in full."""
    answer = call(client, "POST", "/v1/platform/usage", platform=True, body={"records": [
        {"call_id": f"call-{uuid.uuid4().hex}", "subaccount_id": sid, "tier": tier,
         "duration_seconds": seconds, "direction": "outbound", "status": "completed",
         "started_at": started}
        for tier, seconds, started in calls]})
    assert answer.status == 200, answer.body
    assert [r["debited_seconds"] for r in answer.body["results"]] == [s for _, s, _ in calls]


def report(client: Any, agency: AgencyFixture, start: str, end: str,
           sid: str | None = None) -> dict[str, Any]:
    path = "/v1/reports/subaccounts" + (f"/{sid}" if sid else "")
    answer = call(client, "GET", f"{path}?from={start}&to={end}", token=agency.owner_token)
    assert answer.status == 200, answer.body
    return answer.body


def used_by_day(row: dict[str, Any]) -> dict[str, dict[str, int]]:
    """``date → seconds_used`` of the days that have any usage."""
    return {day["date"]: day["seconds_used"] for day in row["daily"]
            if any(day["seconds_used"].values())}


def client_with_card(client: Any, agency: AgencyFixture, name: str) -> str:
    """A secondary sub-account (premium at 0.20) with a saved card; returns its id."""
    created = call(client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
        "name": name, "login_email": f"tz-{uuid.uuid4().hex[:8]}@example.com",
        "prices": {"basic": "0.12", "premium": "0.20"}, "subscription_start": "2026-02-15"})
    assert created.status == 201, created.body
    add_card(client, agency.owner_token, created.body["id"])
    return created.body["id"]


def local_today_stable(zone: str, action: Callable[[], Any]) -> tuple[date, Any]:
    """Run ``action`` and return the local date it ran on; retried once over local midnight."""
    for _ in range(2):
        before = local_date(datetime.now(UTC), zone)
        result = action()
        if local_date(datetime.now(UTC), zone) == before:
            return before, result
    pytest.fail("crossed local midnight twice")  # pragma: no cover


class TestCallsLandOnLocalDates:
    @pytest.mark.parametrize(("zone", "before_midnight", "at_midnight", "last_day", "first_day"), [
        # UTC−5 in winter: 04:59:59Z is still the 28th in New York.
        ("America/New_York", "2026-03-01T04:59:59Z", "2026-03-01T05:00:00Z",
         "2026-02-28", "2026-03-01"),
        # UTC+5:30: a half-hour zone; 18:30Z on the 28th is already the 1st in Kolkata.
        ("Asia/Kolkata", "2026-02-28T18:29:59Z", "2026-02-28T18:30:00Z",
         "2026-02-28", "2026-03-01"),
        # UTC+13 (Auckland summer time): 11:00Z on the 28th is midnight of the 1st.
        ("Pacific/Auckland", "2026-02-28T10:59:59Z", "2026-02-28T11:00:00Z",
         "2026-02-28", "2026-03-01"),
        # The control: UTC dates.
        ("UTC", "2026-02-28T23:59:59Z", "2026-03-01T00:00:00Z", "2026-02-28", "2026-03-01"),
    ])
    def test_a_local_midnight_splits_the_days(self, app_client, zone: str, before_midnight: str,
                                              at_midnight: str, last_day: str,
                                              first_day: str) -> None:
        agency = create_agency(app_client, timezone=zone)
        sid = agency.primary_id
        grant(app_client, sid, "basic_minutes", "10")
        ingest(app_client, sid, [("basic", 61, before_midnight), ("basic", 122, at_midnight)])

        row = report(app_client, agency, "2026-02-27", "2026-03-02", sid)
        assert row["timezone"] == zone
        assert used_by_day(row) == {last_day: {"basic": 61, "premium": 0},
                                    first_day: {"basic": 122, "premium": 0}}
        # A one-day range is exactly that local day, in the list route as well.
        listed = report(app_client, agency, first_day, first_day)
        assert listed["timezone"] == zone
        (only,) = [r for r in listed["subaccounts"] if r["subaccount_id"] == sid]
        assert only["timezone"] == zone
        assert only["seconds_used"] == {"basic": 122, "premium": 0}
        assert listed["totals"]["seconds_used"] == {"basic": 122, "premium": 0}

    def test_daylight_saving_changes_where_midnight_falls(self, app_client) -> None:
        # New York moves to UTC−4 on 2026-03-08: midnight of the 9th is 04:00Z, not 05:00Z.
        agency = create_agency(app_client, timezone="America/New_York")
        sid = agency.primary_id
        grant(app_client, sid, "premium_minutes", "10")
        ingest(app_client, sid, [("premium", 30, "2026-03-08T04:59:59Z"),  # 23:59:59 EST, 7th
                                 ("premium", 40, "2026-03-09T03:59:59Z"),  # 23:59:59 EDT, 8th
                                 ("premium", 50, "2026-03-09T04:00:00Z")])  # 00:00 EDT, 9th
        row = report(app_client, agency, "2026-03-07", "2026-03-09", sid)
        assert used_by_day(row) == {"2026-03-07": {"basic": 0, "premium": 30},
                                    "2026-03-08": {"basic": 0, "premium": 40},
                                    "2026-03-09": {"basic": 0, "premium": 50}}
        assert [day["date"] for day in row["daily"]] == ["2026-03-07", "2026-03-08",
                                                         "2026-03-09"]

    def test_a_timezone_change_applies_from_then_on(self, app_client) -> None:
        agency = create_agency(app_client)  # UTC
        sid = agency.primary_id
        grant(app_client, sid, "basic_minutes", "10")
        ingest(app_client, sid, [("basic", 70, "2026-05-10T02:00:00Z")])  # 10 May in UTC
        changed = call(app_client, "PATCH", "/v1/agency", token=agency.owner_token,
                       body={"timezone": "America/Los_Angeles"})
        assert changed.status == 200, changed.body
        assert changed.body["timezone"] == "America/Los_Angeles"
        ingest(app_client, sid, [("basic", 80, "2026-05-10T02:00:00Z")])  # 9 May, 19:00 PDT

        # The same token speaks the new timezone at once (the agency is read per request).
        row = report(app_client, agency, "2026-05-09", "2026-05-10", sid)
        assert row["timezone"] == "America/Los_Angeles"
        assert used_by_day(row) == {"2026-05-09": {"basic": 80, "premium": 0},
                                    "2026-05-10": {"basic": 70, "premium": 0}}


def zone_off_utc_today() -> str:
    """A zone whose date differs from UTC's right now (+14 h from 10:00Z, −11 h before
    11:00Z), so a path still counting by the UTC date fails these tests at any hour."""
    now = datetime.now(UTC)
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        if local_date(now, zone) != now.date():
            return zone
    raise AssertionError("unreachable: the two zones are 25 hours apart")  # pragma: no cover


class TestMoneyLandsOnTheLocalToday:
    ZONE = zone_off_utc_today()

    def test_purchase_move_and_refund_are_counted_on_the_local_date(
            self, app_client, stripe_emulator) -> None:
        agency = create_agency(app_client, timezone=self.ZONE)
        buyer = client_with_card(app_client, agency, "Pacific client")

        day, bought = local_today_stable(
            self.ZONE, lambda: buy(app_client, agency.owner_token, buyer, minutes=100,
                                   key=uuid.uuid4().hex))
        assert bought.status == 201, bought.body
        row = report(app_client, agency, day.isoformat(), day.isoformat(), buyer)
        assert row["purchases_usd"] == "20.00" and row["profit_usd"] == "4.00"

        def move() -> Any:
            quote = call(app_client, "POST", "/v1/transfers/quotes", token=agency.owner_token,
                         headers={"Idempotency-Key": uuid.uuid4().hex},
                         body={"from_subaccount_id": buyer,
                               "to_subaccount_id": agency.primary_id,
                               "asset": "premium_minutes", "amount": "10"})
            assert quote.status == 201, quote.body
            return call(app_client, "POST", "/v1/transfers", token=agency.owner_token,
                        headers={"Idempotency-Key": uuid.uuid4().hex},
                        body={"quote_id": quote.body["quote_id"]})

        moved_day, moved = local_today_stable(self.ZONE, move)
        assert moved.status == 201, moved.body
        row = report(app_client, agency, moved_day.isoformat(), moved_day.isoformat(), buyer)
        assert row["seconds_moved"]["out"] == 600

        import requests

        def refund() -> None:
            answer = requests.post(f"{stripe_emulator}/v1/refunds",
                                   data={"payment_intent": bought.body["payment_intent_id"]},
                                   headers=STRIPE_HEADERS, timeout=10)
            assert answer.status_code == 200, answer.text
            wait_for(lambda: report(app_client, agency, local_date(datetime.now(UTC),
                                                                   self.ZONE).isoformat(),
                                    local_date(datetime.now(UTC), self.ZONE).isoformat(),
                                    buyer)["refunds_usd"] == "20.00")

        refund_day, _ = local_today_stable(self.ZONE, refund)
        row = report(app_client, agency, refund_day.isoformat(), refund_day.isoformat(), buyer)
        assert row["refunds_usd"] == "20.00"

        # The report equals the ledger bucketed by the same local dates.
        start, end = min(day, refund_day), max(day, refund_day)
        full = report(app_client, agency, start.isoformat(), end.isoformat(), buyer)
        truth = LedgerView(agency.agency_id).sums(buyer, start, end, timezone=self.ZONE)
        assert full["purchases_usd"] == "20.00" and truth["purchases_micros"] == 20_000_000
        assert full["refunds_usd"] == "20.00" and truth["refunds_micros"] == 20_000_000
        assert full["profit_usd"] == "0.00" and truth["profit_micros"] == 0

    def test_overview_counts_the_period_in_local_dates(self, app_client,
                                                       stripe_emulator) -> None:
        agency = create_agency(app_client, timezone=self.ZONE)
        buyer = client_with_card(app_client, agency, "Overview client")
        _, bought = local_today_stable(
            self.ZONE, lambda: buy(app_client, agency.owner_token, buyer, minutes=50,
                                   key=uuid.uuid4().hex))
        assert bought.status == 201, bought.body

        today, overview = local_today_stable(
            self.ZONE, lambda: call(app_client, "GET", "/v1/agency/overview",
                                    token=agency.owner_token))
        assert overview.status == 200, overview.body
        body = overview.body
        assert body["timezone"] == self.ZONE
        assert body["period_start"] <= today.isoformat() <= body["period_end"]
        assert body["profit_this_period_usd"] == "2.00"  # 50 × (0.20 − 0.16)


class TestTimezoneSetting:
    @pytest.mark.parametrize("bad", ["Mars/Olympus", "localtime", "../../etc/passwd",
                                     "america/new_york", "UTC+5", "", 5, None])
    def test_patch_refuses_what_is_not_an_iana_zone(self, app_client, bad: Any) -> None:
        agency = create_agency(app_client, timezone="Europe/Paris")
        answer = call(app_client, "PATCH", "/v1/agency", token=agency.owner_token,
                      body={"timezone": bad})
        assert answer.status == 422, answer.body
        assert "timezone" in json.dumps(answer.body["error"]["details"])  # names the field
        after = call(app_client, "GET", "/v1/agency", token=agency.owner_token)
        assert after.body["timezone"] == "Europe/Paris"

    def test_agency_creation_refuses_a_bad_zone_and_writes_nothing(self, app_client) -> None:
        body = {"name": "Zoneless", "owner_email": f"tz-{uuid.uuid4().hex[:8]}@example.com",
                "owner_password": "owner-password-1", "plan": "agency_pro",
                "subscription_start": "2026-01-31"}
        refused = call(app_client, "POST", "/v1/platform/agencies", platform=True,
                       body={**body, "timezone": "Atlantis/Capital"})
        assert refused.status == 422, refused.body
        assert refused.body["error"]["details"]["field"] == "timezone"
        # Nothing was claimed: the same owner email still signs up.
        created = call(app_client, "POST", "/v1/platform/agencies", platform=True,
                       body={**body, "timezone": "Asia/Tokyo"})
        assert created.status == 201, created.body
        assert created.body["agency"]["timezone"] == "Asia/Tokyo"

    def test_default_is_utc(self, app_client) -> None:
        agency = create_agency(app_client)
        assert call(app_client, "GET", "/v1/agency",
                    token=agency.owner_token).body["timezone"] == "UTC"
        assert report(app_client, agency, "2026-01-01", "2026-01-01")["timezone"] == "UTC"

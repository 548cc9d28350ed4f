"""SPEC "Call holds": a hold expires hold_seconds as requested plus the grace after placement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.helpers import call, create_agency
from tests.ledger_support import assert_ledger_consistent, make_subaccount

GRACE = timedelta(minutes=30)  # README: released after hold_seconds + 30 min


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def basic_seconds(client, agency, sid: str) -> int:
    return call(client, "GET", f"/v1/subaccounts/{sid}/wallet",
                token=agency.owner_token).body["basic_seconds"]


class TestHoldExpiry:
    def test_hold_expiry_counts_the_requested_seconds_not_the_reserved_ones(
            self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        call(app_client, "POST", "/v1/platform/adjustments", platform=True, body={
            "subaccount_id": sid, "asset": "basic_minutes", "amount": "2", "reason": "seed"})
        before = datetime.now(UTC).replace(microsecond=0)
        held = call(app_client, "POST", "/v1/platform/calls/authorize", platform=True, body={
            "subaccount_id": sid, "tier": "basic", "call_id": "long-call", "hold_seconds": 600})
        after = datetime.now(UTC)
        assert held.status == 200, held.body
        assert held.body["hold"]["seconds"] == 120  # all there was
        expires = datetime.fromisoformat(held.body["hold"]["expires_at"].replace("Z", "+00:00"))
        requested = timedelta(seconds=600)
        assert before + requested + GRACE <= expires <= after + requested + GRACE

        # past what 120 reserved seconds would give, but before the requested 600 s + grace
        early = call(app_client, "POST", "/v1/platform/jobs/call-holds/runs", platform=True,
                     body={"as_of": iso(after + timedelta(seconds=120) + GRACE
                                        + timedelta(minutes=2))})
        assert early.body["succeeded"] == 0
        assert basic_seconds(app_client, agency, sid) == 0
        # the call reports within its requested time: the hold settles it
        settled = call(app_client, "POST", "/v1/platform/usage", platform=True, body={
            "records": [{"call_id": "long-call", "subaccount_id": sid, "tier": "basic",
                         "duration_seconds": 100, "direction": "outbound",
                         "status": "completed", "started_at": iso(before)}]})
        assert settled.body["results"][0]["debited_seconds"] == 100
        assert basic_seconds(app_client, agency, sid) == 20
        assert_ledger_consistent()

    def test_unsettled_hold_is_released_once_its_requested_time_and_grace_passed(
            self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        call(app_client, "POST", "/v1/platform/adjustments", platform=True, body={
            "subaccount_id": sid, "asset": "basic_minutes", "amount": "1", "reason": "seed"})
        held = call(app_client, "POST", "/v1/platform/calls/authorize", platform=True, body={
            "subaccount_id": sid, "tier": "basic", "call_id": "lost-call", "hold_seconds": 900})
        assert held.body["hold"]["seconds"] == 60
        late = datetime.now(UTC) + timedelta(seconds=900) + GRACE + timedelta(minutes=1)
        released = call(app_client, "POST", "/v1/platform/jobs/call-holds/runs", platform=True,
                        body={"as_of": iso(late)})
        assert released.body["succeeded"] == 1
        assert basic_seconds(app_client, agency, sid) == 60
        assert_ledger_consistent()

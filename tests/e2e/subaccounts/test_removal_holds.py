"""SPEC "Call holds" and "Remove": removal first releases every open hold, so held seconds
move to the destination with the rest; nothing is held, placed or recorded on a removed
sub-account afterwards."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.errors import DomainError
from chalicelib.domain.ledger import held
from chalicelib.store.ledger import read_balances
from tests.e2e.subaccounts.support import balances_of, grant, ledger_totals, new_subaccount
from tests.helpers import AgencyFixture, call, create_agency


def authorize(client: Any, sid: str, call_id: str, seconds: int, tier: str = "basic") -> Any:
    return call(client, "POST", "/v1/platform/calls/authorize", platform=True, body={
        "subaccount_id": sid, "tier": tier, "call_id": call_id, "hold_seconds": seconds})


def usage(client: Any, sid: str, call_id: str, seconds: int, tier: str = "basic") -> dict:
    answer = call(client, "POST", "/v1/platform/usage", platform=True, body={"records": [{
        "call_id": call_id, "subaccount_id": sid, "tier": tier, "duration_seconds": seconds,
        "direction": "outbound", "status": "completed", "started_at": "2026-11-20T10:00:00Z"}]})
    assert answer.status == 200, answer.body
    return answer.body["results"][0]


def remove(client: Any, agency: AgencyFixture, sid: str, destination: str) -> Any:
    return call(client, "POST", f"/v1/subaccounts/{sid}/removal", token=agency.owner_token,
                body={"minutes_destination_id": destination})


def held_seconds(agency_id: str, sid: str) -> dict[str, int]:
    return {asset: view.balance for asset, view in read_balances(agency_id, held(sid)).items()}


def _held_sub(client: Any) -> tuple[AgencyFixture, str]:
    """A sub-account with 50 Basic and 5 Premium minutes, 10 Basic and 2 Premium held."""
    agency = create_agency(client)
    sid = new_subaccount(client, agency)["id"]  # 0.25 / 0.30: above the primary's prices
    grant(agency.agency_id, sid, "basic_minutes", 3000)
    grant(agency.agency_id, sid, "premium_minutes", 300)
    assert authorize(client, sid, f"call-b-{sid}", 600).body["hold"]["seconds"] == 600
    assert authorize(client, sid, f"call-p-{sid}", 120, "premium").body["hold"][
        "seconds"] == 120
    assert balances_of(agency.agency_id, sid)["basic_minutes"] == 2400
    return agency, sid


class TestRemovalReleasesHolds:
    def test_removal_moves_held_seconds_to_the_destination_with_the_rest(
            self, app_client) -> None:
        agency, sid = _held_sub(app_client)
        preview = call(app_client, "GET", f"/v1/subaccounts/{sid}/removal",
                       token=agency.owner_token).body
        assert (preview["basic_seconds"], preview["premium_seconds"]) == (3000, 300)
        to_primary = {d["id"]: d for d in preview["eligible_destinations"]}[agency.primary_id]
        assert to_primary["would_receive"] == {"basic_seconds": 3000, "premium_seconds": 300}

        answer = remove(app_client, agency, sid, agency.primary_id)
        assert answer.status == 200, answer.body
        assert answer.body["moved"]["basic_seconds_sent"] == 3000
        assert answer.body["moved"]["basic_seconds_received"] == 3000
        assert answer.body["moved"]["premium_seconds_received"] == 300
        primary = balances_of(agency.agency_id, agency.primary_id)
        assert primary["basic_minutes"] == 3000 and primary["premium_minutes"] == 300
        assert set(held_seconds(agency.agency_id, sid).values()) <= {0}
        assert set(balances_of(agency.agency_id, sid).values()) <= {0}
        assert all(total == 0 for total in ledger_totals(agency.agency_id).values())

    def test_an_expired_hold_is_never_released_into_a_removed_wallet(self, app_client) -> None:
        agency, sid = _held_sub(app_client)
        assert remove(app_client, agency, sid, agency.primary_id).status == 200
        swept = call(app_client, "POST", "/v1/platform/jobs/call-holds/runs", platform=True,
                     body={"as_of": "2999-01-01T00:00:00Z"})
        assert swept.status == 200
        assert swept.body["succeeded"] == 0
        assert set(balances_of(agency.agency_id, sid).values()) <= {0}
        assert set(held_seconds(agency.agency_id, sid).values()) <= {0}
        assert all(total == 0 for total in ledger_totals(agency.agency_id).values())

    def test_usage_for_a_removed_subaccount_is_rejected_with_subaccount_removed(
            self, app_client) -> None:
        agency, sid = _held_sub(app_client)
        assert remove(app_client, agency, sid, agency.primary_id).status == 200
        for call_id in (f"call-b-{sid}", "a-new-call"):
            result = usage(app_client, sid, call_id, 30)
            assert result["status"] == "rejected", result
            assert result["error"]["code"] == "subaccount_removed"
        assert balances_of(agency.agency_id, agency.primary_id)["basic_minutes"] == 3000
        assert all(total == 0 for total in ledger_totals(agency.agency_id).values())

    def test_a_usage_record_racing_the_removal_is_rejected_not_recorded(
            self, app_client) -> None:
        from chalicelib.services.access import get_subaccount
        from chalicelib.services.usage import SubaccountRemoved, parse_usage_record, record_call

        agency, sid = _held_sub(app_client)
        read_before = get_subaccount(agency.agency_id, sid)  # the record resolved it first
        assert remove(app_client, agency, sid, agency.primary_id).status == 200
        record = parse_usage_record({
            "call_id": "late-call", "subaccount_id": sid, "tier": "basic",
            "duration_seconds": 30, "started_at": "2026-11-20T10:00:00Z"})
        with pytest.raises(SubaccountRemoved):
            record_call(record, read_before)
        assert all(total == 0 for total in ledger_totals(agency.agency_id).values())

    def test_a_hold_cannot_be_placed_on_a_removed_subaccount(self, app_client) -> None:
        from chalicelib.services.access import get_subaccount
        from chalicelib.services.usage import place_hold
        from chalicelib.store.base import utcnow

        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)["id"]
        grant(agency.agency_id, sid, "basic_minutes", 600)
        read_before = get_subaccount(agency.agency_id, sid)
        assert remove(app_client, agency, sid, agency.primary_id).status == 200
        assert authorize(app_client, sid, "after-removal", 60).status == 404
        # even with the sub-account read before the removal, the hold's own write refuses
        grant(agency.agency_id, sid, "basic_minutes", 60)  # a stray credit, straight in
        with pytest.raises(DomainError):
            place_hold(read_before, "basic", "raced-call", 60, utcnow(), requested_seconds=60)
        assert set(held_seconds(agency.agency_id, sid).values()) <= {0}

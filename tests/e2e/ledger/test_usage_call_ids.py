"""SPEC "Usage": a call id is unique platform-wide, whichever agency reports it."""

from __future__ import annotations

from chalicelib.domain.ledger import Asset, wallet
from chalicelib.store.ledger import read_balance
from tests.helpers import call, create_agency
from tests.ledger_support import assert_ledger_consistent, make_subaccount


def grant(client, sid: str, minutes: str = "10") -> None:
    answer = call(client, "POST", "/v1/platform/adjustments", platform=True, body={
        "subaccount_id": sid, "asset": "premium_minutes", "amount": minutes, "reason": "seed"})
    assert answer.status == 201, answer.body


def record(sid: str, call_id: str, seconds: int = 60, **changes) -> dict:
    return {"call_id": call_id, "subaccount_id": sid, "tier": "premium",
            "duration_seconds": seconds, "direction": "outbound", "status": "completed",
            "started_at": "2026-11-20T10:00:00Z", **changes}


def ingest(client, *records: dict) -> list[dict]:
    answer = call(client, "POST", "/v1/platform/usage", platform=True,
                  body={"records": list(records)})
    assert answer.status == 200, answer.body
    return answer.body["results"]


def premium(agency_id: str, sid: str) -> int:
    return read_balance(agency_id, wallet(sid), Asset.PREMIUM_MINUTES).balance


class TestCallIdsArePlatformWide:
    def test_call_id_of_another_agency_is_rejected_and_debits_nothing(self, app_client) -> None:
        first, second = create_agency(app_client), create_agency(app_client)
        mine = make_subaccount(first.agency_id)
        theirs = make_subaccount(second.agency_id)
        grant(app_client, mine)
        grant(app_client, theirs)
        assert ingest(app_client, record(mine, "call-shared"))[0]["status"] == "recorded"
        again = ingest(app_client, record(theirs, "call-shared"))[0]
        assert again["status"] == "rejected"
        assert again["error"]["code"] == "call_id_conflict"
        assert premium(second.agency_id, theirs) == 600
        assert premium(first.agency_id, mine) == 540
        assert_ledger_consistent()

    def test_call_id_of_another_subaccount_of_the_same_agency_is_rejected(
            self, app_client) -> None:
        agency = create_agency(app_client)
        one, two = make_subaccount(agency.agency_id), make_subaccount(agency.agency_id)
        grant(app_client, one)
        grant(app_client, two)
        results = ingest(app_client, record(one, "call-7"), record(two, "call-7"))
        assert results[0]["status"] == "recorded"
        assert results[1]["status"] == "rejected"
        assert results[1]["error"]["code"] == "call_id_conflict"
        assert premium(agency.agency_id, two) == 600

    def test_a_changed_record_under_a_recorded_call_id_is_rejected(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        grant(app_client, sid)
        ingest(app_client, record(sid, "call-8"))
        changed = ingest(app_client, record(sid, "call-8", seconds=61),
                         record(sid, "call-8", status="failed"),
                         record(sid, "call-8", direction="inbound"),
                         record(sid, "call-8", tier="basic"),
                         record(sid, "call-8", started_at="2026-11-20T10:00:01Z"))
        assert [r["status"] for r in changed] == ["rejected"] * 5
        assert {r["error"]["code"] for r in changed} == {"call_id_conflict"}
        assert premium(agency.agency_id, sid) == 540

    def test_an_identical_replay_is_duplicate(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        grant(app_client, sid)
        ingest(app_client, record(sid, "call-9"))
        assert ingest(app_client, record(sid, "call-9"))[0]["status"] == "duplicate"
        assert premium(agency.agency_id, sid) == 540

    def test_a_hold_under_another_agencys_call_id_is_refused_and_cannot_debit(
            self, app_client) -> None:
        first, second = create_agency(app_client), create_agency(app_client)
        mine = make_subaccount(first.agency_id)
        theirs = make_subaccount(second.agency_id)
        grant(app_client, mine)
        grant(app_client, theirs)
        held = call(app_client, "POST", "/v1/platform/calls/authorize", platform=True, body={
            "subaccount_id": mine, "tier": "premium", "call_id": "call-held",
            "hold_seconds": 120})
        assert held.body["hold"]["seconds"] == 120
        other = call(app_client, "POST", "/v1/platform/calls/authorize", platform=True, body={
            "subaccount_id": theirs, "tier": "premium", "call_id": "call-held",
            "hold_seconds": 120})
        assert other.status == 409, other.body
        assert other.error_code == "call_id_conflict"
        assert premium(second.agency_id, theirs) == 600
        rejected = ingest(app_client, record(theirs, "call-held", seconds=100))[0]
        assert rejected["status"] == "rejected"
        assert premium(second.agency_id, theirs) == 600
        # the call's own record settles its hold
        settled = ingest(app_client, record(mine, "call-held", seconds=100))[0]
        assert settled["debited_seconds"] == 100
        assert premium(first.agency_id, mine) == 500
        assert_ledger_consistent()

    def test_a_hold_for_a_call_already_recorded_is_refused(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        grant(app_client, sid)
        ingest(app_client, record(sid, "call-done"))
        late = call(app_client, "POST", "/v1/platform/calls/authorize", platform=True, body={
            "subaccount_id": sid, "tier": "premium", "call_id": "call-done",
            "hold_seconds": 60})
        assert late.status == 409, late.body
        assert late.error_code == "call_id_conflict"
        assert premium(agency.agency_id, sid) == 540

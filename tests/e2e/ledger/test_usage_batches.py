"""Issue 20: a usage batch is written a sub-account at a time, in as few transactions as the
100-item limit allows, with every per-call rule of SPEC "Usage" kept exactly."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

from chalicelib.domain.ledger import Asset, held, wallet
from chalicelib.store import stats
from chalicelib.store.accounts import Subaccount
from chalicelib.store.ledger import read_balance
from chalicelib.store.transact import commit, update
from tests.helpers import AgencyFixture, call, create_agency
from tests.ledger_support import (
    assert_each_transaction_posted_once,
    assert_ledger_consistent,
    make_subaccount,
)

_ids = itertools.count(1)


def record(sid: str, call_id: str | None = None, seconds: int = 30, tier: str = "basic",
           **changes: Any) -> dict[str, Any]:
    return {"call_id": call_id or f"batch-{next(_ids)}", "subaccount_id": sid, "tier": tier,
            "duration_seconds": seconds, "direction": "outbound", "status": "completed",
            "started_at": "2026-11-20T10:00:00Z", **changes}


def grant(client: Any, sid: str, minutes: str, asset: str = "basic_minutes") -> None:
    answer = call(client, "POST", "/v1/platform/adjustments", platform=True, body={
        "subaccount_id": sid, "asset": asset, "amount": minutes, "reason": "seed"})
    assert answer.status == 201, answer.body


def ingest(client: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = call(client, "POST", "/v1/platform/usage", platform=True,
                  body={"records": records})
    assert answer.status == 200, answer.body
    return answer.body["results"]


def basic_seconds(agency: AgencyFixture, sid: str) -> int:
    return read_balance(agency.agency_id, wallet(sid), Asset.BASIC_MINUTES).balance


class TestBatchCost:
    def test_100_records_across_10_subaccounts_cost_at_most_20_dynamodb_calls(
            self, app_client, dynamodb_calls) -> None:
        agency = create_agency(app_client)
        sids = [make_subaccount(agency.agency_id) for _ in range(10)]
        for sid in sids:
            grant(app_client, sid, "10")
        records = [record(sids[n % 10]) for n in range(100)]
        dynamodb_calls.reset()
        results = ingest(app_client, records)
        assert [r["status"] for r in results] == ["recorded"] * 100
        assert dynamodb_calls.total <= 20, dict(dynamodb_calls.calls)
        # one transaction per sub-account: its 10 calls fit in one
        assert dynamodb_calls.calls["TransactWriteItems"] == 10
        assert "Scan" not in dynamodb_calls.calls
        assert all(basic_seconds(agency, sid) == 600 - 10 * 30 for sid in sids)
        assert_ledger_consistent()
        assert_each_transaction_posted_once()

    def test_one_subaccounts_100_records_fill_each_transaction(self, app_client,
                                                               dynamodb_calls) -> None:
        agency = create_agency(app_client)
        grant(app_client, agency.primary_id, "100")
        dynamodb_calls.reset()
        results = ingest(app_client, [record(agency.primary_id) for _ in range(100)])
        assert [r["status"] for r in results] == ["recorded"] * 100
        # 5 items a call (record, hold check, transaction, 2 entries) and 4 shared ones
        # (sub-account check, 2 balance rows, the day's counters): 19 calls a transaction
        assert dynamodb_calls.calls["TransactWriteItems"] == 6
        assert dynamodb_calls.total <= 10, dict(dynamodb_calls.calls)
        assert basic_seconds(agency, agency.primary_id) == 100 * 60 - 100 * 30
        assert_each_transaction_posted_once()


class TestPerCallRulesInABatch:
    def test_recorded_calls_of_a_group_are_found_from_the_refusal_and_the_rest_written(
            self, app_client, dynamodb_calls) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        grant(app_client, sid, "10")
        same, changed = record(sid, "seen-1"), record(sid, "seen-2")
        ingest(app_client, [same, changed])
        batch = [record(sid, "new-1"), same, record(sid, "new-2"),
                 {**changed, "duration_seconds": 31}, record(sid, "new-3")]
        dynamodb_calls.reset()
        results = ingest(app_client, batch)
        assert [r["status"] for r in results] == ["recorded", "duplicate", "recorded",
                                                  "rejected", "recorded"]
        assert results[3]["error"]["code"] == "call_id_conflict"
        # the refused write names both taken call ids at once; the rest goes in the next
        assert dynamodb_calls.calls["TransactWriteItems"] == 2
        assert basic_seconds(agency, sid) == 600 - 5 * 30
        assert_ledger_consistent()
        assert_each_transaction_posted_once()

    def test_a_call_id_twice_in_one_batch_is_applied_once(self, app_client) -> None:
        agency = create_agency(app_client)
        one, two = make_subaccount(agency.agency_id), make_subaccount(agency.agency_id)
        grant(app_client, one, "10")
        grant(app_client, two, "10")
        results = ingest(app_client, [record(one, "twice"), record(one, "twice"),
                                      record(one, "twice", seconds=31),
                                      record(two, "twice"), record(one, "once")])
        assert [r["status"] for r in results] == ["recorded", "duplicate", "rejected",
                                                  "rejected", "recorded"]
        assert {results[2]["error"]["code"], results[3]["error"]["code"]} == {
            "call_id_conflict"}
        assert basic_seconds(agency, one) == 600 - 60
        assert basic_seconds(agency, two) == 600

    def test_an_overdrawing_call_debits_what_is_left_in_the_order_sent(self, app_client
                                                                      ) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        grant(app_client, sid, "2")  # 120 s
        results = ingest(app_client, [record(sid, seconds=50), record(sid, seconds=50),
                                      record(sid, seconds=50), record(sid, seconds=0)])
        assert [(r["debited_seconds"], r["shortfall_seconds"]) for r in results] == [
            (50, 0), (50, 0), (20, 30), (0, 0)]
        assert basic_seconds(agency, sid) == 0
        [day] = stats.days_of(agency.agency_id, sid, date(2026, 11, 20), date(2026, 11, 20))
        assert (day.counters["used_basic_seconds"], day.counters["shortfall_seconds"],
                day.counters["calls_total"]) == (120, 30, 4)
        assert_ledger_consistent()

    def test_a_removed_subaccounts_records_are_rejected_the_others_recorded(
            self, app_client) -> None:
        agency = create_agency(app_client)
        live, gone = make_subaccount(agency.agency_id), make_subaccount(agency.agency_id)
        grant(app_client, live, "10")
        commit([update(Subaccount(f"AGENCY#{agency.agency_id}", f"SUB#{gone}"),
                       [Subaccount.status.set("removed")])])
        results = ingest(app_client, [record(gone), record(live), record(gone),
                                      record("sub_unknown")])
        assert [r["status"] for r in results] == ["rejected", "recorded", "rejected",
                                                  "rejected"]
        assert [r["error"]["code"] for r in results if r["status"] == "rejected"] == [
            "subaccount_removed", "subaccount_removed", "not_found"]

    def test_holds_are_settled_in_the_calls_own_write(self, app_client,
                                                      dynamodb_calls) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        grant(app_client, sid, "10")
        for n in range(3):
            held_call = call(app_client, "POST", "/v1/platform/calls/authorize", platform=True,
                             body={"subaccount_id": sid, "tier": "basic",
                                   "call_id": f"held-{n}", "hold_seconds": 100})
            assert held_call.body["hold"]["seconds"] == 100
        assert basic_seconds(agency, sid) == 300
        dynamodb_calls.reset()
        results = ingest(app_client, [record(sid, "held-0", seconds=40),
                                      record(sid, "held-1", seconds=100),
                                      record(sid, "free-1", seconds=60),
                                      record(sid, "held-2", seconds=500)])
        assert [(r["debited_seconds"], r["shortfall_seconds"]) for r in results] == [
            (40, 0), (100, 0), (60, 0), (400, 100)]  # the wallet plus its own hold
        assert dynamodb_calls.calls["TransactWriteItems"] == 1
        assert basic_seconds(agency, sid) == 0
        assert read_balance(agency.agency_id, held(sid), Asset.BASIC_MINUTES).balance == 0
        late = call(app_client, "POST", "/v1/platform/jobs/call-holds/runs", platform=True,
                    body={"as_of": "2999-01-01T00:00:00Z"})
        assert late.body["succeeded"] == 0  # nothing left to release
        assert_ledger_consistent()

    def test_counters_go_to_each_calls_local_date(self, app_client) -> None:
        agency = create_agency(app_client, timezone="America/New_York")
        sid = make_subaccount(agency.agency_id)
        grant(app_client, sid, "10")
        ingest(app_client, [record(sid, started_at="2026-11-20T04:59:00Z"),  # 23:59 on the 19th
                            record(sid, started_at="2026-11-20T05:00:00Z"),
                            record(sid, started_at="2026-11-20T23:00:00Z")])
        days = stats.days_of(agency.agency_id, sid, date(2026, 11, 19), date(2026, 11, 21))
        assert [(d.day, d.counters["calls_total"]) for d in days] == [
            (date(2026, 11, 19), 1), (date(2026, 11, 20), 2)]


class TestAutoRechargeInABatch:
    def test_the_crossing_call_tops_up_before_the_next_calls_are_debited(
            self, app_client, stripe_emulator) -> None:
        from tests.e2e.payments.support import payment_intents_for, seconds
        from tests.e2e.payments.test_auto_recharge import customer_of
        from tests.e2e.payments.test_auto_recharge_races import eleven_minutes_with_a_rule

        agency, sid = eleven_minutes_with_a_rule(app_client)  # threshold 10, top-up 100
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        results = ingest(app_client, [
            record(sid, tier="premium", seconds=60, started_at=now),
            record(sid, tier="premium", seconds=60, started_at=now),  # 10 → 9 minutes: crosses
            record(sid, tier="premium", seconds=600, started_at=now),
            record(sid, tier="premium", seconds=60, started_at=now)])
        # as when sent one by one: the top-up lands before the third call, which is paid
        assert [(r["debited_seconds"], r["shortfall_seconds"]) for r in results] == [
            (60, 0), (60, 0), (600, 0), (60, 0)]
        assert seconds(agency, sid) == (11 + 100) * 60 - 780
        intents = payment_intents_for(stripe_emulator, customer_of(agency, sid))
        assert [i["amount"] for i in intents] == [2000]  # 100 × $0.20, exactly once
        assert_ledger_consistent()

"""SPEC "Auto-recharge": concurrent usage must not lose the trigger; a rule below its
threshold with nothing in flight is recharged by the next sweep; failures are visible."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.payments.support import add_card, new_subaccount, payment_intents_for, seconds
from tests.e2e.payments.test_auto_recharge import customer_of, grant, notifications, put_rule
from tests.helpers import call, create_agency

_calls = itertools.count(1)


def usage_record(sid: str, seconds_used: int) -> dict:
    return {"call_id": f"race-{next(_calls)}-{sid}", "subaccount_id": sid, "tier": "premium",
            "duration_seconds": seconds_used, "direction": "outbound", "status": "completed",
            "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def post_usage(client, sid: str, seconds_used: int) -> dict:
    answer = call(client, "POST", "/v1/platform/usage", platform=True,
                  body={"records": [usage_record(sid, seconds_used)]})
    assert answer.status == 200, answer.body
    return answer.body["results"][0]


def sweep(client, as_of: datetime | None = None) -> dict:
    moment = as_of or datetime.now(UTC) + timedelta(minutes=1)
    answer = call(client, "POST", "/v1/platform/jobs/auto-recharge/runs", platform=True,
                  body={"as_of": moment.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert answer.status == 200, answer.body
    return answer.body


def rule_of(client, agency, sid: str) -> dict:
    answer = call(client, "GET", f"/v1/subaccounts/{sid}/auto-recharge?tier=premium",
                  token=agency.owner_token)
    assert answer.status == 200, answer.body
    return answer.body


def eleven_minutes_with_a_rule(client, *, card: str | None = "pm_card_visa"):
    agency = create_agency(client)
    sid = new_subaccount(client, agency, premium="0.20")
    if card:
        add_card(client, agency.owner_token, sid, card)
    grant(client, sid, 11)
    put_rule(client, agency.owner_token, sid, threshold_minutes=10, recharge_minutes=100)
    return agency, sid


class TestConcurrentUsage:
    def test_auto_recharge_is_not_lost_under_concurrent_usage(self, app_client,
                                                              stripe_emulator) -> None:
        agency, sid = eleven_minutes_with_a_rule(app_client)
        start = threading.Barrier(3)
        results: list[dict] = []
        errors: list[BaseException] = []

        def one_call() -> None:
            try:
                start.wait(timeout=10)
                results.append(post_usage(app_client, sid, 60))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=one_call) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert [r["status"] for r in results] == ["recorded"] * 3, results
        # 11 − 3 = 8 minutes, + one top-up of 100 = 108 (as when sent one by one)
        sweep(app_client)  # the sweep at the latest; it must not buy a second time
        assert seconds(agency, sid) == 108 * 60
        intents = payment_intents_for(stripe_emulator, customer_of(agency, sid))
        assert [i["amount"] for i in intents] == [2000]  # 100 × $0.20, exactly once
        assert rule_of(app_client, agency, sid)["in_flight"] is False

    def test_the_debit_that_crosses_starts_the_top_up_itself(self, app_client,
                                                              stripe_emulator) -> None:
        agency, sid = eleven_minutes_with_a_rule(app_client)
        start = threading.Barrier(3)
        threads = [threading.Thread(target=lambda: (start.wait(timeout=10),
                                                    post_usage(app_client, sid, 60)))
                   for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert seconds(agency, sid) == 108 * 60  # without waiting for a sweep
        assert len(payment_intents_for(stripe_emulator, customer_of(agency, sid))) == 1


class TestSweep:
    def test_a_crossing_whose_top_up_could_not_start_is_recharged_by_the_sweep(
            self, app_client, stripe_emulator, monkeypatch: pytest.MonkeyPatch) -> None:
        import chalicelib.services.auto_recharge as auto_recharge

        agency, sid = eleven_minutes_with_a_rule(app_client)

        def crash(*_args, **_kwargs):  # the Lambda died right after the debit committed
            raise RuntimeError("connection reset")

        monkeypatch.setattr(auto_recharge, "recharge", crash)
        assert post_usage(app_client, sid, 120)["status"] == "recorded"
        monkeypatch.undo()
        assert seconds(agency, sid) == 9 * 60
        assert rule_of(app_client, agency, sid)["recharge_due"] is True
        early = sweep(app_client, datetime.now(UTC) - timedelta(hours=1))
        assert early["processed"] == 0  # not due before the crossing
        ran = sweep(app_client)
        assert ran["succeeded"] == 1
        assert seconds(agency, sid) == 109 * 60
        assert [i["amount"] for i in payment_intents_for(
            stripe_emulator, customer_of(agency, sid))] == [2000]
        assert rule_of(app_client, agency, sid)["recharge_due"] is False
        assert sweep(app_client)["processed"] == 0  # the mark is cleared

    def test_a_failed_top_up_is_visible_on_the_rule_and_in_notifications(
            self, app_client, stripe_emulator) -> None:
        agency, sid = eleven_minutes_with_a_rule(app_client, card=None)
        assert post_usage(app_client, sid, 120)["status"] == "recorded"
        rule = rule_of(app_client, agency, sid)
        assert rule["last_failure_code"] == "no_payment_method"
        assert rule["failures"] == 1 and rule["in_flight"] is False
        assert "auto_recharge_failed" in [n["type"] for n in notifications(app_client, agency)]
        # a failure is reported once, not retried by every sweep
        assert sweep(app_client)["processed"] == 0
        assert rule_of(app_client, agency, sid)["failures"] == 1

    def test_a_declined_top_up_started_by_the_sweep_is_visible(
            self, app_client, stripe_emulator, monkeypatch: pytest.MonkeyPatch) -> None:
        import chalicelib.services.auto_recharge as auto_recharge

        agency, sid = eleven_minutes_with_a_rule(app_client, card="pm_card_chargeCustomerFail")
        monkeypatch.setattr(auto_recharge, "recharge",
                            lambda *_a, **_k: (_ for _ in ()).throw(RuntimeError("timeout")))
        post_usage(app_client, sid, 120)
        monkeypatch.undo()
        ran = sweep(app_client)
        assert ran["failed"] == 1
        rule = rule_of(app_client, agency, sid)
        assert rule["last_failure_code"] == "card_declined"
        assert rule["in_flight"] is False and rule["recharge_due"] is False
        assert "auto_recharge_failed" in [n["type"] for n in notifications(app_client, agency)]
        assert seconds(agency, sid) == 9 * 60

    def test_a_rule_back_above_its_threshold_is_cleared_without_a_charge(
            self, app_client, stripe_emulator, monkeypatch: pytest.MonkeyPatch) -> None:
        import chalicelib.services.auto_recharge as auto_recharge

        agency, sid = eleven_minutes_with_a_rule(app_client)
        monkeypatch.setattr(auto_recharge, "recharge",
                            lambda *_a, **_k: (_ for _ in ()).throw(RuntimeError("timeout")))
        post_usage(app_client, sid, 120)
        monkeypatch.undo()
        grant(app_client, sid, 50)  # the agency topped it up by hand meanwhile
        ran = sweep(app_client)
        assert ran["succeeded"] == 0 and ran["failed"] == 0
        assert seconds(agency, sid) == 59 * 60
        assert rule_of(app_client, agency, sid)["recharge_due"] is False
        assert sweep(app_client)["processed"] == 0

    def test_the_sweep_reads_only_the_due_index(self, app_client, stripe_emulator,
                                                dynamodb_calls) -> None:
        eleven_minutes_with_a_rule(app_client)  # a rule that is not due
        dynamodb_calls.reset()
        ran = sweep(app_client)
        assert ran["processed"] == 0
        assert "Scan" not in dynamodb_calls.calls

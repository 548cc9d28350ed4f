"""Monthly auto-allocation and plan renewal, through HTTP and the platform job route."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from chalicelib.domain.ledger import Asset, card_payments, platform_revenue
from chalicelib.store.ledger import read_balance
from tests.billing_oracle import next_cycle_after
from tests.e2e.payments.support import (
    add_card,
    new_subaccount,
    payment_intents_for,
    profit,
    run_job,
    seconds,
)
from tests.helpers import call, create_agency

ANCHOR = "2026-02-15"


def next_run() -> date:
    return next_cycle_after(date.fromisoformat(ANCHOR), datetime.now(UTC).date())


def at(day: date, hour: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:15:00Z"


def put_rule(client, token, sid, **body):
    return call(client, "PUT", f"/v1/subaccounts/{sid}/auto-allocation", token=token,
                body={"basic_minutes": 100, "premium_minutes": 300, "enabled": True, **body})


class TestRuleRoutes:
    def test_put_get_delete(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, subscription_start=ANCHOR)
        answer = put_rule(app_client, agency.owner_token, sid)
        assert answer.status == 200, answer.body
        assert answer.body["status"] == "active"
        assert answer.body["next_run_at"] == f"{next_run().isoformat()}T00:00:00Z"
        assert answer.body["basic_minutes"] == "100"
        got = call(app_client, "GET", f"/v1/subaccounts/{sid}/auto-allocation",
                   token=agency.owner_token)
        assert got.body == answer.body
        gone = call(app_client, "DELETE", f"/v1/subaccounts/{sid}/auto-allocation",
                    token=agency.owner_token)
        assert gone.status == 204
        assert call(app_client, "GET", f"/v1/subaccounts/{sid}/auto-allocation",
                    token=agency.owner_token).status == 404

    def test_both_zero_or_fractional_minutes_are_422(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)
        assert put_rule(app_client, agency.owner_token, sid, basic_minutes=0,
                        premium_minutes="0").status == 422
        assert put_rule(app_client, agency.owner_token, sid,
                        basic_minutes="1.5").status == 422

    def test_agency_member_may_not_set_rules(self, app_client) -> None:
        from tests.e2e.subaccounts.support import make_user

        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)
        member = make_user(agency.agency_id, "agency_member")
        assert put_rule(app_client, member, sid).status == 403


class TestAllocationSweep:
    def test_run_twice_for_the_same_period_charges_once(self, app_client,
                                                        stripe_emulator) -> None:
        from chalicelib.store.payments import get_profile

        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, subscription_start=ANCHOR)
        add_card(app_client, agency.owner_token, agency.primary_id)
        put_rule(app_client, agency.owner_token, sid)
        day = next_run()
        early = run_job(app_client, "auto-allocation", at(day - timedelta(days=1)))
        assert early["processed"] == 0
        first = run_job(app_client, "auto-allocation", at(day))
        assert first["succeeded"] == 1, first
        second = run_job(app_client, "auto-allocation", at(day, 6))
        assert second["processed"] == 0 and second["succeeded"] == 0
        assert seconds(agency, sid, Asset.BASIC_MINUTES) == 100 * 60
        assert seconds(agency, sid, Asset.PREMIUM_MINUTES) == 300 * 60
        charge = 100 * 100_000 + 300 * 160_000  # base cost: $58.00, no profit
        usd = Asset.USD
        assert read_balance(agency.agency_id, card_payments(agency.primary_id),
                            usd).balance == -charge
        assert read_balance(agency.agency_id, platform_revenue(sid), usd).balance == charge
        assert profit(agency) == 0
        customer = get_profile(agency.agency_id, agency.primary_id).customer_id
        intents = payment_intents_for(stripe_emulator, customer)
        assert [i["amount"] for i in intents] == [5800]
        rule = call(app_client, "GET", f"/v1/subaccounts/{sid}/auto-allocation",
                    token=agency.owner_token).body
        following = next_cycle_after(date.fromisoformat(ANCHOR), day)
        assert rule["next_run_at"] == f"{following.isoformat()}T00:00:00Z"
        assert rule["last_period_done"] == day.isoformat()
        # Plan-included minutes are untouched (agency_pro has none).
        assert seconds(agency, agency.primary_id) == 0

    def test_declines_are_retried_three_times_then_the_rule_pauses(
            self, app_client, stripe_emulator) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, subscription_start=ANCHOR)
        add_card(app_client, agency.owner_token, agency.primary_id,
                 "pm_card_chargeCustomerFail")
        put_rule(app_client, agency.owner_token, sid)
        day = next_run()
        first = run_job(app_client, "auto-allocation", at(day))
        assert first["failed"] == 1
        assert run_job(app_client, "auto-allocation", at(day, 5))["processed"] == 0
        rule = call(app_client, "GET", f"/v1/subaccounts/{sid}/auto-allocation",
                    token=agency.owner_token).body
        assert rule["failures"] == 1 and rule["status"] == "active"
        assert rule["next_run_at"] == f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z"
        for retry in (1, 2, 3):
            assert run_job(app_client, "auto-allocation",
                           at(day + timedelta(days=retry)))["failed"] == 1
        rule = call(app_client, "GET", f"/v1/subaccounts/{sid}/auto-allocation",
                    token=agency.owner_token).body
        assert rule["status"] == "paused"
        assert "card_declined" in rule["paused_reason"]
        assert rule["next_run_at"] is None
        assert run_job(app_client, "auto-allocation",
                       at(day + timedelta(days=10)))["processed"] == 0
        assert seconds(agency, sid, Asset.BASIC_MINUTES) == 0
        notes = call(app_client, "GET", "/v1/notifications", token=agency.owner_token).body
        kinds = [n["type"] for n in notes["notifications"]]
        assert kinds.count("auto_allocation_failed") == 4
        assert "auto_allocation_paused" in kinds
        mails = call(app_client, "GET", "/v1/platform/outbox", platform=True,
                     headers=None).body["messages"]
        mine = [m for m in mails if m["to"] == agency.owner_email]
        assert len(mine) == 4 and "allocation" in mine[0]["subject"].lower()

    def test_no_card_on_the_primary_is_a_visible_failure(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, subscription_start=ANCHOR)
        put_rule(app_client, agency.owner_token, sid)
        result = run_job(app_client, "auto-allocation", at(next_run()))
        assert result["failed"] == 1
        rule = call(app_client, "GET", f"/v1/subaccounts/{sid}/auto-allocation",
                    token=agency.owner_token).body
        assert rule["last_failure_code"] == "no_payment_method"


class TestPlanRenewal:
    def test_partner_legacy_primary_gets_1000_premium_minutes_once_per_cycle(
            self, app_client) -> None:
        agency = create_agency(app_client, plan="partner_legacy", subscription_start="2026-01-31")
        today = datetime.now(UTC)
        first = run_job(app_client, "plan-renewal", today.strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert first["succeeded"] == 1
        again = run_job(app_client, "plan-renewal", today.strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert again["processed"] == 0
        assert seconds(agency, agency.primary_id) == 1000 * 60
        following = next_cycle_after(date.fromisoformat("2026-01-31"), today.date())
        later = run_job(app_client, "plan-renewal", at(following))
        assert later["succeeded"] == 1
        assert seconds(agency, agency.primary_id) == 2000 * 60

    def test_moving_away_stops_and_moving_back_resumes_without_a_double_credit(
            self, app_client) -> None:
        from chalicelib.store.payments import get_plan_renewal

        anchor = date.fromisoformat("2026-01-31")
        agency = create_agency(app_client, plan="partner_legacy", subscription_start="2026-01-31")
        today = datetime.now(UTC)
        assert run_job(app_client, "plan-renewal", at(today.date()))["succeeded"] == 1
        following = next_cycle_after(anchor, today.date())

        def change_plan(plan: str) -> None:
            answer = call(app_client, "PATCH", "/v1/agency", token=agency.owner_token,
                          body={"plan": plan})
            assert answer.status == 200, answer.body

        change_plan("agency_pro")  # away: the next due cycle stops the schedule
        stopped = run_job(app_client, "plan-renewal", at(following))
        assert stopped["succeeded"] == 0
        assert get_plan_renewal(agency.agency_id).DUESK is None
        assert seconds(agency, agency.primary_id) == 1000 * 60

        change_plan("partner_legacy")  # back: resumed after the cycle already credited
        renewal = get_plan_renewal(agency.agency_id)
        assert renewal.DUESK is not None and renewal.next_cycle == following.isoformat()
        change_plan("partner_legacy")  # a running schedule is left alone
        assert get_plan_renewal(agency.agency_id).next_cycle == following.isoformat()
        assert run_job(app_client, "plan-renewal", at(today.date()))["processed"] == 0
        assert run_job(app_client, "plan-renewal", at(following))["succeeded"] == 1
        assert seconds(agency, agency.primary_id) == 2000 * 60

    def test_a_run_out_of_time_leaves_the_rest_due_for_the_next(self, app_client) -> None:
        """The scheduled Lambda stops taking items near its time limit; nothing is lost."""
        from chalice.local import LambdaContext

        from app import plan_renewal_sweep
        from devstack.scheduler import scheduled_event

        agencies = [create_agency(app_client, plan="partner_legacy",
                                  subscription_start="2026-01-31") for _ in range(2)]
        event = scheduled_event("agency-accounts", "plan_renewal_sweep", datetime.now(UTC),
                                "us-east-1")
        out_of_time = plan_renewal_sweep(event, LambdaContext("sweep", 512, max_runtime_ms=0))
        assert (out_of_time["processed"], out_of_time["deferred"]) == (0, 2)
        assert all(seconds(agency, agency.primary_id) == 0 for agency in agencies)
        in_time = plan_renewal_sweep(event, LambdaContext("sweep", 512,
                                                          max_runtime_ms=900_000))
        assert (in_time["succeeded"], in_time["deferred"]) == (2, 0)
        assert all(seconds(agency, agency.primary_id) == 1000 * 60 for agency in agencies)

    def test_other_plans_get_nothing(self, app_client) -> None:
        agency = create_agency(app_client, plan="agency_pro")
        result = run_job(app_client, "plan-renewal", "2030-01-01T00:00:00Z")
        assert result["succeeded"] == 0
        assert seconds(agency, agency.primary_id) == 0

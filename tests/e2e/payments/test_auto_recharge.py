"""Auto-recharge and low-balance alerts, driven by usage ingestion through HTTP."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from tests.e2e.payments.support import add_card, new_subaccount, payment_intents_for, seconds
from tests.helpers import call, create_agency

_calls = itertools.count(1)


def grant(client, sid: str, minutes: int) -> None:
    answer = call(client, "POST", "/v1/platform/adjustments", platform=True, body={
        "subaccount_id": sid, "asset": "premium_minutes", "amount": str(minutes),
        "reason": "test seed"})
    assert answer.status == 201, answer.body


def use(client, sid: str, minutes: int) -> None:
    answer = call(client, "POST", "/v1/platform/usage", platform=True, body={"records": [{
        "call_id": f"call-{next(_calls)}-{sid}", "subaccount_id": sid, "tier": "premium",
        "duration_seconds": minutes * 60, "direction": "outbound", "status": "completed",
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}]})
    assert answer.status == 200, answer.body
    assert answer.body["results"][0]["status"] == "recorded", answer.body


def put_rule(client, token, sid, **body):
    answer = call(client, "PUT", f"/v1/subaccounts/{sid}/auto-recharge", token=token,
                  body={"tier": "premium", "threshold_minutes": 50, "recharge_minutes": 200,
                        "enabled": True, **body})
    assert answer.status == 200, answer.body
    return answer.body


def customer_of(agency, sid: str) -> str:
    from chalicelib.store.payments import get_profile

    return get_profile(agency.agency_id, sid).customer_id


def notifications(client, agency) -> list[dict]:
    return call(client, "GET", "/v1/notifications", token=agency.owner_token
                ).body["notifications"]


class TestAutoRecharge:
    def test_one_top_up_when_a_debit_crosses_the_threshold(self, app_client,
                                                           stripe_emulator) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, premium="0.20")
        add_card(app_client, agency.owner_token, sid)
        grant(app_client, sid, 100)
        put_rule(app_client, agency.owner_token, sid)
        use(app_client, sid, 40)  # 60 left: above the threshold
        assert seconds(agency, sid) == 60 * 60
        use(app_client, sid, 20)  # 40 left: crossed → +200
        assert seconds(agency, sid) == 240 * 60
        use(app_client, sid, 1)  # no second crossing
        assert seconds(agency, sid) == 239 * 60
        intents = payment_intents_for(stripe_emulator, customer_of(agency, sid))
        assert [i["amount"] for i in intents] == [4000]  # 200 × $0.20
        rule = call(app_client, "GET", f"/v1/subaccounts/{sid}/auto-recharge?tier=premium",
                    token=agency.owner_token).body
        assert rule["in_flight"] is False and rule["month_spent_usd"] == "40.00"

    def test_top_up_is_sized_to_restore_the_balance(self, app_client, stripe_emulator) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, premium="0.20")
        add_card(app_client, agency.owner_token, sid)
        grant(app_client, sid, 100)
        put_rule(app_client, agency.owner_token, sid, recharge_minutes=10)
        use(app_client, sid, 100)  # 0 left: 10 would not restore 50
        assert seconds(agency, sid) == 50 * 60

    def test_monthly_cap_refuses_and_says_so(self, app_client, stripe_emulator) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, premium="0.20")
        add_card(app_client, agency.owner_token, sid)
        grant(app_client, sid, 60)
        put_rule(app_client, agency.owner_token, sid, monthly_cap_usd="50")
        use(app_client, sid, 20)  # crossed: $40, within the cap
        assert seconds(agency, sid) == 240 * 60
        use(app_client, sid, 200)  # crossed again: another $40 would pass $50
        assert seconds(agency, sid) == 40 * 60
        assert len(payment_intents_for(stripe_emulator, customer_of(agency, sid))) == 1
        rule = call(app_client, "GET", f"/v1/subaccounts/{sid}/auto-recharge",
                    token=agency.owner_token).body["rules"][0]
        assert rule["last_failure_code"] == "monthly_cap_reached"
        assert "auto_recharge_failed" in [n["type"] for n in notifications(app_client, agency)]

    def test_declined_top_up_is_recorded_notified_and_released(self, app_client,
                                                               stripe_emulator) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency, premium="0.20")
        add_card(app_client, agency.owner_token, sid, "pm_card_chargeCustomerFail")
        grant(app_client, sid, 60)
        put_rule(app_client, agency.owner_token, sid, monthly_cap_usd="50")
        use(app_client, sid, 20)
        assert seconds(agency, sid) == 40 * 60
        rule = call(app_client, "GET", f"/v1/subaccounts/{sid}/auto-recharge?tier=premium",
                    token=agency.owner_token).body
        assert rule["last_failure_code"] == "card_declined"
        assert rule["in_flight"] is False and rule["month_spent_usd"] == "0.00"
        assert "auto_recharge_failed" in [n["type"] for n in notifications(app_client, agency)]
        mails = call(app_client, "GET", "/v1/platform/outbox", platform=True).body["messages"]
        assert any(m["to"] == agency.owner_email and "Auto-recharge" in m["subject"]
                   for m in mails)

    def test_rule_routes_validate(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)
        bad = call(app_client, "PUT", f"/v1/subaccounts/{sid}/auto-recharge",
                   token=agency.owner_token, body={"tier": "gold", "threshold_minutes": 1,
                                                   "recharge_minutes": 1})
        assert bad.status == 422
        assert call(app_client, "DELETE", f"/v1/subaccounts/{sid}/auto-recharge?tier=basic",
                    token=agency.owner_token).status == 404
        put_rule(app_client, agency.owner_token, sid)
        assert call(app_client, "DELETE", f"/v1/subaccounts/{sid}/auto-recharge?tier=premium",
                    token=agency.owner_token).status == 204


class TestLowBalance:
    def test_alert_once_per_crossing(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)
        patched = call(app_client, "PATCH", "/v1/agency", token=agency.owner_token,
                       body={"low_balance_threshold_minutes": "30"})
        assert patched.status == 200, patched.body
        grant(app_client, sid, 100)
        use(app_client, sid, 60)  # 40 left
        use(app_client, sid, 20)  # 20 left: crossed
        use(app_client, sid, 5)  # 15 left: still below, no new alert
        alerts = [n for n in notifications(app_client, agency) if n["type"] == "low_balance"]
        assert len(alerts) == 1 and alerts[0]["subaccount_id"] == sid
        grant(app_client, sid, 100)  # back above
        use(app_client, sid, 100)  # crossed again
        alerts = [n for n in notifications(app_client, agency) if n["type"] == "low_balance"]
        assert len(alerts) == 2


class TestNotificationsVisibility:
    def test_subaccount_users_see_only_their_subaccounts(self, app_client) -> None:
        from chalicelib.services.notifications import notify
        from tests.e2e.subaccounts.support import make_user

        agency = create_agency(app_client)
        mine, other = new_subaccount(app_client, agency), new_subaccount(app_client, agency)
        notify(agency.agency_id, "x", "about mine", subaccount_id=mine)
        notify(agency.agency_id, "x", "about other", subaccount_id=other)
        notify(agency.agency_id, "payout_failed", "agency-wide")
        user = make_user(agency.agency_id, "subaccount_admin", subaccount_ids=(mine,))
        seen = call(app_client, "GET", "/v1/notifications", token=user).body["notifications"]
        assert [n["message"] for n in seen] == ["about mine"]
        everything = notifications(app_client, agency)
        assert [n["message"] for n in everything] == ["agency-wide", "about other",
                                                      "about mine"]
        first = call(app_client, "GET", "/v1/notifications?limit=2",
                     token=agency.owner_token).body
        rest = call(app_client, "GET", f"/v1/notifications?limit=2&cursor={first['next_cursor']}",
                    token=agency.owner_token).body
        assert len(first["notifications"]) == 2 and len(rest["notifications"]) == 1

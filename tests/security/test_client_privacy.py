"""Issue 18, defects 1 and 3: a client never sees the agency's margin, and notifications
follow access.

SPEC "Users and roles": for sub-account roles no answer (purchases, wallets, reports and
their CSV, notifications, errors, activity) carries profit, base cost, margin or held profit;
those fields and CSV columns are absent. A sub-account's notifications reach only users who
can see that sub-account; agency-level ones (payouts, profit, Connect, allocation failures)
only Owner, Admin and Member.

Prices here: the client pays USD 0.20 per Premium minute, the base cost is USD 0.16 (SPEC
"Base costs"), so 100 minutes charge USD 20.00 of which USD 4.00 is the agency's profit, and
an allocation of 10 minutes is charged USD 1.60 (base cost).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from tests.e2e.identity.support import Member, join
from tests.e2e.payments.support import (
    STRIPE_HEADERS,
    add_card,
    buy,
    new_subaccount,
    post_webhook,
    run_job,
    signed_event,
)
from tests.e2e.payments.test_webhooks import open_dispute
from tests.helpers import AgencyFixture, call, create_agency

#: Keys that carry the agency's margin in any answer.
MARGIN_KEYS = {"profit_usd", "profit_micros", "held_micros", "released_micros",
               "profit_held_usd", "base_cost", "base_cost_usd", "margin", "margin_usd",
               "revenue_usd", "available_profit_usd", "profit_this_period_usd"}
#: Figures of this scenario that only the agency may see: the profit of the purchase and
#: the base-cost charge of the allocation.
MARGIN_FIGURES = ("4.00", "1.60")
_TODAY = datetime.now(UTC).date()
#: A report range around today (the scene's events are counted on today's date).
RANGE = (f"?from={(_TODAY - timedelta(days=40)).isoformat()}"
         f"&to={(_TODAY + timedelta(days=1)).isoformat()}")


def margin_keys_in(value: Any) -> set[str]:
    """Every margin key anywhere in a decoded JSON answer."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in MARGIN_KEYS:
                found.add(key)
            found |= margin_keys_in(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= margin_keys_in(inner)
    return found


@dataclass
class Scene:
    client: Any
    agency: AgencyFixture
    sid: str
    other_sid: str
    sub_admin: Member
    sub_member: Member
    member: Member
    purchase: dict[str, Any]


def _scene(client: Any, stripe_base: str, live_app_url: str) -> Scene:
    """A client sub-account that bought minutes, had a payment disputed and a failed
    monthly allocation; a second client sub-account with its own notification."""
    agency = create_agency(client, subscription_start="2026-01-15")
    sid = new_subaccount(client, agency, premium="0.20")
    other_sid = new_subaccount(client, agency, premium="0.20")
    sub_admin = join(client, agency.owner_token, "subaccount_admin", access="specific",
                     subaccount_ids=[sid])
    sub_member = join(client, agency.owner_token, "subaccount_member", access="specific",
                      subaccount_ids=[sid])
    member = join(client, agency.owner_token, "agency_member", access="specific",
                  subaccount_ids=[sid])
    add_card(client, agency.owner_token, sid)
    bought = buy(client, sub_admin.token, sid, minutes=100, key="client-buys-100")
    assert bought.status == 201, bought.body
    # A dispute on the client's payment holds the agency's profit of it: opened at Stripe
    # (the app checks every event against Stripe), its event delivered here.
    dispute_id = open_dispute(stripe_base, live_app_url, bought.body["payment_intent_id"], 2000)
    dispute = requests.get(f"{stripe_base}/v1/disputes/{dispute_id}", headers=STRIPE_HEADERS,
                           timeout=10).json()
    payload, header = signed_event("charge.dispute.created", dispute)
    assert post_webhook(client, payload, header).status == 200
    # A monthly allocation for the client, declined on the primary's card (base cost).
    add_card(client, agency.owner_token, agency.primary_id, pm="pm_card_chargeCustomerFail")
    rule = call(client, "PUT", f"/v1/subaccounts/{sid}/auto-allocation",
                token=agency.owner_token,
                body={"basic_minutes": 0, "premium_minutes": 10, "enabled": True})
    assert rule.status == 200, rule.body
    run_job(client, "auto-allocation", rule.body["next_run_at"])
    # Something about the client itself, that its users do see.
    for action, body in (("suspend", {"note": "late payment"}), ("restore", None)):
        done = call(client, "POST", f"/v1/subaccounts/{sid}/{action}", token=agency.owner_token,
                    body=body)
        assert done.status == 200, done.body
    # Something about the other client only.
    suspended = call(client, "POST", f"/v1/subaccounts/{other_sid}/suspend",
                     token=agency.owner_token, body={"note": "other client"})
    assert suspended.status == 200, suspended.body
    return Scene(client, agency, sid, other_sid, sub_admin, sub_member, member, bought.body)


def _json_routes(scene: Scene) -> list[str]:
    sid = scene.sid
    return ["/v1/me", "/v1/subaccounts", f"/v1/subaccounts/{sid}",
            f"/v1/subaccounts/{sid}/wallet", f"/v1/subaccounts/{sid}/activity",
            f"/v1/subaccounts/{sid}/payment-methods", f"/v1/subaccounts/{sid}/auto-recharge",
            f"/v1/subaccounts/{sid}/campaigns", "/v1/transfers", "/v1/notifications",
            f"/v1/reports/subaccounts{RANGE}",
            f"/v1/reports/subaccounts/{sid}{RANGE}"]


def test_subaccount_roles_never_see_the_agencys_margin(app_client, stripe_emulator,
                                                      live_app_url) -> None:
    scene = _scene(app_client, stripe_emulator, live_app_url)
    for person in (scene.sub_admin, scene.sub_member):
        # The purchase answer itself (replayed to the same caller, same key, same body).
        again = buy(app_client, scene.sub_admin.token, scene.sid, minutes=100,
                    key="client-buys-100")
        assert again.status == 201 and "profit_usd" not in again.body, again.body
        fresh = buy(app_client, person.token, scene.sid, minutes=1, key=f"one-{person.role}")
        assert fresh.status == 201, fresh.body
        assert margin_keys_in(fresh.body) == set(), fresh.body
        for path in _json_routes(scene):
            answer = call(app_client, "GET", path, token=person.token)
            assert answer.status == 200, (path, answer.body)
            assert margin_keys_in(answer.body) == set(), (person.role, path, answer.body)
        notes = call(app_client, "GET", "/v1/notifications", token=person.token).body
        for note in notes["notifications"]:
            text = note["message"].lower()
            assert "profit" not in text and "margin" not in text, note
            assert not any(figure in note["message"] for figure in MARGIN_FIGURES), note
        for path in (f"/v1/reports/subaccounts{RANGE}",
                     f"/v1/reports/subaccounts/{scene.sid}{RANGE}"):
            answer = call(app_client, "GET", path, token=person.token,
                          headers={"Accept": "text/csv"})
            assert answer.status == 200, answer.body
            header = next(csv.reader(io.StringIO(answer.body)))
            assert not [c for c in header if "profit" in c or "margin" in c], header
        # An error a client can provoke on its own sub-account carries no margin either.
        refused = call(app_client, "PATCH", f"/v1/subaccounts/{scene.sid}", token=person.token,
                       body={"prices": {"premium": "0.01"}})
        assert refused.status == 403 and margin_keys_in(refused.body) == set(), refused.body


def test_agency_roles_still_see_the_margin(app_client, stripe_emulator, live_app_url) -> None:
    scene = _scene(app_client, stripe_emulator, live_app_url)
    assert scene.purchase["amount_usd"] == "20.00"
    for token in (scene.agency.owner_token, scene.member.token):
        report = call(app_client, "GET", f"/v1/reports/subaccounts/{scene.sid}"
                      f"{RANGE}", token=token)
        assert report.status == 200 and "profit_usd" in report.body, report.body
        assert all("profit_usd" in day for day in report.body["daily"])
        listing = call(app_client, "GET", f"/v1/reports/subaccounts{RANGE}", token=token)
        assert "profit_usd" in listing.body["totals"], listing.body
        for path in (f"/v1/reports/subaccounts{RANGE}",
                     f"/v1/reports/subaccounts/{scene.sid}{RANGE}"):
            answer = call(app_client, "GET", path, token=token, headers={"Accept": "text/csv"})
            assert "profit_usd" in next(csv.reader(io.StringIO(answer.body)))
    owner_buys = buy(app_client, scene.agency.owner_token, scene.sid, minutes=100,
                     key="owner-buys-100")
    assert owner_buys.body["profit_usd"] == "4.00", owner_buys.body
    kinds = {n["type"] for n in call(app_client, "GET", "/v1/notifications",
                                     token=scene.agency.owner_token).body["notifications"]}
    assert {"payment_disputed", "auto_allocation_failed"} <= kinds, kinds


def _kinds_and_subs(client: Any, token: str) -> list[tuple[str, str | None]]:
    answer = call(client, "GET", "/v1/notifications?limit=200", token=token)
    assert answer.status == 200, answer.body
    return [(n["type"], n["subaccount_id"]) for n in answer.body["notifications"]]


def test_notifications_reach_only_users_who_can_see_their_subaccount(
        app_client, stripe_emulator, live_app_url) -> None:
    scene = _scene(app_client, stripe_emulator, live_app_url)
    owner = _kinds_and_subs(app_client, scene.agency.owner_token)
    assert ("subaccount_suspended", scene.other_sid) in owner
    assert ("payment_disputed", scene.sid) in owner
    # An Agency Member granted one client: that client's and the agency-level ones only.
    member = _kinds_and_subs(app_client, scene.member.token)
    assert all(sub != scene.other_sid for _, sub in member), member
    assert ("payment_disputed", scene.sid) in member  # profit: agency-level
    assert ("auto_allocation_failed", scene.sid) in member
    # The client's own users: their sub-account's notifications, never agency-level ones.
    for person in (scene.sub_admin, scene.sub_member):
        seen = _kinds_and_subs(app_client, person.token)
        assert seen, "the client's users see their own notifications"
        assert all(sub == scene.sid for _, sub in seen), seen
        kinds = {kind for kind, _ in seen}
        assert not kinds & {"payment_disputed", "auto_allocation_failed", "payout_failed"}, seen


def test_an_agency_level_notification_reaches_no_client(app_client) -> None:
    """Payouts, profit, Connect: Owner, Admin and Member only (a member with specific
    access included), never a sub-account role, even one with access ``all``."""
    from chalicelib.services.notifications import notify

    agency = create_agency(app_client)
    sid = new_subaccount(app_client, agency)
    member = join(app_client, agency.owner_token, "agency_member", access="specific",
                  subaccount_ids=[sid])
    client_all = join(app_client, agency.owner_token, "subaccount_admin", access="all")
    notify(agency.agency_id, "payout_failed", "The payout of USD 120.00 could not be sent.",
           data={"payout_id": "po_1"})
    notify(agency.agency_id, "connect_restricted", "Stripe needs more information.")
    assert {k for k, _ in _kinds_and_subs(app_client, member.token)} == {
        "payout_failed", "connect_restricted"}
    assert _kinds_and_subs(app_client, client_all.token) == []

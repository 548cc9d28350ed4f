"""Issue 18, defect 2: Idempotency-Key replay comes after authentication and authorization.

SPEC section 3: keys are scoped to the caller (user or platform key) and the route; the caller
is authenticated and authorized first, then the same key from the same caller on the same
route replays the first answer; the same key with a different body → 422; the same key from
another caller is another request.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.identity.support import join
from tests.e2e.payments.support import add_card, buy, new_subaccount
from tests.helpers import call, create_agency, login


def _purchases_of(agency_id: str) -> int:
    from chalicelib.store import keys
    from chalicelib.store.base import TableItem

    return sum(1 for item in TableItem.query(keys.purchases_pk(agency_id))
               if type(item).__name__ == "Purchase")


def test_another_callers_key_replays_nothing_on_a_subaccount_it_cannot_see(
        app_client: Any, stripe_emulator: str) -> None:
    agency = create_agency(app_client)
    hidden, granted = new_subaccount(app_client, agency), new_subaccount(app_client, agency)
    add_card(app_client, agency.owner_token, hidden)
    member = join(app_client, agency.owner_token, "agency_member", access="specific",
                  subaccount_ids=[granted])
    owners = buy(app_client, agency.owner_token, hidden, minutes=10, key="shared-key-1")
    assert owners.status == 201, owners.body
    stolen = buy(app_client, member.token, hidden, minutes=10, key="shared-key-1")
    assert stolen.status == 404, stolen.body
    assert stolen.error_code == "not_found" or "id" not in (stolen.body or {}), stolen.body
    assert owners.body["id"] not in str(stolen.body)


def test_the_same_key_from_another_caller_is_another_request(app_client: Any) -> None:
    agency = create_agency(app_client)
    source, target = new_subaccount(app_client, agency), new_subaccount(app_client, agency)
    call(app_client, "POST", "/v1/platform/adjustments", platform=True, body={
        "subaccount_id": source, "asset": "premium_minutes", "amount": "100", "reason": "t"})
    admin = join(app_client, agency.owner_token, "agency_admin")
    body = {"from_subaccount_id": source, "to_subaccount_id": target,
            "asset": "premium_minutes", "amount": "1"}
    headers = {"Idempotency-Key": "quote-key-1"}
    first = call(app_client, "POST", "/v1/transfers/quotes", token=agency.owner_token,
                 body=body, headers=headers)
    replay = call(app_client, "POST", "/v1/transfers/quotes", token=agency.owner_token,
                  body=body, headers=headers)
    other = call(app_client, "POST", "/v1/transfers/quotes", token=admin.token, body=body,
                 headers=headers)
    assert first.status == replay.status == other.status == 201
    assert replay.body["quote_id"] == first.body["quote_id"]  # same caller: replayed
    assert other.body["quote_id"] != first.body["quote_id"]  # another caller: a new request
    changed = call(app_client, "POST", "/v1/transfers/quotes", token=agency.owner_token,
                   body={**body, "amount": "2"}, headers=headers)
    assert (changed.status, changed.error_code) == (422, "idempotency_key_reused")


def test_a_caller_who_lost_access_gets_404_not_its_replay(app_client: Any,
                                                          stripe_emulator: str) -> None:
    agency = create_agency(app_client)
    sid, other = new_subaccount(app_client, agency), new_subaccount(app_client, agency)
    add_card(app_client, agency.owner_token, sid)
    member = join(app_client, agency.owner_token, "agency_member", access="specific",
                  subaccount_ids=[sid])
    assert buy(app_client, member.token, sid, minutes=10, key="member-key").status == 201
    changed = call(app_client, "PATCH", f"/v1/users/{member.user_id}", token=agency.owner_token,
                   body={"subaccount_access": "specific", "subaccount_ids": [other]})
    assert changed.status == 200, changed.body
    token = login(app_client, member.email, member.password)
    again = buy(app_client, token, sid, minutes=10, key="member-key")
    assert again.status == 404, again.body
    assert _purchases_of(agency.agency_id) == 1


def test_a_suspended_subaccount_answers_423_before_any_replay(app_client: Any,
                                                              stripe_emulator: str) -> None:
    agency = create_agency(app_client)
    sid = new_subaccount(app_client, agency)
    add_card(app_client, agency.owner_token, sid)
    client_admin = join(app_client, agency.owner_token, "subaccount_admin", access="specific",
                        subaccount_ids=[sid])
    assert buy(app_client, client_admin.token, sid, minutes=10, key="client-key").status == 201
    suspended = call(app_client, "POST", f"/v1/subaccounts/{sid}/suspend",
                     token=agency.owner_token, body={"note": "unpaid"})
    assert suspended.status == 200, suspended.body
    again = buy(app_client, client_admin.token, sid, minutes=10, key="client-key")
    assert (again.status, again.error_code) == (423, "subaccount_suspended"), again.body


def test_a_removal_retried_with_its_key_still_replays(app_client: Any) -> None:
    """README: the sub-account is gone after a removal, yet its caller's retry replays."""
    agency = create_agency(app_client)
    sid = new_subaccount(app_client, agency)
    body = {"minutes_destination_id": agency.primary_id}
    headers = {"Idempotency-Key": "removal-key"}
    first = call(app_client, "POST", f"/v1/subaccounts/{sid}/removal",
                 token=agency.owner_token, body=body, headers=headers)
    again = call(app_client, "POST", f"/v1/subaccounts/{sid}/removal",
                 token=agency.owner_token, body=body, headers=headers)
    assert first.status == again.status == 200, (first.body, again.body)
    assert again.body == first.body


def test_the_same_purchase_key_from_another_user_is_another_purchase(
        app_client: Any, stripe_emulator: str) -> None:
    """SPEC section 3: the same key from another caller is another request, so another user's
    purchase with the same key on the same sub-account is charged and credited on its own."""
    agency = create_agency(app_client)
    sid = new_subaccount(app_client, agency)
    add_card(app_client, agency.owner_token, sid)
    admin = join(app_client, agency.owner_token, "agency_admin")
    owners = buy(app_client, agency.owner_token, sid, minutes=10, key="same-key")
    admins = buy(app_client, admin.token, sid, minutes=10, key="same-key")
    assert owners.status == admins.status == 201, (owners.body, admins.body)
    assert admins.body["id"] != owners.body["id"]
    assert admins.body["payment_intent_id"] != owners.body["payment_intent_id"]
    assert _purchases_of(agency.agency_id) == 2
    wallet = call(app_client, "GET", f"/v1/subaccounts/{sid}/wallet", token=agency.owner_token)
    assert wallet.body["premium_seconds"] + wallet.body["basic_seconds"] == 2 * 10 * 60

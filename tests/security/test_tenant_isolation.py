"""Tenant isolation: agency B's owner against every id-taking route with agency A's ids.

Every route whose path carries an id is called (built from the live route table, so a new
route is covered the day it lands) with A's ids, by B's owner, the most powerful user of
another tenant: each answers 404, exactly as the same route with ids that never existed
(no existence oracle), and nothing changed (every item of the table, and the Stripe objects
of both agencies, compared before and after). Ids of A inside bodies answer exactly as ids
that do not exist, and B's lists never show A's data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import call
from tests.security.support import RESOURCE_KINDS, World, built_world, phone_number, unique
from tests.snapshots import assert_same_items, stripe_objects, table_items

ALLOCATION = {"basic_minutes": 10, "premium_minutes": 0, "enabled": True}
RECHARGE = {"tier": "premium", "threshold_minutes": 10, "recharge_minutes": 100,
            "enabled": True}


@pytest.fixture(scope="module")
def world(stripe_emulator: str) -> Iterator[World]:
    """A with a bit of everything (cards, rules, resources, a quote, an invitation)."""
    from tests.e2e.identity.support import fresh_email, invite

    with built_world(stripe_emulator) as w:
        sid = w.subs["shared"]
        w.cache["pm"] = w.add_card(sid)
        w.as_owner("PUT", f"/v1/subaccounts/{sid}/auto-allocation", ALLOCATION)
        w.as_owner("PUT", f"/v1/subaccounts/{sid}/auto-recharge", RECHARGE)
        for kind in RESOURCE_KINDS:
            w.cache[kind] = w.new_resource(sid, kind)
        made = w.quote(w.a.owner_token, sid, w.subs["second"])
        assert made.status == 201, made.body
        w.cache["quote"] = made.body["quote_id"]
        invited = invite(w.client, w.a.owner_token, fresh_email("iso"), "agency_member")
        assert invited.status == 201, invited.body
        w.cache["invitation"] = invited.body["id"]
        w.cache["b_card"] = w.add_card(w.b_subs["shared"], token=w.b.owner_token)
        yield w


def a_snapshot(w: World) -> dict[tuple[str, str], str]:
    """Every item of the table (a hostile call may write nowhere, A's partition or else)."""
    items = table_items()
    assert sum(w.a.agency_id in pk for pk, _sk in items) > 20  # the snapshot does see A
    return items


def stripe_state(w: World) -> dict[str, Any]:
    """Stripe's objects of both agencies (cards, customers, intents, accounts...)."""
    return stripe_objects(w.emulator, (w.a.agency_id, w.b.agency_id))


def ghost(real_id: str) -> str:
    """An id of the same shape as ``real_id`` that names nothing."""
    prefix, _, rest = real_id.rpartition("_")
    return f"{prefix}_{'0' * len(rest)}" if prefix else "0" * len(real_id)


def _ids(w: World, path: str) -> dict[str, str]:
    resource_kind = next((kind for kind in RESOURCE_KINDS if f"/{kind}/" in path), None)
    return {
        "subaccount_id": w.subs["shared"],
        "resource_id": w.cache[resource_kind] if resource_kind else "",
        "payment_method_id": w.cache["pm"],
        "user_id": w.members["agency_member"].user_id,
        "invitation_id": w.cache["invitation"],
    }


def _body(method: str, path: str, w: World) -> Any:
    if path.endswith("/payment-methods"):
        return {"payment_method": "pm_card_visa"}
    if path.endswith("/purchases"):
        return {"tier": "premium", "minutes": 10}
    if path.endswith("/auto-allocation") and method == "PUT":
        return ALLOCATION
    if path.endswith("/auto-recharge") and method == "PUT":
        return RECHARGE
    if path.endswith("/suspend"):
        return {"note": "hostile"}
    if path.endswith("/removal") and method == "POST":
        return {"minutes_destination_id": w.b.primary_id}
    if method == "PATCH" and path.startswith("/v1/users/"):
        return {"role": "agency_admin"}
    if method == "PATCH" and path.endswith("{subaccount_id}"):
        return {"name": "Taken over"}
    for kind, (create, status) in RESOURCE_KINDS.items():
        if path.endswith(f"/{kind}") and method == "POST":
            return {"number": phone_number()} if kind == "phone-numbers" else create
        if f"/{kind}/" in path and method == "PATCH":
            return {"status": status}
    return None


def id_routes() -> list[Any]:
    """Every user route of the route table with an id in its path."""
    from app import app  # noqa: F401  (registers every route)
    from chalicelib.api.http import ROUTES

    return [pytest.param(spec.method, spec.path, id=f"{spec.method} {spec.path}")
            for spec in ROUTES if spec.auth == "user" and "{" in spec.path]


@pytest.mark.parametrize(("method", "path"), id_routes())
def test_other_agency_gets_404_and_writes_nothing(world: World, method: str, path: str) -> None:
    """B's owner, A's ids: 404, and A (table and Stripe) is untouched."""
    ids = _ids(world, path)
    query = ""
    if path.endswith("/auto-recharge") and method != "PUT":
        query = "?tier=premium"
    if "/reports/" in path:
        query = "?from=2026-01-01&to=2026-01-31"
    concrete = re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path) + query
    ghostly = re.sub(r"{(\w+)}", lambda m: ghost(ids[m.group(1)]), path) + query
    before, stripe_before = a_snapshot(world), stripe_state(world)
    answer = call(world.client, method, concrete, token=world.b.owner_token,
                  body=_body(method, path, world),
                  headers={"Idempotency-Key": unique("hostile")})
    assert answer.status == 404, (concrete, answer.status, answer.body)
    assert_same_items(before, a_snapshot(world))
    assert stripe_state(world) == stripe_before
    # No existence oracle: A's ids answer exactly as ids that never existed.
    absent = call(world.client, method, ghostly, token=world.b.owner_token,
                  body=_body(method, path, world),
                  headers={"Idempotency-Key": unique("hostile")})
    assert (answer.status, answer.error_code) == (absent.status, absent.error_code), (
        answer.body, absent.body)


def _indistinguishable(w: World, method: str, path: str, body_with: Any, body_without: Any
                       ) -> None:
    """A's id answers exactly as an id that never existed; A is untouched."""
    before = a_snapshot(w)
    real = call(w.client, method, path, token=w.b.owner_token, body=body_with,
                headers={"Idempotency-Key": unique("hostile")})
    absent = call(w.client, method, path, token=w.b.owner_token, body=body_without,
                  headers={"Idempotency-Key": unique("hostile")})
    assert real.status in (404, 422), real.body
    assert (real.status, real.error_code) == (absent.status, absent.error_code), (real, absent)
    assert_same_items(before, a_snapshot(w))


GHOST_SUB = "sub_000000000000000000000000"


class TestIdsInBodies:
    def test_quote_from_another_agencys_subaccount(self, world: World) -> None:
        def body(source: str) -> dict[str, Any]:
            return {"from_subaccount_id": source, "to_subaccount_id": world.b_subs["shared"],
                    "asset": "premium_minutes", "amount": "1"}

        _indistinguishable(world, "POST", "/v1/transfers/quotes", body(world.subs["shared"]),
                           body(GHOST_SUB))

    def test_quote_into_another_agencys_subaccount(self, world: World) -> None:
        world.grant(world.b_subs["shared"])

        def body(target: str) -> dict[str, Any]:
            return {"from_subaccount_id": world.b_subs["shared"], "to_subaccount_id": target,
                    "asset": "premium_minutes", "amount": "1"}

        _indistinguishable(world, "POST", "/v1/transfers/quotes", body(world.subs["shared"]),
                           body(GHOST_SUB))

    def test_confirming_another_agencys_quote(self, world: World) -> None:
        _indistinguishable(world, "POST", "/v1/transfers", {"quote_id": world.cache["quote"]},
                           {"quote_id": "quo_000000000000000000000000"})

    def test_ownership_transfer_to_another_agencys_user(self, world: World) -> None:
        _indistinguishable(world, "POST", "/v1/agency/ownership-transfer",
                           {"user_id": world.members["agency_admin"].user_id},
                           {"user_id": "usr_000000000000000000000000"})

    def test_removal_with_another_agencys_destination(self, world: World) -> None:
        sid = world.new_subaccount(owner_token=world.b.owner_token)
        _indistinguishable(world, "POST", f"/v1/subaccounts/{sid}/removal",
                           {"minutes_destination_id": world.subs["shared"]},
                           {"minutes_destination_id": GHOST_SUB})

    def test_invitation_granting_another_agencys_subaccount(self, world: World) -> None:
        from tests.e2e.identity.support import fresh_email

        def body(sid: str) -> dict[str, Any]:
            return {"email": fresh_email("iso"), "role": "subaccount_member",
                    "subaccount_access": "specific", "subaccount_ids": [sid]}

        _indistinguishable(world, "POST", "/v1/invitations", body(world.subs["shared"]),
                           body(GHOST_SUB))

    def test_another_agencys_resources_under_an_own_subaccount(self, world: World) -> None:
        """B's own sub-account in the path, A's resource / card id after it."""
        own = world.b_subs["shared"]
        for kind, (_create, status) in RESOURCE_KINDS.items():
            _indistinguishable(world, "PATCH",
                               f"/v1/subaccounts/{own}/{kind}/{world.cache[kind]}",
                               {"status": status}, {"status": status})
            ghost = call(world.client, "DELETE", f"/v1/subaccounts/{own}/{kind}/x_0000",
                         token=world.b.owner_token)
            real = call(world.client, "DELETE", f"/v1/subaccounts/{own}/{kind}/"
                        f"{world.cache[kind]}", token=world.b.owner_token)
            assert real.status == ghost.status == 404, (real, ghost)
        before = a_snapshot(world)
        for method, suffix in (("DELETE", ""), ("POST", "/default")):
            real = call(world.client, method, f"/v1/subaccounts/{own}/payment-methods/"
                        f"{world.cache['pm']}{suffix}", token=world.b.owner_token)
            assert real.status == 404, real.body
        assert_same_items(before, a_snapshot(world))


class TestListsAndFilters:
    def test_lists_of_another_agency_show_nothing_of_a(self, world: World) -> None:
        """B's lists (with A's ids as filters too) never mention anything of A."""
        marks = [world.a.agency_id, *world.subs.values(), world.a.owner_email,
                 *(m.user_id for m in world.members.values())]
        for path in ("/v1/subaccounts", "/v1/users", "/v1/invitations", "/v1/transfers",
                     "/v1/notifications", "/v1/audit-log", "/v1/agency/payouts",
                     f"/v1/audit-log?subaccount_id={world.subs['shared']}",
                     f"/v1/audit-log?actor={world.a.owner_id}",
                     "/v1/reports/subaccounts?from=2026-01-01&to=2026-12-31",
                     "/v1/agency", "/v1/agency/overview", "/v1/me"):
            answer = call(world.client, "GET", path, token=world.b.owner_token)
            assert answer.status == 200, (path, answer.body)  # an error body proves nothing
            text = str(answer.body)
            assert not [mark for mark in marks if mark in text], (path, text[:500])

    def test_platform_routes_are_closed_to_every_user_token(self, world: World) -> None:
        """An agency's owner is not the platform: 401 on every platform route."""
        from app import app  # noqa: F401
        from chalicelib.api.http import ROUTES

        for spec in ROUTES:
            if spec.auth != "platform":
                continue
            path = spec.path.replace("{name}", "payout-sweep")
            answer = call(world.client, spec.method, path, token=world.b.owner_token,
                          body={} if spec.method == "POST" else None)
            assert answer.status == 401, (spec.path, answer.body)

"""Every caller against every identity route, as SPEC's role matrix says (one table).

The expectations are the identity rows of ``tests/role_matrix_spec.py``, SPEC's matrix
transcribed by hand (never computed from the permission module this checks). Callers: the
five roles of agency A, an anonymous caller, the owner of agency B (ids of A answer 404 for
it, agency-level calls act on B) and the platform key. Every request is valid, so that a
refusal is about who calls; every refusal leaves every item of the table as it was. A cell
expected to succeed builds its own fresh target (a user to change or remove, an invitation to
resend or revoke); refused cells share one target. The owner's destructive cells (transfer,
close) run on a throwaway agency so that the shared world survives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import ROOT, reset_table
from tests.e2e.identity.support import Member, fresh_email, invite, join
from tests.helpers import AgencyFixture, call, create_agency
from tests.role_matrix_spec import COLUMNS, EXPECTED, PENDING_ROUTES
from tests.snapshots import assert_same_items, table_items


@dataclass
class World:
    """Agency A with one user per role, and agency B."""

    client: Any
    a: AgencyFixture
    b: AgencyFixture
    members: dict[str, Member]
    shared: dict[str, str]

    def token(self, caller: str) -> str | None:
        """The caller's bearer token (``None``: anonymous, or the platform key)."""
        if caller == "owner":
            return self.a.owner_token
        if caller == "other_agency":
            return self.b.owner_token
        if caller in ("anonymous", "platform"):
            return None
        return self.members[caller].token


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """Built once for the module (users join through invite → outbox → accept)."""
    from chalice.test import Client

    from app import app

    reset_table()
    with Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        a = create_agency(client)
        b = create_agency(client, name="Rival Agency")
        members = {role: join(client, a.owner_token, role)
                   for role in ("agency_admin", "agency_member", "subaccount_admin",
                                "subaccount_member")}
        yield World(client, a, b, members, {})


@dataclass
class Req:
    """What one cell sends (``token`` replaces the caller's: a throwaway agency)."""

    method: str
    path: str
    body: Any = None
    token: str | None = None


Build = Callable[[World, str, bool], Req]  # (world, caller, success expected)


def _cached(world: World, key: str, fresh: bool, make: Callable[[], str]) -> str:
    """A fresh target for a cell that succeeds, one shared target for refusals."""
    if fresh:
        return make()
    if key not in world.shared:
        world.shared[key] = make()
    return world.shared[key]


def _member(world: World, fresh: bool) -> str:
    return _cached(world, "member", fresh,
                   lambda: join(world.client, world.a.owner_token, "agency_member").user_id)


def _invitation(world: World, fresh: bool) -> str:
    def make() -> str:
        answer = invite(world.client, world.a.owner_token, fresh_email(), "agency_member")
        assert answer.status == 201, answer.body
        return answer.body["id"]
    return _cached(world, "invitation", fresh, make)


def ownership_transfer(w: World, caller: str, ok: bool) -> Req:
    if caller == "owner":  # on a throwaway agency
        agency = create_agency(w.client)
        target = join(w.client, agency.owner_token, "agency_admin")
        return Req("POST", "/v1/agency/ownership-transfer", {"user_id": target.user_id},
                   token=agency.owner_token)
    return Req("POST", "/v1/agency/ownership-transfer",
               {"user_id": w.members["agency_member"].user_id})


def close_agency(w: World, caller: str, ok: bool) -> Req:
    if ok:  # A's owner or B's: each closes a throwaway agency of its own
        return Req("DELETE", "/v1/agency", token=create_agency(w.client).owner_token)
    return Req("DELETE", "/v1/agency")


def logout(w: World, caller: str, ok: bool) -> Req:
    """A throwaway session of the caller's kind (the world's sessions must live on)."""
    if caller in ("owner", "other_agency"):
        return Req("POST", "/v1/auth/logout", token=create_agency(w.client).owner_token)
    if caller in w.members:
        return Req("POST", "/v1/auth/logout",
                   token=join(w.client, w.a.owner_token, caller).token)
    return Req("POST", "/v1/auth/logout")


REQUESTS: dict[str, Build] = {
    "GET /v1/me": lambda w, c, ok: Req("GET", "/v1/me"),
    "POST /v1/auth/logout": logout,
    "GET /v1/agency": lambda w, c, ok: Req("GET", "/v1/agency"),
    "PATCH /v1/agency": lambda w, c, ok: Req("PATCH", "/v1/agency", {"timezone": "UTC"}),
    "POST /v1/agency/ownership-transfer": ownership_transfer,
    "DELETE /v1/agency": close_agency,
    "GET /v1/users": lambda w, c, ok: Req("GET", "/v1/users"),
    "POST /v1/users": lambda w, c, ok: Req("POST", "/v1/users", {
        "email": fresh_email(), "role": "agency_member", "subaccount_access": "all"}),
    "PATCH /v1/users/{user_id}": lambda w, c, ok: Req(
        "PATCH", f"/v1/users/{_member(w, ok)}", {"role": "agency_admin"}),
    "DELETE /v1/users/{user_id}": lambda w, c, ok: Req("DELETE", f"/v1/users/{_member(w, ok)}"),
    "GET /v1/invitations": lambda w, c, ok: Req("GET", "/v1/invitations"),
    "POST /v1/invitations": lambda w, c, ok: Req("POST", "/v1/invitations", {
        "email": fresh_email(), "role": "subaccount_member", "subaccount_access": "all"}),
    "POST /v1/invitations/{invitation_id}/resend": lambda w, c, ok: Req(
        "POST", f"/v1/invitations/{_invitation(w, ok)}/resend"),
    "DELETE /v1/invitations/{invitation_id}": lambda w, c, ok: Req(
        "DELETE", f"/v1/invitations/{_invitation(w, ok)}"),
}


def _served() -> set[str]:
    from app import app  # noqa: F401  (registers every route)
    from chalicelib.api.http import ROUTES

    return {f"{spec.method} {spec.path}" for spec in ROUTES}


def test_every_identity_route_has_its_row_in_the_spec_matrix() -> None:
    assert set(REQUESTS) <= set(EXPECTED), set(REQUESTS) - set(EXPECTED)
    assert set(REQUESTS) - _served() <= PENDING_ROUTES


@pytest.mark.parametrize("caller", COLUMNS)
@pytest.mark.parametrize("route", sorted(REQUESTS))
def test_role_matrix(world: World, route: str, caller: str) -> None:
    if route not in _served():
        pytest.skip(f"{route} is not in this build yet")
    expected = EXPECTED[route][caller]
    req = REQUESTS[route](world, caller, expected < 300)
    before = table_items() if expected >= 400 else None
    answer = call(world.client, req.method, req.path, token=req.token or world.token(caller),
                  body=req.body, platform=caller == "platform" and req.token is None)
    assert answer.status == expected, (caller, route, answer.body)
    if expected == 403:
        assert answer.error_code == "forbidden"
    if before is not None:
        assert_same_items(before, table_items())


def test_the_world_is_intact_after_the_matrix(world: World) -> None:
    """The shared agency kept its owner and every user's role (refusals changed nothing)."""
    me = call(world.client, "GET", "/v1/me", token=world.a.owner_token)
    assert (me.status, me.body["role"], me.body["agency_id"]) == (200, "agency_owner",
                                                                 world.a.agency_id)
    users = call(world.client, "GET", "/v1/users", token=world.a.owner_token).body["users"]
    roles = {u["id"]: u["role"] for u in users}
    for role, member in world.members.items():
        assert roles[member.user_id] == role

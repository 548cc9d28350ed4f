"""Every role against every identity route, as one table (SPEC's role matrix).

Rows are routes, columns the callers: the five roles of agency A, an anonymous caller and
an Agency Admin of agency B (whose ids-of-A answer 404 and whose agency-level calls act on B).
A cell expected to succeed builds its own fresh target (a user to change or remove, an
invitation to resend or revoke), so the cells are independent; refused cells share one target
(a refusal changes nothing, which the last test checks). The owner's destructive cells (transfer,
close) run on a throwaway agency so that the shared world survives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import ROOT, reset_table
from tests.e2e.identity.support import Member, fresh_email, invite, join
from tests.helpers import call, create_agency, login

CALLERS = ("owner", "agency_admin", "agency_member", "subaccount_admin", "subaccount_member",
           "anonymous", "other_agency_admin")


@dataclass
class World:
    """Agency A with one user per role, and an admin of agency B."""

    client: Any
    agency_id: str
    tokens: dict[str, str | None]
    members: dict[str, Member]
    shared: dict[str, str]
    credentials: dict[str, tuple[str, str]]  # caller → (email, password)

    @property
    def owner_token(self) -> str:
        """The owner of A."""
        token = self.tokens["owner"]
        assert token is not None
        return token


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """Built once for the module (users join through invite → outbox → accept)."""
    from chalice.test import Client

    from app import app

    reset_table()
    with Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        a = create_agency(client)
        b = create_agency(client)
        members = {role: join(client, a.owner_token, role)
                   for role in ("agency_admin", "agency_member", "subaccount_admin",
                                "subaccount_member")}
        other_admin = join(client, b.owner_token, "agency_admin")
        tokens: dict[str, str | None] = {role: m.token for role, m in members.items()}
        tokens.update(owner=a.owner_token, anonymous=None, other_agency_admin=other_admin.token)
        credentials = {role: (m.email, m.password) for role, m in members.items()}
        credentials.update(owner=(a.owner_email, a.owner_password),
                           other_agency_admin=(other_admin.email, other_admin.password))
        yield World(client, a.agency_id, tokens, members, {}, credentials)


Request = tuple[str, str, Any]  # method, path, body


def _member(world: World, fresh: bool) -> str:
    if fresh or "member" not in world.shared:
        user_id = join(world.client, world.owner_token, "agency_member").user_id
        if fresh:
            return user_id
        world.shared["member"] = user_id
    return world.shared["member"]


def _invitation(world: World, fresh: bool) -> str:
    if fresh or "invitation" not in world.shared:
        answer = invite(world.client, world.owner_token, fresh_email(), "agency_member")
        assert answer.status == 201
        if fresh:
            return answer.body["id"]
        world.shared["invitation"] = answer.body["id"]
    return world.shared["invitation"]


def _throwaway_owner_transfer(world: World) -> tuple[str, Request]:
    agency = create_agency(world.client)
    target = join(world.client, agency.owner_token, "agency_admin")
    return agency.owner_token, ("POST", "/v1/agency/ownership-transfer",
                                {"user_id": target.user_id})


def _throwaway_owner_close(world: World) -> tuple[str, Request]:
    agency = create_agency(world.client)
    return agency.owner_token, ("DELETE", "/v1/agency", None)


@dataclass(frozen=True)
class Row:
    """One route: how to build a request, and the expected status per caller."""

    name: str
    build: Callable[[World, bool], Request]  # (world, fresh target needed)
    expected: dict[str, int]
    owner_override: Callable[[World], tuple[str, Request]] | None = None
    own_session: bool = False  # each caller signs in anew (logout must spare the world)


def _statuses(owner: int, admin: int, member: int, sub_admin: int, sub_member: int,
              anonymous: int, other: int) -> dict[str, int]:
    return dict(zip(CALLERS, (owner, admin, member, sub_admin, sub_member, anonymous, other),
                    strict=True))


ROWS = [
    Row("GET /v1/me", lambda w, fresh: ("GET", "/v1/me", None),
        _statuses(200, 200, 200, 200, 200, 401, 200)),
    Row("GET /v1/agency", lambda w, fresh: ("GET", "/v1/agency", None),
        _statuses(200, 200, 200, 200, 200, 401, 200)),
    Row("PATCH /v1/agency", lambda w, fresh: ("PATCH", "/v1/agency", {"timezone": "UTC"}),
        _statuses(200, 200, 403, 403, 403, 401, 200)),
    Row("POST /v1/agency/ownership-transfer",
        lambda w, fresh: ("POST", "/v1/agency/ownership-transfer",
                          {"user_id": w.members["agency_member"].user_id}),
        _statuses(200, 403, 403, 403, 403, 401, 403),
        owner_override=_throwaway_owner_transfer),
    Row("DELETE /v1/agency", lambda w, fresh: ("DELETE", "/v1/agency", None),
        _statuses(204, 403, 403, 403, 403, 401, 403),
        owner_override=_throwaway_owner_close),
    Row("GET /v1/users", lambda w, fresh: ("GET", "/v1/users", None),
        _statuses(200, 200, 403, 403, 403, 401, 200)),
    Row("POST /v1/users", lambda w, fresh: ("POST", "/v1/users", {
        "email": fresh_email(), "role": "agency_member", "subaccount_access": "all"}),
        _statuses(201, 201, 403, 403, 403, 401, 201)),
    Row("PATCH /v1/users/{id}",
        lambda w, fresh: ("PATCH", f"/v1/users/{_member(w, fresh)}", {"role": "agency_admin"}),
        _statuses(200, 200, 403, 403, 403, 401, 404)),
    Row("DELETE /v1/users/{id}",
        lambda w, fresh: ("DELETE", f"/v1/users/{_member(w, fresh)}", None),
        _statuses(204, 204, 403, 403, 403, 401, 404)),
    Row("GET /v1/invitations", lambda w, fresh: ("GET", "/v1/invitations", None),
        _statuses(200, 200, 403, 403, 403, 401, 200)),
    Row("POST /v1/invitations", lambda w, fresh: ("POST", "/v1/invitations", {
        "email": fresh_email(), "role": "subaccount_member", "subaccount_access": "all"}),
        _statuses(201, 201, 403, 403, 403, 401, 201)),
    Row("POST /v1/invitations/{id}/resend",
        lambda w, fresh: ("POST", f"/v1/invitations/{_invitation(w, fresh)}/resend", None),
        _statuses(200, 200, 403, 403, 403, 401, 404)),
    Row("POST /v1/auth/logout", lambda w, fresh: ("POST", "/v1/auth/logout", None),
        _statuses(204, 204, 204, 204, 204, 401, 204), own_session=True),
    Row("DELETE /v1/invitations/{id}",
        lambda w, fresh: ("DELETE", f"/v1/invitations/{_invitation(w, fresh)}", None),
        _statuses(204, 204, 403, 403, 403, 401, 404)),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_role_matrix(world: World, row: Row, caller: str) -> None:
    token = world.tokens[caller]
    if row.own_session and token is not None:
        email, password = world.credentials[caller]
        token = login(world.client, email, password)
    if caller == "owner" and row.owner_override is not None:
        token, (method, path, body) = row.owner_override(world)
    else:
        method, path, body = row.build(world, row.expected[caller] < 300)
    answer = call(world.client, method, path, token=token, body=body)
    assert answer.status == row.expected[caller], (caller, row.name, answer.body)
    if answer.status == 403:
        assert answer.error_code == "forbidden"


def test_the_world_is_intact_after_the_matrix(world: World) -> None:
    """The shared agency kept its owner and every user's role (denials changed nothing)."""
    me = call(world.client, "GET", "/v1/me", token=world.owner_token)
    assert (me.status, me.body["role"], me.body["agency_id"]) == (200, "agency_owner",
                                                                 world.agency_id)
    users = call(world.client, "GET", "/v1/users", token=world.owner_token).body["users"]
    roles = {u["id"]: u["role"] for u in users}
    for role, member in world.members.items():
        assert roles[member.user_id] == role

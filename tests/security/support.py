"""The security suite's world: two agencies, a user of every role, sub-accounts in every state.

Everything is built through the public API (platform routes for agencies and minutes,
invite → outbox → accept for users), so the suite sees the app exactly as a client does.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import ROOT, reset_table
from tests.e2e.identity.support import Member, join
from tests.helpers import AgencyFixture, Answer, call, create_agency
from tests.role_matrix_spec import COLUMNS

_n = itertools.count(1)

#: The callers of the role × route matrix, in column order (``other_agency``: B's owner).
CALLERS = COLUMNS
ROLES = CALLERS[:5]
SUBACCOUNT_ROLES = ("subaccount_admin", "subaccount_member")
#: Roles whose reach is the sub-accounts they were granted.
LIMITED_ROLES = ("agency_member", *SUBACCOUNT_ROLES)

PRICES = {"basic": "0.15", "premium": "0.25"}
RESOURCE_KINDS = {
    "campaigns": ({"name": "Spring campaign"}, "paused"),
    "agents": ({"name": "Front desk"}, "inactive"),
    "automations": ({"name": "GHL trigger"}, "disabled"),
    "phone-numbers": ({"number": "+14155550123"}, "active"),
}


def unique(prefix: str) -> str:
    """A value nobody used yet in this run (emails, idempotency keys)."""
    return f"{prefix}{next(_n)}-{uuid.uuid4().hex[:8]}"


def phone_number() -> str:
    """An E.164 number not used yet in this run."""
    return f"+1415{2_000_000 + next(_n) * 37 % 7_000_000:07d}"


@dataclass
class World:
    """Agency A with a user of every role, agency B with an owner and an admin.

    Sub-accounts of A: ``shared`` and ``second`` (granted to every limited user),
    ``suspended`` (granted, suspended by the owner), ``hidden`` (granted to nobody).
    """

    client: Any
    a: AgencyFixture
    b: AgencyFixture
    members: dict[str, Member]
    b_admin: Member
    subs: dict[str, str]
    b_subs: dict[str, str]
    emulator: str
    cache: dict[str, Any] = field(default_factory=dict)

    def token(self, caller: str) -> str | None:
        """Bearer token of a matrix caller (``None`` for anonymous and for the platform key,
        which ``call(..., platform=True)`` sends)."""
        if caller == "owner":
            return self.a.owner_token
        if caller in ("anonymous", "platform"):
            return None
        if caller == "other_agency":  # the most powerful user of another tenant
            return self.b.owner_token
        return self.members[caller].token

    def as_owner(self, method: str, path: str, body: Any = None,
                 headers: dict[str, str] | None = None) -> Answer:
        """A call by A's owner that must succeed (arranging a cell)."""
        answer = call(self.client, method, path, token=self.a.owner_token, body=body,
                      headers=headers)
        assert answer.status < 300, (method, path, answer.status, answer.body)
        return answer

    def platform(self, method: str, path: str, body: Any = None) -> Answer:
        """A platform-key call that must succeed."""
        answer = call(self.client, method, path, platform=True, body=body)
        assert answer.status < 300, (method, path, answer.status, answer.body)
        return answer

    def new_subaccount(self, *, owner_token: str | None = None) -> str:
        """A fresh secondary sub-account of A (or of the owner given)."""
        n = next(_n)
        answer = call(self.client, "POST", "/v1/subaccounts",
                      token=owner_token or self.a.owner_token, body={
                          "name": f"Client {n}", "login_email": f"{unique('client')}@c.example.com",
                          "prices": PRICES, "subscription_start": "2026-02-15"})
        assert answer.status == 201, answer.body
        return answer.body["id"]

    def grant(self, sid: str, asset: str = "premium_minutes", amount: str = "1000") -> None:
        """Minutes (or KP credits) from platform supply."""
        self.platform("POST", "/v1/platform/adjustments", {
            "subaccount_id": sid, "asset": asset, "amount": amount, "reason": "security suite"})

    def add_card(self, sid: str, token: str | None = None, pm: str = "pm_card_visa") -> str:
        """Attach a card; returns its payment method id."""
        answer = call(self.client, "POST", f"/v1/subaccounts/{sid}/payment-methods",
                      token=token or self.a.owner_token, body={"payment_method": pm})
        assert answer.status == 201, answer.body
        return answer.body["id"]

    def new_resource(self, sid: str, kind: str) -> str:
        """A campaign, agent, automation or phone number made by the owner."""
        body = dict(RESOURCE_KINDS[kind][0])
        if kind == "phone-numbers":
            body = {"number": phone_number()}
        return self.as_owner("POST", f"/v1/subaccounts/{sid}/{kind}", body).body["id"]

    def limited_users(self, *names: str) -> dict[str, Member]:
        """An Agency Member, a Subaccount Admin and a Subaccount Member of A with
        ``specific`` access to the named sub-accounts (made once per set of names)."""
        key = ("limited", *names)
        if key not in self.cache:
            ids = [self.subs[name] for name in names]
            self.cache[key] = {role: join(self.client, self.a.owner_token, role,
                                          access="specific", subaccount_ids=ids)
                               for role in LIMITED_ROLES}
        return self.cache[key]

    def quote(self, token: str, from_sid: str, to_sid: str, amount: str = "1") -> Answer:
        """``POST /v1/transfers/quotes`` as ``token``."""
        return call(self.client, "POST", "/v1/transfers/quotes", token=token,
                    headers={"Idempotency-Key": unique("quote")},
                    body={"from_subaccount_id": from_sid, "to_subaccount_id": to_sid,
                          "asset": "premium_minutes", "amount": amount})


@contextmanager
def built_world(emulator: str, granted: tuple[str, ...] = ("shared", "second", "suspended")
                ) -> Iterator[World]:
    """Build the world on a fresh table (module scope: a few seconds); the limited users
    (Agency Member and the sub-account roles) get ``specific`` access to ``granted``."""
    from chalice.test import Client

    from app import app

    reset_table()
    with Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        a = create_agency(client, plan="agency_unlimited")
        b = create_agency(client, plan="agency_unlimited", name="Rival Agency")
        world = World(client, a, b, {}, None, {}, {}, emulator)  # type: ignore[arg-type]
        for name in ("shared", "second", "suspended", "hidden"):
            world.subs[name] = world.new_subaccount()
        world.subs["primary"] = a.primary_id
        world.members["agency_admin"] = join(client, a.owner_token, "agency_admin")
        world.members.update(world.limited_users(*granted))
        world.b_admin = join(client, b.owner_token, "agency_admin")
        world.b_subs = {"primary": b.primary_id,
                        "shared": world.new_subaccount(owner_token=b.owner_token)}
        for name in ("primary", "shared", "second", "suspended", "hidden"):
            for asset in ("basic_minutes", "premium_minutes", "kp_credits"):
                world.grant(world.subs[name], asset)
        for name in ("shared", "suspended"):
            world.add_card(world.subs[name])
        world.as_owner("POST", f"/v1/subaccounts/{world.subs['suspended']}/suspend",
                       {"note": "unpaid invoice"})
        yield world


def intents_by_purchase(emulator: str, agency_id: str) -> dict[str, set[str]]:
    """Succeeded PaymentIntents the Stripe emulator holds for an agency, by our purchase id
    (from the ``payment_intent.succeeded`` events; waits until the event log is still)."""
    import time

    import requests

    def read() -> dict[str, set[str]]:
        answer = requests.get(f"{emulator}/_devstack/events",
                              params={"type": "payment_intent.succeeded"}, timeout=10)
        found: dict[str, set[str]] = {}
        for event in answer.json()["data"]:
            intent = event["data"]["object"]
            metadata = intent.get("metadata") or {}
            if metadata.get("agency_id") == agency_id:
                found.setdefault(metadata.get("purchase_id", "?"), set()).add(intent["id"])
        return found

    previous = read()
    for _ in range(50):
        time.sleep(0.2)
        current = read()
        if current == previous:
            return current
        previous = current
    return previous


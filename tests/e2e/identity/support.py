"""Helpers of the identity tests: invite through HTTP, read the outbox, move the clock."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.helpers import Answer, call

_numbers = itertools.count(1)
PASSWORD = "member-password-1"


def fresh_email(prefix: str = "person") -> str:
    """An email nobody holds yet."""
    return f"{prefix}{next(_numbers)}@team.example.com"


def invite(client: Any, token: str, email: str, role: str, *, access: str | None = "all",
           subaccount_ids: list[str] | None = None, path: str = "/v1/invitations") -> Answer:
    """``POST /v1/invitations`` (or ``/v1/users``)."""
    body: dict[str, Any] = {"email": email, "role": role}
    if access is not None:
        body["subaccount_access"] = access
    if subaccount_ids is not None:
        body["subaccount_ids"] = subaccount_ids
    return call(client, "POST", path, token=token, body=body)


def token_from_outbox(client: Any, email: str) -> str:
    """The token in the newest invitation email to ``email``."""
    outbox = call(client, "GET", f"/v1/platform/outbox?to={email}", platform=True)
    assert outbox.status == 200, outbox.body
    assert outbox.body["messages"], f"no email to {email}"
    match = re.search(r"/accept-invite\?token=(\S+)", outbox.body["messages"][0]["body"])
    assert match, outbox.body["messages"][0]["body"]
    return match.group(1)


def accept(client: Any, token: str, password: str = PASSWORD) -> Answer:
    """``POST /v1/auth/invitations/accept``."""
    return call(client, "POST", "/v1/auth/invitations/accept",
                body={"token": token, "password": password})


@dataclass
class Member:
    """A user that joined through an invitation, signed in."""

    user_id: str
    email: str
    role: str
    token: str
    password: str = PASSWORD


def join(client: Any, inviter_token: str, role: str, *, access: str | None = "all",
         subaccount_ids: list[str] | None = None) -> Member:
    """Invite, read the email, accept: a signed-in user of ``role``."""
    email = fresh_email(role.replace("_", ""))
    invited = invite(client, inviter_token, email, role, access=access,
                     subaccount_ids=subaccount_ids)
    assert invited.status == 201, invited.body
    accepted = accept(client, token_from_outbox(client, email))
    assert accepted.status == 200, accepted.body
    return Member(accepted.body["user"]["id"], email, role, accepted.body["access_token"])


def add_secondary_subaccount(agency_id: str, name: str = "Client") -> str:
    """A secondary sub-account written straight to the table (its route is another area's)."""
    from chalicelib.services.agencies import new_id
    from chalicelib.store import keys
    from chalicelib.store.accounts import Subaccount, SubaccountPointer
    from chalicelib.store.base import utcnow

    sid = new_id("sub")
    Subaccount(keys.agency_pk(agency_id), keys.subaccount_sk(sid), agency_id=agency_id,
               subaccount_id=sid, name=name, is_primary=False, price_basic=150_000,
               price_premium=200_000, subscription_start="2026-01-15",
               created_at=utcnow()).save()
    SubaccountPointer(keys.subaccount_pointer_pk(sid), "SUBID", agency_id=agency_id).save()
    return sid


class Clock:
    """The installed clock (``chalicelib.services.ports``), moved by tests; the one it
    replaced comes back when the test ends."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from chalicelib import bootstrap
        from chalicelib.services import ports

        self.offset = timedelta(0)
        self._real = bootstrap.SystemClock()
        # What ``bootstrap.override(clock=self)`` installs, undone by ``monkeypatch``.
        monkeypatch.setattr(ports, "_installed", replace(ports.ports(), clock=self))

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self.offset += delta

    def now(self) -> datetime:
        """What the clock reads."""
        return self._real.now() + self.offset

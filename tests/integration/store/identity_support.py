"""Records of the identity repositories written straight through the store (no services)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from chalicelib.domain.errors import Conflict
from chalicelib.store import agencies, email_claims, users
from chalicelib.store.accounts import Agency, User
from chalicelib.store.transact import commit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def new_id(prefix: str) -> str:
    """A fresh id."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def make_agency(*, plan: str = "agency_lite") -> tuple[Agency, User]:
    """An agency with its primary, slot counter and owner, as agency creation writes them."""
    agency = agencies.new(
        agency_id=new_id("agy"), name="Agency", plan=plan, timezone="UTC",
        subscription_start="2026-01-15", owner_user_id=new_id("usr"),
        primary_subaccount_id=new_id("sub"), created_at=NOW)
    owner = users.new(agency_id=agency.agency_id, user_id=agency.owner_user_id,
                      email=f"{agency.owner_user_id}@owners.example.com", role="agency_owner",
                      access_all=True, subaccount_ids=[], password_hash="x", created_at=NOW)
    primary = agencies.new_primary(agency, login_email=owner.email, price_basic=100_000,
                                   price_premium=160_000)
    commit([email_claims.claim(owner.email, agency.agency_id, "user", owner.user_id),
            *agencies.creation_ops(agency, primary, owner)])
    return agency, owner


def make_user(agency: Agency, *, role: str = "agency_member", status: str = "active") -> User:
    """An active user of ``agency`` (removed when ``status`` says so)."""
    user = users.new(agency_id=agency.agency_id, user_id=new_id("usr"),
                     email=f"{uuid.uuid4().hex[:10]}@team.example.com", role=role,
                     access_all=True, subaccount_ids=[], password_hash="x", created_at=NOW)
    commit([users.insert(user)])
    if status == "removed":
        commit([users.remove(user, unexpected())])
    return user


def unexpected() -> Conflict:
    """The error of an op whose condition holds in the test that uses it."""
    return Conflict("this condition was expected to hold", code="unexpected")

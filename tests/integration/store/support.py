"""Helpers of the repository tests: an agency made the way the platform makes one, and
sub-accounts written through the sub-account repository."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from chalicelib.services.agencies import CreatedAgency, create_agency
from chalicelib.services.ports import now
from chalicelib.store import subaccounts
from chalicelib.store.subaccounts import Subaccount
from chalicelib.store.transact import commit


def new_agency(plan: str = "agency_pro") -> CreatedAgency:
    """A fresh agency with its primary sub-account and owner."""
    return create_agency(name="Repository tests", owner_email=f"o{uuid.uuid4().hex[:8]}@x.test",
                         owner_password="owner-password-1", plan=plan,
                         subscription_start=date(2026, 1, 31))


def add_subaccount(agency: CreatedAgency, name: str = "Client", *,
                   cap: int | None = None, at: datetime | None = None) -> Subaccount:
    """A secondary sub-account saved through ``subaccounts.create_ops``."""
    moment = at or now()
    sub = subaccounts.new(agency_id=agency.agency.agency_id,
                          subaccount_id=f"sub_{uuid.uuid4().hex[:12]}", name=name,
                          login_email=f"{uuid.uuid4().hex[:8]}@clients.test",
                          price_basic=150_000, price_premium=250_000,
                          subscription_start=date(2026, 2, 15), at=moment)
    commit(subaccounts.create_ops(sub, plan=agency.agency.plan, cap=cap))
    return sub


def stored(sub: Subaccount) -> Subaccount:
    """The sub-account as stored now."""
    found = subaccounts.find(sub.agency_id, sub.subaccount_id)
    assert found is not None
    return found

"""Agencies: the tenant item, its plan-slot counter, and what agency creation writes.

Keys (``chalicelib.store.keys``): the agency ``AGENCY#<aid>`` / ``AGENCY``, its slot counter
``AGENCY#<aid>`` / ``SLOTS``; the primary sub-account made with it ``AGENCY#<aid>`` /
``SUB#<sid>`` and its pointer ``SUBID#<sid>`` / ``SUBID``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import DomainError, NotFound
from chalicelib.store import keys
from chalicelib.store.accounts import Agency, SlotCounter, Subaccount, SubaccountPointer, User
from chalicelib.store.base import read_items
from chalicelib.store.transact import Op, check, save, update

POINTER_SK = "SUBID"


def _key(agency_id: str) -> Agency:
    return Agency(keys.agency_pk(agency_id), keys.AGENCY_SK)


def get(agency_id: str) -> Agency | None:
    """The agency in any status, or None (one consistent GetItem)."""
    try:
        return Agency.get(keys.agency_pk(agency_id), keys.AGENCY_SK, consistent_read=True)
    except Agency.DoesNotExist:
        return None


def with_slots_used(agency_id: str) -> tuple[Agency | None, int]:
    """The agency and how many secondary sub-accounts hold a plan slot (0 without a
    counter), in one consistent BatchGetItem."""
    agency_key = (keys.agency_pk(agency_id), keys.AGENCY_SK)
    slots_key = (keys.agency_pk(agency_id), keys.SLOTS_SK)
    found = read_items([agency_key, slots_key])
    agency, slots = found.get(agency_key), found.get(slots_key)
    used = slots.used if isinstance(slots, SlotCounter) else 0
    return (agency if isinstance(agency, Agency) else None), used or 0


# --------------------------------------------------------------------------- creation


def new(*, agency_id: str, name: str, plan: str, timezone: str, subscription_start: str,
        owner_user_id: str, primary_subaccount_id: str, created_at: datetime) -> Agency:
    """A new agency record (not written: ``creation_ops`` writes it)."""
    return Agency(
        keys.agency_pk(agency_id), keys.AGENCY_SK,
        agency_id=agency_id, name=name, plan=plan, timezone=timezone,
        subscription_start=subscription_start, owner_user_id=owner_user_id,
        primary_subaccount_id=primary_subaccount_id, created_at=created_at,
    )


def new_primary(agency: Agency, *, login_email: str, price_basic: int,
                price_premium: int) -> Subaccount:
    """The agency's primary sub-account (same name and billing anchor as the agency)."""
    return Subaccount(
        keys.agency_pk(agency.agency_id), keys.subaccount_sk(agency.primary_subaccount_id),
        agency_id=agency.agency_id, subaccount_id=agency.primary_subaccount_id,
        name=agency.name, login_email=login_email, is_primary=True, price_basic=price_basic,
        price_premium=price_premium, subscription_start=agency.subscription_start,
        created_at=agency.created_at,
    )


def creation_ops(agency: Agency, primary: Subaccount, owner: User) -> list[Op]:
    """The writes of a new agency: the agency (its id never reused), the primary and its
    pointer, an empty slot counter and the owner."""
    return [
        save(agency, condition=Agency.PK.does_not_exist()),
        save(primary),
        save(SubaccountPointer(keys.subaccount_pointer_pk(primary.subaccount_id), POINTER_SK,
                               agency_id=agency.agency_id)),
        save(SlotCounter(keys.agency_pk(agency.agency_id), keys.SLOTS_SK, used=0)),
        save(owner),
    ]


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class SettingsChange:
    """What ``PATCH /v1/agency`` changes; ``None`` keeps a field (the threshold is cleared
    with ``threshold_changed`` and ``threshold_seconds=None``)."""

    name: str | None = None
    plan: str | None = None
    timezone: str | None = None
    threshold_changed: bool = False
    threshold_seconds: int | None = None


def change_settings(agency: Agency, change: SettingsChange) -> Op:
    """Apply ``change`` to an agency that is still active (404 once closed)."""
    actions: list[Any] = []
    if change.name is not None:
        actions.append(Agency.name.set(change.name))
    if change.plan is not None:
        actions.append(Agency.plan.set(change.plan))
    if change.timezone is not None:
        actions.append(Agency.timezone.set(change.timezone))
    if change.threshold_changed:
        actions.append(Agency.low_balance_threshold_seconds.remove()
                       if change.threshold_seconds is None
                       else Agency.low_balance_threshold_seconds.set(change.threshold_seconds))
    return update(_key(agency.agency_id), actions, condition=Agency.status == "active",
                  error=NotFound("agency not found"))


def slots_within(agency_id: str, cap: int, error: DomainError) -> Op:
    """Guard: no more than ``cap`` slots are used when the transaction commits."""
    return check(SlotCounter(keys.agency_pk(agency_id), keys.SLOTS_SK),
                 (SlotCounter.used <= cap) | SlotCounter.used.does_not_exist(), error)


def with_plan(agency: Agency, plan: str) -> Agency:
    """A copy of ``agency`` on another plan, as it will read once the change commits (not
    written)."""
    return Agency(agency.PK, agency.SK, **{**agency.attribute_values, "plan": plan})


def transfer_owner(agency: Agency, *, from_user_id: str, to_user_id: str,
                   error: DomainError) -> Op:
    """Move ``owner_user_id`` if ``from_user_id`` still owns the active agency."""
    return update(_key(agency.agency_id), [Agency.owner_user_id.set(to_user_id)],
                  condition=(Agency.owner_user_id == from_user_id)
                  & (Agency.status == "active"),
                  error=error)


def close(agency: Agency, *, by_user_id: str, at: datetime, error: DomainError) -> Op:
    """Close the active agency, if ``by_user_id`` still owns it."""
    return update(_key(agency.agency_id),
                  [Agency.status.set("closed"), Agency.closed_at.set(at)],
                  condition=(Agency.status == "active")
                  & (Agency.owner_user_id == by_user_id),
                  error=error)


def check_active(agency_id: str, error: DomainError) -> Op:
    """Guard: the agency is still active when the transaction commits."""
    return check(_key(agency_id), Agency.status == "active", error)

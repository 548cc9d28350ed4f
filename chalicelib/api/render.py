"""JSON shapes shared by several routes (one renderer per business object)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from chalicelib.domain.billing import next_cycle_date
from chalicelib.domain.money import render_usd
from chalicelib.domain.plans import PLANS
from chalicelib.domain.roles import AGENCY_ROLES, Principal
from chalicelib.services.ports import now

if TYPE_CHECKING:
    from chalicelib.services.subaccounts import Subaccount

#: Answer fields that carry the agency's margin (profit, base cost, held profit).
MARGIN_FIELDS = frozenset({"profit_usd", "profit_micros", "held_micros", "released_micros",
                           "base_cost", "base_cost_usd"})


def sees_margin(principal: Principal | None) -> bool:
    """Agency roles and the platform see profit and base cost; clients (sub-account roles)
    never do (SPEC "Clients never see the agency's margin")."""
    return principal is None or principal.role in AGENCY_ROLES


def for_viewer(principal: Principal | None, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without its margin fields when ``principal`` is a client: absent, not null."""
    if sees_margin(principal):
        return body
    return {key: value for key, value in body.items() if key not in MARGIN_FIELDS}


def iso(moment: datetime | None) -> str | None:
    """An aware datetime as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def iso_micro(moment: datetime) -> str:
    """An aware datetime in UTC to the microsecond: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def today_utc() -> date:
    """Today's date in UTC (the clock of the composition root)."""
    return now().date()


class AnswerModel(BaseModel):
    """Base of the response models: the document lists exactly the fields an answer has."""

    model_config = ConfigDict(extra="forbid")


class AgencyRecord(Protocol):
    """What ``render_agency`` reads of an agency."""

    @property
    def agency_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def plan(self) -> str: ...
    @property
    def subscription_start(self) -> str: ...
    @property
    def owner_user_id(self) -> str: ...
    @property
    def primary_subaccount_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class AgencyOut(AnswerModel):
    """An agency with its plan, cap and slots."""

    id: str
    name: str
    plan: str
    subaccount_cap: int | None
    slots_used: int | None
    subscription_start: str
    owner_user_id: str
    primary_subaccount_id: str
    status: Literal["active", "closed"]
    timezone: str
    created_at: str | None


def render_agency(agency: AgencyRecord, slots_used: int | None = None) -> dict[str, Any]:
    """An agency with its plan, cap and slots (``AgencyOut``)."""
    plan = PLANS.get(agency.plan)
    return {
        "id": agency.agency_id,
        "name": agency.name,
        "plan": agency.plan,
        "subaccount_cap": plan.subaccount_cap if plan else None,
        "slots_used": slots_used,
        "subscription_start": agency.subscription_start,
        "owner_user_id": agency.owner_user_id,
        "primary_subaccount_id": agency.primary_subaccount_id,
        "status": agency.status,
        "timezone": agency.timezone,
        "created_at": iso(agency.created_at),
    }


def render_subaccount(sub: Subaccount) -> dict[str, Any]:
    """A sub-account with its prices (decimal strings) and suspension banner."""
    suspended = sub.status == "suspended"
    anchor = date.fromisoformat(sub.subscription_start)
    return {
        "id": sub.subaccount_id,
        "agency_id": sub.agency_id,
        "name": sub.name,
        "login_email": sub.login_email,
        "is_primary": bool(sub.is_primary),
        "prices": {"basic": render_usd(sub.price_basic), "premium": render_usd(sub.price_premium)},
        "subscription_start": sub.subscription_start,
        "next_billing_date": next_cycle_date(anchor, today_utc()).isoformat(),
        "status": sub.status,
        "banner": {
            "suspended": suspended,
            "note": sub.suspension_note if suspended else None,
            "since": iso(sub.suspended_at) if suspended else None,
        },
        "created_at": iso(sub.created_at),
    }


class UserRecord(Protocol):
    """What ``render_user`` reads of a user."""

    @property
    def user_id(self) -> str: ...
    @property
    def agency_id(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def access_all(self) -> bool: ...
    @property
    def subaccount_ids(self) -> list[str]: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class UserOut(AnswerModel):
    """A user as the users tab shows it (never the password hash)."""

    id: str
    agency_id: str
    email: str
    name: str
    role: str
    subaccount_access: Literal["all", "specific"]
    subaccount_ids: list[str]
    status: Literal["active", "removed"]
    created_at: str | None


def render_user(user: UserRecord) -> dict[str, Any]:
    """A user as the users tab shows it (``UserOut``; never the password hash)."""
    return {
        "id": user.user_id,
        "agency_id": user.agency_id,
        "email": user.email,
        "name": user.name or "",
        "role": user.role,
        "subaccount_access": "all" if user.access_all else "specific",
        "subaccount_ids": list(user.subaccount_ids or []),
        "status": user.status,
        "created_at": iso(user.created_at),
    }

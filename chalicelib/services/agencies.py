"""Agency creation (platform operator) and the agency's own settings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from chalicelib.domain.errors import Conflict, ValidationFailed
from chalicelib.domain.plans import BASE_COST_MICROS, PLANS
from chalicelib.domain.roles import Role
from chalicelib.domain.timezones import DEFAULT_TIMEZONE, require_known_timezone
from chalicelib.services.passwords import check_password_rules, hash_password
from chalicelib.store import keys
from chalicelib.store.accounts import (
    Agency,
    EmailClaim,
    SlotCounter,
    Subaccount,
    SubaccountPointer,
    User,
)
from chalicelib.store.base import utcnow
from chalicelib.store.transact import Op, commit, save


def new_id(prefix: str) -> str:
    """A random, URL-safe identifier with a readable prefix (``sub_…``, ``usr_…``)."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def email_taken() -> Conflict:
    """The 409 for an email that a user, invitation or sub-account login already holds."""
    return Conflict("this email is already in use", code="email_taken")


def claim_email_op(email: str, agency_id: str, owner_type: str, owner_id: str) -> Op:
    """Claim an email system-wide; fails with 409 ``email_taken`` if anyone holds it."""
    return save(
        EmailClaim(keys.email_pk(email), "EMAIL", agency_id=agency_id, owner_type=owner_type,
                   owner_id=owner_id),
        condition=EmailClaim.PK.does_not_exist(),
        error=email_taken(),
    )


@dataclass(frozen=True)
class CreatedAgency:
    """What agency creation made."""

    agency: Agency
    primary: Subaccount
    owner: User


def create_agency(*, name: str, owner_email: str, owner_password: str, plan: str,
                  subscription_start: date, timezone: str = DEFAULT_TIMEZONE) -> CreatedAgency:
    """Create the agency, its primary sub-account and its owner in one transaction.

    ``timezone`` (an IANA name, default UTC) is the one its reports speak in.
    """
    if plan not in PLANS:
        raise ValidationFailed(f"unknown plan {plan!r}", details={"field": "plan",
                                                                   "plans": sorted(PLANS)})
    require_known_timezone(timezone)
    check_password_rules(owner_password)
    now = utcnow()
    agency_id, primary_id, owner_id = new_id("agy"), new_id("sub"), new_id("usr")
    email = owner_email.strip().lower()
    agency = Agency(
        keys.agency_pk(agency_id), keys.AGENCY_SK,
        agency_id=agency_id, name=name, plan=plan, timezone=timezone,
        subscription_start=subscription_start.isoformat(), owner_user_id=owner_id,
        primary_subaccount_id=primary_id, created_at=now,
    )
    primary = Subaccount(
        keys.agency_pk(agency_id), keys.subaccount_sk(primary_id),
        agency_id=agency_id, subaccount_id=primary_id, name=name, login_email=email,
        is_primary=True, price_basic=BASE_COST_MICROS["basic"],
        price_premium=BASE_COST_MICROS["premium"], subscription_start=agency.subscription_start,
        created_at=now,
    )
    owner = User(
        keys.agency_pk(agency_id), keys.user_sk(owner_id),
        agency_id=agency_id, user_id=owner_id, email=email, role=Role.AGENCY_OWNER.value,
        access_all=True, subaccount_ids=[], password_hash=hash_password(owner_password),
        created_at=now,
    )
    from chalicelib.services.plan_renewal import schedule_op

    renewal = schedule_op(agency, now.date())  # plans with included minutes only
    commit([
        claim_email_op(email, agency_id, "user", owner_id),
        save(agency, condition=Agency.PK.does_not_exist()),
        save(primary),
        save(SubaccountPointer(keys.subaccount_pointer_pk(primary_id), "SUBID",
                               agency_id=agency_id)),
        save(SlotCounter(keys.agency_pk(agency_id), keys.SLOTS_SK, used=0)),
        save(owner),
        *([renewal] if renewal else []),
    ])
    return CreatedAgency(agency, primary, owner)

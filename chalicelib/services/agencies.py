"""Agency creation (platform operator), and the ids and email claims other use cases share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.plans import BASE_COST_MICROS, PLANS
from chalicelib.domain.roles import Role
from chalicelib.domain.timezones import DEFAULT_TIMEZONE, require_known_timezone
from chalicelib.services.passwords import check_password_rules, hash_password
from chalicelib.services.plan_renewal import schedule_op
from chalicelib.services.ports import now
from chalicelib.store import agencies, email_claims, users
from chalicelib.store.accounts import Agency, Subaccount, User
from chalicelib.store.transact import Op, commit


def new_id(prefix: str) -> str:
    """A random, URL-safe identifier with a readable prefix (``sub_…``, ``usr_…``)."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def claim_email_op(email: str, agency_id: str, owner_type: str, owner_id: str) -> Op:
    """Claim an email system-wide; fails with 409 ``email_taken`` if anyone holds it."""
    return email_claims.claim(email, agency_id, owner_type, owner_id)


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
    moment = now()
    agency_id, primary_id, owner_id = new_id("agy"), new_id("sub"), new_id("usr")
    email = owner_email.strip().lower()
    agency = agencies.new(
        agency_id=agency_id, name=name, plan=plan, timezone=timezone,
        subscription_start=subscription_start.isoformat(), owner_user_id=owner_id,
        primary_subaccount_id=primary_id, created_at=moment,
    )
    # The primary is the agency's own account: it buys at base cost.
    primary = agencies.new_primary(agency, login_email=email,
                                   price_basic=BASE_COST_MICROS["basic"],
                                   price_premium=BASE_COST_MICROS["premium"])
    owner = users.new(
        agency_id=agency_id, user_id=owner_id, email=email, role=Role.AGENCY_OWNER.value,
        access_all=True, subaccount_ids=[], password_hash=hash_password(owner_password),
        created_at=moment,
    )
    renewal = schedule_op(agency, moment.date())  # plans with included minutes only
    commit([
        claim_email_op(email, agency_id, "user", owner_id),
        *agencies.creation_ops(agency, primary, owner),
        *([renewal] if renewal else []),
    ])
    return CreatedAgency(agency, primary, owner)

"""Identity use cases: invitations, the users tab, ownership transfer, agency settings.

Every change is one ``TransactWriteItems`` with conditions that guard it against races
(an invitation resent while being accepted, a role changed during an ownership transfer…),
and carries its audit event in the same commit. Emails are sent after the commit succeeded,
so a failed write never mails a token that does not exist.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.errors import (
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    ValidationFailed,
)
from chalicelib.domain.money import parse_minutes
from chalicelib.domain.plans import PLANS
from chalicelib.domain.roles import (
    INVITABLE_ROLES,
    Action,
    Principal,
    Role,
    authorize_agency,
)
from chalicelib.domain.timezones import require_known_timezone
from chalicelib.services.agencies import claim_email_op, new_id
from chalicelib.services.audit import audit_op
from chalicelib.services.email import send_email
from chalicelib.services.passwords import check_password_rules, hash_password
from chalicelib.services.plan_renewal import resume_op, schedule_op
from chalicelib.services.ports import now, ports
from chalicelib.services.sessions import issue_token
from chalicelib.store import accounts, agencies, email_claims, invitations, users
from chalicelib.store.accounts import Agency, User
from chalicelib.store.identity import Invitation
from chalicelib.store.payments import get_plan_renewal
from chalicelib.store.transact import Op, commit

INVITATION_VALIDITY = timedelta(days=7)
MAX_SUBACCOUNT_IDS = 100
MAX_TOKEN_LENGTH = 200

#: ``owner_type`` values of an email claim that an invitation may hold.
INVITATION_CLAIM = "invitation"
SUBACCOUNT_LOGIN_CLAIM = "subaccount_login"


def hash_token(token: str) -> str:
    """SHA-256 hex of an invitation token: the only form in which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_not_found() -> NotFound:
    """Unknown, revoked, resent-over or used token: one answer, no hint which."""
    return NotFound("this invitation does not exist or was already used",
                    code="invitation_not_found")


def _user_not_found() -> NotFound:
    return NotFound("user not found", code="user_not_found")


def _owner_protected() -> Forbidden:
    return Forbidden("the agency owner cannot be changed or removed here; "
                     "transfer ownership first", code="owner_protected")


def _concurrent() -> Conflict:
    return Conflict("a concurrent change won; reload and try again", code="concurrent_update")


# --------------------------------------------------------------------------- access lists


def _check_subaccount_ids(agency_id: str, subaccount_ids: list[str]) -> None:
    """Every id must be a live secondary sub-account of the agency (one BatchGetItem)."""
    malformed = [sid for sid in subaccount_ids if not sid or len(sid) > 64]
    if malformed:
        raise ValidationFailed("unknown sub-account ids",
                               details={"field": "subaccount_ids", "unknown": malformed})
    found = accounts.subaccounts_by_id(agency_id, subaccount_ids)
    unknown = []
    for sid in subaccount_ids:
        sub = found.get(sid)
        if sub is None or sub.status == "removed" or sub.is_primary:
            unknown.append(sid)
    if unknown:
        raise ValidationFailed("unknown sub-account ids (the primary cannot be granted)",
                               details={"field": "subaccount_ids", "unknown": unknown})


def resolve_access(agency_id: str, role: Role, subaccount_access: str | None,
                   subaccount_ids: list[str] | None) -> tuple[bool, list[str]]:
    """``(access_all, subaccount_ids)`` for a role, validated (422 on anything odd).

    Owner and Agency Admin see everything, so their access is stored as ``all`` whatever was
    sent. Other roles must say ``all`` or ``specific``; ``specific`` needs at least one id of
    a live secondary sub-account of the agency.
    """
    if role in (Role.AGENCY_OWNER, Role.AGENCY_ADMIN):
        return True, []
    if subaccount_access not in ("all", "specific"):
        raise ValidationFailed("subaccount_access must be 'all' or 'specific' for this role",
                               details={"field": "subaccount_access"})
    ids = list(dict.fromkeys(subaccount_ids or []))  # de-duplicated, order kept
    if subaccount_access == "all":
        if ids:
            raise ValidationFailed("subaccount_ids are only given with specific access",
                                   details={"field": "subaccount_ids"})
        return True, []
    if not ids:
        raise ValidationFailed("specific access needs at least one sub-account id",
                               details={"field": "subaccount_ids"})
    if len(ids) > MAX_SUBACCOUNT_IDS:
        raise ValidationFailed(f"at most {MAX_SUBACCOUNT_IDS} sub-account ids",
                               details={"field": "subaccount_ids"})
    _check_subaccount_ids(agency_id, ids)
    return False, ids


def _invitable_role(role: str) -> Role:
    """The role if it may be given by invitation or the users tab (never the owner), else 422."""
    if role not in {r.value for r in INVITABLE_ROLES}:
        raise ValidationFailed(
            "role must be one of " + ", ".join(sorted(r.value for r in INVITABLE_ROLES)),
            details={"field": "role"},
        )
    return Role(role)


# --------------------------------------------------------------------------- invitations


def create_invitation_ops(agency_id: str, inviter_user_id: str, email: str, role: str,
                          access_all: bool, subaccount_ids: list[str], *,
                          claim_owner_type: str = INVITATION_CLAIM
                          ) -> tuple[list[Op], Invitation, str]:
    """The writes of a new invitation, for the caller to ``commit`` (with its own ops).

    Returns ``(ops, invitation, token)``: ops claim ``email`` system-wide (owner_type
    ``claim_owner_type``, owner_id the invitation id; 409 ``email_taken`` if held), save
    the invitation and its hashed token (7 days), and audit ``invitation.created``. The
    caller is trusted to have authorized the inviter and validated ``subaccount_ids``; the
    role must be invitable. After the commit succeeds, call ``send_invitation_email``.
    """
    parsed_role = _invitable_role(role)
    if claim_owner_type not in (INVITATION_CLAIM, SUBACCOUNT_LOGIN_CLAIM):
        raise ValueError(f"unsupported claim owner type {claim_owner_type!r}")
    if parsed_role == Role.AGENCY_ADMIN:
        access_all, subaccount_ids = True, []
    email = email.strip().lower()
    moment = now()
    token = secrets.token_urlsafe(32)
    token_hash = hash_token(token)
    invitation_id = new_id("inv")
    valid_until = moment + INVITATION_VALIDITY
    invitation = invitations.new(
        agency_id=agency_id, invitation_id=invitation_id, email=email, role=parsed_role.value,
        access_all=access_all, subaccount_ids=[] if access_all else list(subaccount_ids),
        token_hash=token_hash, valid_until=valid_until, invited_by=inviter_user_id,
        claim_owner_type=claim_owner_type, created_at=moment,
    )
    ops = [
        claim_email_op(email, agency_id, claim_owner_type, invitation_id),
        *invitations.insert(invitation),
        audit_op(agency_id, inviter_user_id, "invitation.created", target=invitation_id,
                 after=_invitation_summary(invitation), at=moment),
    ]
    return ops, invitation, token


def _invitation_summary(invitation: Invitation) -> dict[str, Any]:
    return {
        "email": invitation.email,
        "role": invitation.role,
        "subaccount_access": "all" if invitation.access_all else "specific",
        "subaccount_ids": list(invitation.subaccount_ids or []),
    }


def accept_link(token: str) -> str:
    """The link a new user follows: ``{PUBLIC_BASE_URL}/accept-invite?token=<token>``."""
    return f"{ports().settings.public_base_url.rstrip('/')}/accept-invite?token={token}"


def send_invitation_email(invitation: Invitation, token: str) -> None:
    """Mail the invitation link (through the email port) to the invited address."""
    role_name = invitation.role.replace("_", " ").title()
    body = (
        f"You have been invited to join an agency as {role_name}.\n\n"
        f"Accept the invitation and choose your password here:\n{accept_link(token)}\n\n"
        f"This link is valid until {invitation.valid_until.strftime('%Y-%m-%d %H:%M UTC')}. "
        "If you did not expect this email, ignore it."
    )
    send_email(invitation.email, "You are invited to join your team", body)


def invite(principal: Principal, *, email: str, role: str, subaccount_access: str | None,
           subaccount_ids: list[str] | None) -> Invitation:
    """Invite someone into the caller's agency (owner/admin); the email carries the link."""
    authorize_agency(principal, Action.MANAGE_USERS)
    parsed_role = _invitable_role(role)
    access_all, ids = resolve_access(principal.agency_id, parsed_role, subaccount_access,
                                     subaccount_ids)
    ops, invitation, token = create_invitation_ops(
        principal.agency_id, principal.user_id, email, parsed_role.value, access_all, ids)
    commit(ops)
    send_invitation_email(invitation, token)
    return invitation


def list_invitations(principal: Principal, *, limit: int, cursor: str | None
                     ) -> tuple[list[Invitation], str | None]:
    """The pending tab (expired ones included, so they can be resent)."""
    authorize_agency(principal, Action.MANAGE_USERS)
    return invitations.pending_page(principal.agency_id, limit=limit, cursor=cursor)


def _pending_invitation(principal: Principal, invitation_id: str) -> Invitation:
    invitation = invitations.get(principal.agency_id, invitation_id)
    if invitation is None:
        raise invitation_not_found()
    if invitation.status != "pending":
        raise Conflict(f"this invitation is {invitation.status}", code="invitation_not_pending",
                       details={"status": invitation.status})
    return invitation


def resend_invitation(principal: Principal, invitation_id: str) -> Invitation:
    """New token, new 7 days, the old token dead; the email goes out again."""
    authorize_agency(principal, Action.MANAGE_USERS)
    invitation = _pending_invitation(principal, invitation_id)
    moment = now()
    token = secrets.token_urlsafe(32)
    new_hash = hash_token(token)
    valid_until = moment + INVITATION_VALIDITY
    commit([
        *invitations.renew_token(invitation, token_hash=new_hash, valid_until=valid_until,
                                 at=moment, error=_concurrent()),
        audit_op(principal.agency_id, principal.user_id, "invitation.resent",
                 target=invitation.invitation_id,
                 before={"expires_at": invitation.valid_until.isoformat()},
                 after={"expires_at": valid_until.isoformat()}, at=moment),
    ])
    renewed = invitations.with_token(invitation, token_hash=new_hash, valid_until=valid_until,
                                     at=moment)
    send_invitation_email(renewed, token)
    return renewed


def revoke_invitation(principal: Principal, invitation_id: str) -> None:
    """Cancel a pending invitation: its token dies and its email is free again.

    This holds for an invitation made for a sub-account's login email too: the claim it
    carried is released, so that address can be invited again later.
    """
    authorize_agency(principal, Action.MANAGE_USERS)
    invitation = _pending_invitation(principal, invitation_id)
    commit(_revocation_ops(principal, invitation, now()))


def accept_invitation(token: str, password: str) -> tuple[User, dict[str, Any]]:
    """Set the password, create the user and sign it in (the login answer).

    Unknown, revoked, resent-over or used tokens answer 404 ``invitation_not_found``; a token
    past its 7 days answers 410 ``invitation_expired``; a closed agency 410 ``agency_closed``.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise invitation_not_found()
    check_password_rules(password)
    token_hash = hash_token(token)
    token_item = invitations.token(token_hash)
    if token_item is None:
        raise invitation_not_found()
    invitation, agency = invitations.with_agency(token_item.agency_id, token_item.invitation_id)
    if invitation is None or invitation.status != "pending" or invitation.token_hash != token_hash:
        raise invitation_not_found()
    moment = now()
    if moment >= invitation.valid_until:
        raise Gone("this invitation has expired; ask for a new one", code="invitation_expired")
    closed = Gone("this agency is closed", code="agency_closed")
    if agency is None or agency.status != "active":
        raise closed
    user = users.new(
        agency_id=invitation.agency_id, user_id=new_id("usr"), email=invitation.email,
        role=invitation.role, access_all=bool(invitation.access_all),
        subaccount_ids=list(invitation.subaccount_ids or []),
        password_hash=hash_password(password), created_at=moment,
    )
    commit([
        users.insert(user),
        email_claims.hand_to_user(invitation.email, owner_type=invitation.claim_owner_type,
                                  owner_id=invitation.invitation_id, user_id=user.user_id,
                                  error=invitation_not_found()),
        *invitations.accept(invitation, user_id=user.user_id, at=moment,
                            error=invitation_not_found()),
        agencies.check_active(invitation.agency_id, closed),
        # A removed inviter's invitations are revoked; this holds even if that was cut short.
        users.check_active(invitation.agency_id, invitation.invited_by, invitation_not_found()),
        audit_op(invitation.agency_id, user.user_id, "invitation.accepted",
                 target=invitation.invitation_id, after=_invitation_summary(invitation),
                 at=moment),
    ])
    return user, issue_token(user)


# --------------------------------------------------------------------------- users tab


def _get_user(agency_id: str, user_id: str) -> User:
    """An active user of the agency, else 404 (removed users and other tenants alike)."""
    if not user_id or len(user_id) > 64:
        raise _user_not_found()
    user = users.get(agency_id, user_id)
    if user is None or user.status != "active":
        raise _user_not_found()
    return user


def list_users(principal: Principal, *, limit: int, cursor: str | None
               ) -> tuple[list[User], str | None]:
    """Active users of the caller's agency, one page (one Query on the agency partition)."""
    authorize_agency(principal, Action.MANAGE_USERS)
    return users.active_page(principal.agency_id, limit=limit, cursor=cursor)


def _access_view(role: str, access_all: bool, ids: list[str]) -> dict[str, Any]:
    return {"role": role, "subaccount_access": "all" if access_all else "specific",
            "subaccount_ids": list(ids)}


def change_user(principal: Principal, user_id: str, changes: dict[str, Any]) -> User:
    """Change a user's role and/or sub-account access (never the owner's; never to owner).

    ``changes`` holds only the fields the caller sent (``role``, ``subaccount_access``,
    ``subaccount_ids``); what is not sent is kept.
    """
    authorize_agency(principal, Action.MANAGE_USERS)
    if not changes:
        raise ValidationFailed("nothing to change")
    target = _get_user(principal.agency_id, user_id)
    if target.role == Role.AGENCY_OWNER:
        raise _owner_protected()
    role = _invitable_role(changes.get("role", target.role))
    access = changes.get("subaccount_access") or ("all" if target.access_all else "specific")
    if "subaccount_ids" in changes:
        ids = changes["subaccount_ids"]
    else:
        ids = [] if access == "all" else list(target.subaccount_ids or [])
    access_all, ids = resolve_access(principal.agency_id, role, access, ids)
    before = _access_view(target.role, bool(target.access_all), list(target.subaccount_ids or []))
    after = _access_view(role.value, access_all, ids)
    if before == after:
        return target
    commit([
        # A new role or reach ends the user's sessions (SPEC "Sessions"): it signs in again.
        users.change_access(target, role=role.value, access_all=access_all,
                            subaccount_ids=ids, error=_concurrent()),
        audit_op(principal.agency_id, principal.user_id, "user.access_changed",
                 target=target.user_id, before=before, after=after),
    ])
    return users.with_access(target, role=role.value, access_all=access_all,
                             subaccount_ids=ids)


def remove_user(principal: Principal, user_id: str) -> None:
    """Remove a user (never the owner): its tokens die at once, its email is free again and
    the invitations it sent that are still pending are revoked (SPEC "Invitations").

    The user goes first, in its own transaction; its invitations follow in chunks (one
    transaction each, sized for DynamoDB's 100 items). Should that be cut short, accepting
    such an invitation still fails: acceptance requires its inviter to be active.
    """
    authorize_agency(principal, Action.MANAGE_USERS)
    target = _get_user(principal.agency_id, user_id)
    if target.role == Role.AGENCY_OWNER:
        raise _owner_protected()
    _remove_user_item(principal, target)
    _revoke_invitations_sent_by(principal, target.user_id)


#: Pending invitations revoked per transaction (3 items each plus an audit event).
_REVOCATIONS_PER_COMMIT = 20


def _revocation_ops(principal: Principal, invitation: Invitation, moment: datetime
                    ) -> list[Op]:
    """The writes that revoke one pending invitation: status, token, email claim, audit."""
    return [
        *invitations.revoke(invitation, at=moment, error=_concurrent()),
        email_claims.release(invitation.email, owner_type=invitation.claim_owner_type,
                             owner_id=invitation.invitation_id, error=_concurrent()),
        audit_op(principal.agency_id, principal.user_id, "invitation.revoked",
                 target=invitation.invitation_id, before=_invitation_summary(invitation),
                 at=moment),
    ]


def _revoke_invitations_sent_by(principal: Principal, user_id: str) -> None:
    pending = invitations.pending_sent_by(principal.agency_id, user_id)
    moment = now()
    for start in range(0, len(pending), _REVOCATIONS_PER_COMMIT):
        chunk = pending[start:start + _REVOCATIONS_PER_COMMIT]
        try:
            commit([op for inv in chunk for op in _revocation_ops(principal, inv, moment)])
        except Conflict:
            # One of them was accepted, resent or revoked meanwhile: go one by one.
            for invitation in chunk:
                with contextlib.suppress(Conflict):
                    commit(_revocation_ops(principal, invitation, moment))


def _remove_user_item(principal: Principal, target: User) -> None:
    commit([
        users.remove(target, _concurrent()),
        email_claims.release(target.email, owner_type="user", owner_id=target.user_id,
                             error=_concurrent()),
        audit_op(principal.agency_id, principal.user_id, "user.removed", target=target.user_id,
                 before={"email": target.email, **_access_view(
                     target.role, bool(target.access_all), list(target.subaccount_ids or []))}),
    ])


# --------------------------------------------------------------------------- agency


@dataclass(frozen=True)
class AgencyView:
    """An agency with the count of secondary sub-accounts that use plan slots."""

    agency: Agency
    slots_used: int


def _agency_view(agency_id: str) -> AgencyView:
    agency, slots_used = agencies.with_slots_used(agency_id)
    if agency is None:
        raise NotFound("agency not found")
    return AgencyView(agency, slots_used)


def get_agency(principal: Principal) -> AgencyView:
    """The caller's agency and its slot usage (one BatchGetItem)."""
    authorize_agency(principal, Action.VIEW_AGENCY)
    return _agency_view(principal.agency_id)


def _agency_settings(agency: Agency) -> dict[str, Any]:
    return {"name": agency.name, "plan": agency.plan, "timezone": agency.timezone,
            "low_balance_threshold_seconds": agency.low_balance_threshold_seconds}


def update_agency(principal: Principal, changes: dict[str, Any]) -> AgencyView:
    """Change name, plan, timezone or low-balance threshold (owner/admin).

    A plan whose cap is below the sub-accounts that exist → 409 ``plan_limit_reached``,
    checked against the slot counter inside the same transaction.
    """
    authorize_agency(principal, Action.MANAGE_AGENCY)
    if not changes:
        raise ValidationFailed("nothing to change")
    for field in ("name", "plan", "timezone"):
        if field in changes and changes[field] is None:
            raise ValidationFailed(f"{field} cannot be null", details={"field": field})
    view = _agency_view(principal.agency_id)
    agency = view.agency
    ops: list[Op] = []
    plan_code: str | None = None
    if "plan" in changes:
        plan = PLANS.get(changes["plan"])
        if plan is None:
            raise ValidationFailed(f"unknown plan {changes['plan']!r}",
                                   details={"field": "plan", "plans": sorted(PLANS)})
        plan_code = plan.code
        if plan.subaccount_cap is not None:
            limit_reached = Conflict(
                f"plan {plan.code} allows {plan.subaccount_cap} sub-accounts; remove some first",
                code="plan_limit_reached",
                details={"subaccount_cap": plan.subaccount_cap, "slots_used": view.slots_used})
            if view.slots_used > plan.subaccount_cap:
                raise limit_reached
            ops.append(agencies.slots_within(agency.agency_id, plan.subaccount_cap,
                                             limit_reached))
        renewal = _plan_renewal_op(agency, plan.code)
        if renewal is not None:
            ops.append(renewal)
    if "timezone" in changes:
        require_known_timezone(changes["timezone"])
    before = _agency_settings(agency)
    after = dict(before)
    threshold_changed = "low_balance_threshold_minutes" in changes
    seconds: int | None = None
    if threshold_changed:
        raw = changes["low_balance_threshold_minutes"]
        seconds = None if raw is None else parse_minutes(raw, "low_balance_threshold_minutes")
        after["low_balance_threshold_seconds"] = seconds
    after.update({k: changes[k] for k in ("name", "plan", "timezone") if k in changes})
    ops.insert(0, agencies.change_settings(agency, agencies.SettingsChange(
        name=changes.get("name"), plan=plan_code, timezone=changes.get("timezone"),
        threshold_changed=threshold_changed, threshold_seconds=seconds)))
    ops.append(audit_op(principal.agency_id, principal.user_id, "agency.updated",
                        target=agency.agency_id, before=before, after=after))
    commit(ops)
    return _agency_view(principal.agency_id)


def _plan_renewal_op(agency: Agency, plan_code: str) -> Op | None:
    """Schedule the plan-included minutes when the agency moves to a plan that has them.

    Moving away needs nothing: the renewal sweep stops a schedule whose plan includes no
    minutes any more. Moving back resumes a stopped schedule (a running one is left as is).
    """
    if not PLANS[plan_code].included_premium_minutes:
        return None
    existing = get_plan_renewal(agency.agency_id)
    if existing is not None:
        return None if existing.is_scheduled else resume_op(existing, now().date())
    return schedule_op(agencies.with_plan(agency, plan_code), now().date())


@dataclass(frozen=True)
class OwnershipTransfer:
    """The agency after a transfer, and both users as they now are."""

    agency: AgencyView
    previous_owner: User
    new_owner: User


def transfer_ownership(principal: Principal, user_id: str) -> OwnershipTransfer:
    """Make an Agency Admin or Member the owner; the old owner becomes Agency Admin.

    One transaction: the agency's ``owner_user_id`` moves only if the caller still owns it,
    and both role changes are conditioned on the roles read, so nothing can interleave.
    """
    authorize_agency(principal, Action.TRANSFER_OWNERSHIP)
    if user_id == principal.user_id:
        raise ValidationFailed("you already own this agency", details={"field": "user_id"})
    target = _get_user(principal.agency_id, user_id)
    if target.role not in (Role.AGENCY_ADMIN, Role.AGENCY_MEMBER):
        raise ValidationFailed("ownership goes to an Agency Admin or Agency Member",
                               code="ineligible_user", details={"field": "user_id"})
    owner = _get_user(principal.agency_id, principal.user_id)
    agency = _agency_view(principal.agency_id).agency
    moment = now()
    commit([
        agencies.transfer_owner(agency, from_user_id=principal.user_id,
                                to_user_id=target.user_id, error=_concurrent()),
        # Both users' sessions end (SPEC "Sessions"): each signs in again with its new role.
        users.hand_role(owner, role=Role.AGENCY_ADMIN.value, from_role=Role.AGENCY_OWNER.value,
                        error=_concurrent()),
        users.hand_role(target, role=Role.AGENCY_OWNER.value, from_role=target.role,
                        error=_concurrent()),
        audit_op(principal.agency_id, principal.user_id, "agency.ownership_transferred",
                 target=target.user_id, before={"owner_user_id": principal.user_id},
                 after={"owner_user_id": target.user_id}, at=moment),
    ])
    return OwnershipTransfer(
        _agency_view(principal.agency_id),
        users.with_access(owner, role=Role.AGENCY_ADMIN.value, access_all=True,
                          subaccount_ids=[]),
        users.with_access(target, role=Role.AGENCY_OWNER.value, access_all=True,
                          subaccount_ids=[]))


def close_agency(principal: Principal) -> None:
    """The owner closes the agency: every login and token of it is refused from now on."""
    authorize_agency(principal, Action.DELETE_AGENCY)
    agency = _agency_view(principal.agency_id).agency
    moment = now()
    commit([
        agencies.close(agency, by_user_id=principal.user_id, at=moment, error=_concurrent()),
        audit_op(principal.agency_id, principal.user_id, "agency.closed",
                 target=principal.agency_id, before={"status": "active"},
                 after={"status": "closed"}, at=moment),
    ])

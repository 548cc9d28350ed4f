"""Who may do what: the one permission module (SPEC's role matrix).

``authorize`` answers for every route. The order of its checks is the tenancy rule:
first "can this user see the sub-account at all" (no → NotFound, indistinguishable from
absence), then "may it do this action" (no → Forbidden).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from chalicelib.domain.errors import Forbidden, NotFound
from chalicelib.domain.timezones import DEFAULT_TIMEZONE


class Role(StrEnum):
    """The five roles, by their API identifiers."""

    AGENCY_OWNER = "agency_owner"
    AGENCY_ADMIN = "agency_admin"
    AGENCY_MEMBER = "agency_member"
    SUBACCOUNT_ADMIN = "subaccount_admin"
    SUBACCOUNT_MEMBER = "subaccount_member"


INVITABLE_ROLES = frozenset(
    {Role.AGENCY_ADMIN, Role.AGENCY_MEMBER, Role.SUBACCOUNT_ADMIN, Role.SUBACCOUNT_MEMBER}
)
AGENCY_MANAGERS = frozenset({Role.AGENCY_OWNER, Role.AGENCY_ADMIN})
AGENCY_ROLES = frozenset({Role.AGENCY_OWNER, Role.AGENCY_ADMIN, Role.AGENCY_MEMBER})
SUBACCOUNT_ROLES = frozenset({Role.SUBACCOUNT_ADMIN, Role.SUBACCOUNT_MEMBER})


class Action(StrEnum):
    """Every protected action a route performs."""

    VIEW_AGENCY = "agency.view"
    VIEW_OVERVIEW = "agency.view_overview"
    MANAGE_AGENCY = "agency.manage"  # settings, plan, Connect, payouts, profit
    TRANSFER_OWNERSHIP = "agency.transfer_ownership"
    DELETE_AGENCY = "agency.delete"
    MANAGE_USERS = "users.manage"
    READ_AUDIT_LOG = "audit.read"
    CREATE_SUBACCOUNT = "subaccounts.create"
    VIEW_SUBACCOUNT = "subaccount.view"
    MANAGE_SUBACCOUNT = "subaccount.manage"  # patch, prices, suspend, restore, remove
    MOVE_MINUTES = "subaccount.move_minutes"
    MANAGE_AUTO_ALLOCATION = "subaccount.auto_allocation"
    READ_RESOURCES = "subaccount.resources.read"
    WRITE_RESOURCES = "subaccount.resources.write"
    PAYMENTS = "subaccount.payments"
    READ_PAYMENTS = "subaccount.payments.read"  # same people; still allowed while suspended
    READ_REPORTS = "subaccount.reports"


@dataclass(frozen=True)
class Principal:
    """An authenticated user as the permission rules see it."""

    user_id: str
    agency_id: str
    role: Role
    email: str = ""
    access_all: bool = True
    subaccount_ids: frozenset[str] = field(default_factory=frozenset)
    #: The agency's timezone (read with the user on every request): report dates and the
    #: day a money event is counted on.
    timezone: str = DEFAULT_TIMEZONE

    @property
    def is_manager(self) -> bool:
        """Owner or Agency Admin: sees and manages everything of the agency."""
        return self.role in AGENCY_MANAGERS


@dataclass(frozen=True)
class SubaccountRef:
    """What the rules need to know of a sub-account."""

    subaccount_id: str
    agency_id: str
    is_primary: bool
    suspended: bool = False


def can_see(principal: Principal, sub: SubaccountRef) -> bool:
    """Whether the sub-account exists for this user at all (tenancy and access)."""
    if sub.agency_id != principal.agency_id:
        return False
    if principal.is_manager:
        return True
    if principal.role == Role.AGENCY_MEMBER and sub.is_primary:
        return True
    if sub.is_primary:
        return False  # sub-account roles never use the primary account
    return principal.access_all or sub.subaccount_id in principal.subaccount_ids


_AGENCY_ACTIONS: dict[Action, frozenset[Role]] = {
    # Agency settings are not for the agency's clients (they get the name through /v1/me).
    Action.VIEW_AGENCY: AGENCY_ROLES,
    Action.VIEW_OVERVIEW: AGENCY_ROLES,
    Action.MANAGE_AGENCY: AGENCY_MANAGERS,
    Action.TRANSFER_OWNERSHIP: frozenset({Role.AGENCY_OWNER}),
    Action.DELETE_AGENCY: frozenset({Role.AGENCY_OWNER}),
    Action.MANAGE_USERS: AGENCY_MANAGERS,
    Action.READ_AUDIT_LOG: AGENCY_MANAGERS,
    Action.CREATE_SUBACCOUNT: AGENCY_MANAGERS,
}

_SUBACCOUNT_ACTIONS: dict[Action, frozenset[Role]] = {
    Action.VIEW_SUBACCOUNT: AGENCY_ROLES | SUBACCOUNT_ROLES,
    Action.MANAGE_SUBACCOUNT: AGENCY_MANAGERS,
    Action.MOVE_MINUTES: AGENCY_ROLES,
    Action.MANAGE_AUTO_ALLOCATION: AGENCY_MANAGERS,
    Action.READ_RESOURCES: AGENCY_ROLES | SUBACCOUNT_ROLES,
    Action.WRITE_RESOURCES: AGENCY_ROLES | {Role.SUBACCOUNT_ADMIN},
    Action.PAYMENTS: AGENCY_ROLES | SUBACCOUNT_ROLES,
    Action.READ_PAYMENTS: AGENCY_ROLES | SUBACCOUNT_ROLES,
    Action.READ_REPORTS: AGENCY_ROLES | SUBACCOUNT_ROLES,
}

#: Actions that write on behalf of a sub-account user and are refused while suspended.
SUSPENDABLE_WRITES = frozenset({Action.WRITE_RESOURCES, Action.PAYMENTS, Action.MOVE_MINUTES})


def authorize_agency(principal: Principal, action: Action) -> None:
    """Raise Forbidden unless the role may perform an agency-level action."""
    if principal.role not in _AGENCY_ACTIONS[action]:
        raise Forbidden(f"role {principal.role} may not perform {action}")


def authorize(principal: Principal, action: Action, sub: SubaccountRef) -> None:
    """Raise NotFound when the sub-account is out of reach, Forbidden when the act is not allowed.

    Suspension is checked by the caller (it needs the note for the 423 body), see
    ``refuses_while_suspended``.
    """
    if not can_see(principal, sub):
        raise NotFound("subaccount not found")
    if principal.role not in _SUBACCOUNT_ACTIONS[action]:
        raise Forbidden(f"role {principal.role} may not perform {action}")


def refuses_while_suspended(principal: Principal, action: Action) -> bool:
    """Sub-account users may not write to a suspended sub-account (agency staff still may)."""
    return principal.role in SUBACCOUNT_ROLES and action in SUSPENDABLE_WRITES


def may_assign_role(principal: Principal, role: Role) -> bool:
    """Owner and Admin assign the four invitable roles; nobody assigns Owner this way."""
    return principal.is_manager and role in INVITABLE_ROLES

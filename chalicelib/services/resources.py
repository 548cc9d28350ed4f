"""Campaigns, agents, automations and phone numbers of a sub-account.

Every resource write also bumps the sub-account's ``resource_generation`` in the same
transaction, conditioned on the sub-account's status. That one counter is what lets suspend,
restore and removal act on *exactly* the resources they read: their own transaction requires
the generation to be unchanged, so a resource created or switched concurrently makes them
retry instead of being silently missed. The same condition refuses a sub-account user's write
that races with a suspension (423) and any write that races with a removal (404).
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.domain.resources import (
    BY_TYPE,
    RELEASED,
    RESOURCE_TYPES,
    ResourceType,
    normalize_e164,
    phone_number_id,
    resource_type,
)
from chalicelib.domain.roles import Action, Principal, refuses_while_suspended
from chalicelib.services.access import load_subaccount
from chalicelib.services.agencies import new_id
from chalicelib.services.ports import now
from chalicelib.store import resources, subaccounts
from chalicelib.store.resources import Resource
from chalicelib.store.subaccounts import Subaccount
from chalicelib.store.transact import Op, commit

__all__ = [
    "BY_TYPE", "RELEASED", "RESOURCE_TYPES", "Resource", "ResourcePage", "ResourceType",
    "create_resource",
    "delete_resource", "list_resources", "resource_type", "set_resource_status",
]


@dataclass(frozen=True)
class ResourcePage:
    """One page of a sub-account's resources of one kind."""

    kind: ResourceType
    items: list[Resource]
    next_cursor: str | None


def _resource_write_op(principal: Principal, sub: Subaccount) -> Op:
    """The sub-account side of a resource write: bump the generation, guard the status
    (423 for the sub-account's own users once it is suspended, 404 once removed)."""
    return subaccounts.resource_write_op(
        sub, refused_while_suspended=refuses_while_suspended(principal, Action.WRITE_RESOURCES))


def list_resources(principal: Principal, subaccount_id: str, route: str, *, limit: int,
                   cursor: str | None) -> ResourcePage:
    """One page of a sub-account's resources of one type."""
    kind = resource_type(route)
    sub = load_subaccount(principal, subaccount_id, Action.READ_RESOURCES)
    items, next_cursor = resources.page_of(sub.agency_id, sub.subaccount_id, kind.type,
                                           limit=limit, cursor=cursor)
    return ResourcePage(kind, items, next_cursor)


def create_resource(principal: Principal, subaccount_id: str, route: str, *,
                    name: str | None = None, number: str | None = None) -> Resource:
    """Create a resource in its default status.

    Phone numbers get an id derived from the number, so one sub-account cannot hold the same
    number twice (409 ``phone_number_exists``), and a claim in the agency, so two cannot
    either (409 ``phone_number_in_use``).
    """
    kind = resource_type(route)
    sub = load_subaccount(principal, subaccount_id, Action.WRITE_RESOURCES)
    if kind.type == "phone_number":
        if number is None:
            raise ValidationFailed("number is required", details={"field": "number"})
        number = normalize_e164(number)
        resource_id, name = phone_number_id(number), None
    else:
        if not name:
            raise ValidationFailed("name is required", details={"field": "name"})
        resource_id, number = new_id(kind.id_prefix), None
    item = resources.new(agency_id=sub.agency_id, subaccount_id=sub.subaccount_id,
                         resource_type=kind.type, resource_id=resource_id, name=name,
                         number=number, status=kind.default_status, at=now())
    ops = [_resource_write_op(principal, sub), resources.add_op(item)]
    if number is None:
        commit(ops)
        return item
    try:
        commit([*ops, resources.claim_number_op(sub.agency_id, sub.subaccount_id, number)])
    except Conflict as taken:
        if taken.code != "phone_number_in_use":
            raise
        holder = _stale_claim_holder(sub.agency_id, number)
        if holder is None:
            raise
        # The holder no longer has the number (a removal cut short between its chunks):
        # take the claim over, on condition it is still that holder's.
        commit([*ops, resources.claim_number_op(sub.agency_id, sub.subaccount_id, number,
                                                taking_over_from=holder)])
    return item


def _stale_claim_holder(agency_id: str, number: str) -> str | None:
    """The sub-account of a claim whose number it no longer holds (deleted or released),
    or None when the claim is live (or gone meanwhile: the caller's retry decides)."""
    holder = resources.number_holder(agency_id, number)
    if holder is None:
        return None
    held = resources.get_resource(agency_id, holder, "phone_number", phone_number_id(number))
    return holder if held is None or held.status == RELEASED else None


def _existing(sub: Subaccount, kind: ResourceType, resource_id: str) -> Resource:
    if not resource_id or len(resource_id) > 64:
        raise NotFound("resource not found")
    item = resources.get_resource(sub.agency_id, sub.subaccount_id, kind.type, resource_id)
    if item is None:
        raise NotFound("resource not found")
    return item


def set_resource_status(principal: Principal, subaccount_id: str, route: str,
                        resource_id: str, status: str) -> Resource:
    """Change a resource's status (must be one of its type's statuses, else 422).

    Agency staff may do this on a suspended sub-account too (including re-activating what the
    suspension paused; restore then leaves it as it is).
    """
    kind = resource_type(route)
    if status not in kind.statuses:
        raise ValidationFailed(
            f"status must be one of {', '.join(kind.statuses)}",
            code="invalid_status", details={"field": "status", "allowed": list(kind.statuses)})
    sub = load_subaccount(principal, subaccount_id, Action.WRITE_RESOURCES)
    item = _existing(sub, kind, resource_id)
    change, changed = resources.set_status_op(item, status, at=now())
    commit([_resource_write_op(principal, sub), change])
    return changed


def delete_resource(principal: Principal, subaccount_id: str, route: str,
                    resource_id: str) -> None:
    """Delete a resource (a phone number is released)."""
    kind = resource_type(route)
    sub = load_subaccount(principal, subaccount_id, Action.WRITE_RESOURCES)
    item = _existing(sub, kind, resource_id)
    commit([
        _resource_write_op(principal, sub),
        resources.delete_op(item),
        *([resources.release_number_op(sub.agency_id, sub.subaccount_id, item.number)]
          if item.type == "phone_number" and item.number else []),
    ])

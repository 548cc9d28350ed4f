"""Campaigns, agents, automations and phone numbers of a sub-account.

Every resource write also bumps the sub-account's ``resource_generation`` in the same
transaction, conditioned on the sub-account's status. That one counter is what lets suspend,
restore and removal act on *exactly* the resources they read: their own transaction requires
the generation to be unchanged, so a resource created or switched concurrently makes them
retry instead of being silently missed. The same condition refuses a sub-account user's write
that races with a suspension (423) and any write that races with a removal (404).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import (
    Conflict,
    DomainError,
    NotFound,
    SubaccountSuspended,
    ValidationFailed,
)
from chalicelib.domain.roles import Action, Principal, refuses_while_suspended
from chalicelib.services.access import load_subaccount
from chalicelib.services.agencies import new_id
from chalicelib.store import keys
from chalicelib.store.accounts import Subaccount
from chalicelib.store.base import utcnow
from chalicelib.store.pagination import decode_cursor, encode_cursor
from chalicelib.store.resources import (
    PhoneNumberClaim,
    Resource,
    get_resource,
    list_resources_page,
    phone_claim_key,
    resource_key,
)
from chalicelib.store.transact import Op, commit, delete, save, update


@dataclass(frozen=True)
class ResourceType:
    """One kind of resource: its route segment, stored type, statuses and suspension pair.

    ``running`` is the status a suspension pauses and ``stopped`` the status it sets; phone
    numbers have neither (they keep working for history; removal releases them).
    """

    route: str
    type: str
    id_prefix: str
    statuses: tuple[str, ...]
    default_status: str
    running: str | None = None
    stopped: str | None = None


RESOURCE_TYPES: dict[str, ResourceType] = {
    t.route: t
    for t in (
        ResourceType("campaigns", "campaign", "cmp", ("active", "paused"), "active",
                     "active", "paused"),
        ResourceType("agents", "agent", "agt", ("active", "inactive"), "active",
                     "active", "inactive"),
        ResourceType("automations", "automation", "aut", ("enabled", "disabled"), "enabled",
                     "enabled", "disabled"),
        ResourceType("phone-numbers", "phone_number", "pn", ("active",), "active"),
    )
}
BY_TYPE: dict[str, ResourceType] = {t.type: t for t in RESOURCE_TYPES.values()}

#: Status a phone number gets when its sub-account is removed (the number is given back).
RELEASED = "released"

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def resource_type(route: str) -> ResourceType:
    """The resource type of a route segment (``campaigns`` …)."""
    try:
        return RESOURCE_TYPES[route]
    except KeyError:
        raise NotFound("no such resource type") from None


def normalize_e164(raw: str) -> str:
    """A phone number in strict E.164, validated with ``phonenumbers``; else 422."""
    import phonenumbers

    error = ValidationFailed(
        "number must be a valid phone number in E.164 format, e.g. +14155550123",
        code="invalid_phone_number", details={"field": "number"})
    text = raw.strip()
    if not _E164.match(text):
        raise error
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise error from None
    if not phonenumbers.is_valid_number(parsed):
        raise error
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def render_resource(item: Resource) -> dict[str, Any]:
    """API shape of a resource (phone numbers also carry ``number``)."""
    body: dict[str, Any] = {
        "id": item.resource_id,
        "name": item.name if item.name is not None else item.number,
        "status": item.status,
        "created_at": item.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if item.type == "phone_number":
        body["number"] = item.number
    return body


def subaccount_key(agency_id: str, subaccount_id: str) -> Subaccount:
    """An unsaved sub-account carrying only its key (for updates and checks)."""
    return Subaccount(keys.agency_pk(agency_id), keys.subaccount_sk(subaccount_id))


def generation_condition(sub: Subaccount) -> Any:
    """Condition: no resource of ``sub`` was written since ``sub`` was read."""
    generation = sub.resource_generation or 0
    if generation == 0:
        return Subaccount.resource_generation.does_not_exist() | (
            Subaccount.resource_generation == 0)
    return Subaccount.resource_generation == generation


def bump_generation_op(principal: Principal, sub: Subaccount) -> Op:
    """The sub-account side of a resource write: bump the generation, guard the status."""
    condition: Any
    if refuses_while_suspended(principal, Action.WRITE_RESOURCES):
        condition = Subaccount.status == "active"
        error: DomainError = SubaccountSuspended("this sub-account is suspended")
    else:
        condition = Subaccount.status.is_in("active", "suspended")
        error = NotFound("subaccount not found")
    return update(subaccount_key(sub.agency_id, sub.subaccount_id),
                  actions=[Subaccount.resource_generation.add(1)],
                  condition=condition, error=error)


def list_resources(principal: Principal, subaccount_id: str, route: str, *, limit: int,
                   cursor: str | None) -> dict[str, Any]:
    """One page of a sub-account's resources of one type."""
    kind = resource_type(route)
    sub = load_subaccount(principal, subaccount_id, Action.READ_RESOURCES)
    pk = keys.resource_pk(sub.agency_id, sub.subaccount_id)
    items, last_key = list_resources_page(sub.agency_id, sub.subaccount_id, kind.type,
                                          limit=limit, cursor=decode_cursor(cursor, pk))
    return {route.replace("-", "_"): [render_resource(item) for item in items],
            "next_cursor": encode_cursor(last_key) if len(items) >= limit else None}


def create_resource(principal: Principal, subaccount_id: str, route: str, *,
                    name: str | None = None, number: str | None = None) -> dict[str, Any]:
    """Create a resource in its default status.

    Phone numbers get an id derived from the number, so one sub-account cannot hold the same
    number twice (409 ``phone_number_exists``).
    """
    kind = resource_type(route)
    sub = load_subaccount(principal, subaccount_id, Action.WRITE_RESOURCES)
    if kind.type == "phone_number":
        if number is None:
            raise ValidationFailed("number is required", details={"field": "number"})
        number = normalize_e164(number)
        resource_id, name = f"pn_{number[1:]}", None
    else:
        if not name:
            raise ValidationFailed("name is required", details={"field": "name"})
        resource_id, number = new_id(kind.id_prefix), None
    item = Resource(
        keys.resource_pk(sub.agency_id, sub.subaccount_id),
        keys.resource_sk(kind.type, resource_id),
        agency_id=sub.agency_id, subaccount_id=sub.subaccount_id, resource_id=resource_id,
        type=kind.type, name=name, number=number, status=kind.default_status,
        created_at=utcnow(),
    )
    ops = [
        bump_generation_op(principal, sub),
        save(item, condition=Resource.PK.does_not_exist(),
             error=Conflict("this phone number is already on the sub-account",
                            code="phone_number_exists")),
    ]
    if number is None:
        commit(ops)
        return render_resource(item)
    try:
        commit([*ops, _claim_op(sub, number, PhoneNumberClaim.PK.does_not_exist())])
    except Conflict as taken:
        if taken.code != "phone_number_in_use":
            raise
        holder = _stale_claim_holder(sub.agency_id, number)
        if holder is None:
            raise
        # The holder no longer has the number (a removal cut short between its chunks):
        # take the claim over, on condition it is still that holder's.
        commit([*ops, _claim_op(sub, number, PhoneNumberClaim.subaccount_id == holder)])
    return render_resource(item)


def _claim_op(sub: Subaccount, number: str, condition: Any) -> Op:
    # One sub-account per number in the agency (which one is not said: the caller may not
    # have access to it).
    return save(PhoneNumberClaim(
        keys.agency_pk(sub.agency_id), keys.phone_claim_sk(number),
        agency_id=sub.agency_id, subaccount_id=sub.subaccount_id, number=number),
        condition=condition,
        error=Conflict("this phone number is already in use by another sub-account",
                       code="phone_number_in_use"))


def _stale_claim_holder(agency_id: str, number: str) -> str | None:
    """The sub-account of a claim whose number it no longer holds (deleted or released),
    or None when the claim is live (or gone meanwhile: the caller's retry decides)."""
    try:
        claim = PhoneNumberClaim.get(keys.agency_pk(agency_id), keys.phone_claim_sk(number),
                                     consistent_read=True)
    except PhoneNumberClaim.DoesNotExist:
        return None
    held = get_resource(agency_id, claim.subaccount_id, "phone_number", f"pn_{number[1:]}")
    return claim.subaccount_id if held is None or held.status == RELEASED else None


def release_claim_op(agency_id: str, subaccount_id: str, number: str) -> Op:
    """Give a number back to the agency: delete its claim if this sub-account holds it
    (numbers added before claims existed have none, which is fine too)."""
    return delete(phone_claim_key(agency_id, number),
                  condition=(PhoneNumberClaim.subaccount_id == subaccount_id)
                  | PhoneNumberClaim.PK.does_not_exist(),
                  error=Conflict("the number is held by another sub-account",
                                 code="concurrent_update"))


def _existing(sub: Subaccount, kind: ResourceType, resource_id: str) -> Resource:
    if not resource_id or len(resource_id) > 64:
        raise NotFound("resource not found")
    item = get_resource(sub.agency_id, sub.subaccount_id, kind.type, resource_id)
    if item is None:
        raise NotFound("resource not found")
    return item


def set_resource_status(principal: Principal, subaccount_id: str, route: str,
                        resource_id: str, status: str) -> dict[str, Any]:
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
    now = utcnow()
    commit([
        bump_generation_op(principal, sub),
        update(resource_key(sub.agency_id, sub.subaccount_id, kind.type, resource_id),
               # A person's choice replaces a suspension's: restore leaves it as set here.
               actions=[Resource.status.set(status), Resource.updated_at.set(now),
                        Resource.suspension_mark.remove()],
               condition=Resource.PK.exists(), error=NotFound("resource not found")),
    ])
    item.status = status
    return render_resource(item)


def delete_resource(principal: Principal, subaccount_id: str, route: str,
                    resource_id: str) -> None:
    """Delete a resource (a phone number is released)."""
    kind = resource_type(route)
    sub = load_subaccount(principal, subaccount_id, Action.WRITE_RESOURCES)
    item = _existing(sub, kind, resource_id)
    commit([
        bump_generation_op(principal, sub),
        delete(resource_key(sub.agency_id, sub.subaccount_id, kind.type, resource_id),
               condition=Resource.PK.exists(), error=NotFound("resource not found")),
        *([release_claim_op(sub.agency_id, sub.subaccount_id, item.number)]
          if item.type == "phone_number" and item.number else []),
    ])


def status_op(item: Resource, new_status: str, *, expected: str | None = None) -> Op:
    """Set a resource's status, conditioned on its current status (or on existing)."""
    condition = (Resource.status == expected) if expected else Resource.PK.exists()
    return update(
        resource_key(item.agency_id, item.subaccount_id, item.type, item.resource_id),
        actions=[Resource.status.set(new_status), Resource.updated_at.set(utcnow())],
        condition=condition,
        error=Conflict("a resource changed meanwhile; try again", code="concurrent_update"),
    )

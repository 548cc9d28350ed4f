"""Sub-account resources: campaigns, agents, automations and phone numbers.

They are minimal on purpose (SPEC): enough for suspension and removal to be real. All the
resources of one sub-account share a partition, so suspend / restore / removal read them with
one Query (paged).

What a suspension paused is marked on each resource (``suspension_mark``), never listed in
one item: a list of 10,000 resources would pass DynamoDB's 400 KB item limit.

A phone number is held by one sub-account of the agency at a time: a claim item in the
agency partition is written and deleted with the number.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.expressions.condition import Condition

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.store import keys
from chalicelib.store.base import TableItem, UTCDateTimeText
from chalicelib.store.pagination import decode_cursor, encode_cursor
from chalicelib.store.transact import Op, delete, save, update


class ResourceMoved(Conflict):
    """One resource of a suspension batch changed since it was read: the batch goes
    without it (each op carries its own instance, so the batch knows which one)."""

    code = "concurrent_update"

    def __init__(self) -> None:
        super().__init__("a resource changed meanwhile")


class Resource(TableItem, discriminator="Resource"):
    """PK: ``SUBRES#<aid>#<sid>`` / SK: ``<type>#<rid>``. One campaign, agent, automation or number.

    ``type`` is ``campaign``, ``agent``, ``automation`` or ``phone_number``; phone numbers carry
    ``number`` (E.164) instead of a name.
    """

    agency_id = UnicodeAttribute()
    subaccount_id = UnicodeAttribute()
    resource_id = UnicodeAttribute()
    type = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    number = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    created_at = UTCDateTimeText()
    # When a person last changed it (suspension batches leave it alone, so a suspension can
    # tell "switched on by staff after the flip" from "running when the flip happened").
    updated_at = UTCDateTimeText(null=True)
    # The suspension (its id) that paused it: restore re-activates marked resources still
    # in their paused status. Any write by a person removes the mark.
    suspension_mark = UnicodeAttribute(null=True)


class PhoneNumberClaim(TableItem, discriminator="PhoneNumberClaim"):
    """PK: ``AGENCY#<aid>`` / SK: ``PHONE#<e164>``. The one sub-account of the agency that
    holds a number: written with the number, deleted when it is deleted or released."""

    agency_id = UnicodeAttribute()
    subaccount_id = UnicodeAttribute()
    number = UnicodeAttribute()


def phone_claim_key(agency_id: str, number: str) -> PhoneNumberClaim:
    """An unsaved claim carrying only its key."""
    return PhoneNumberClaim(keys.agency_pk(agency_id), keys.phone_claim_sk(number))


def resource_key(agency_id: str, subaccount_id: str, resource_type: str,
                 resource_id: str) -> Resource:
    """An unsaved resource carrying only its key (for updates, deletes and checks)."""
    return Resource(keys.resource_pk(agency_id, subaccount_id),
                    keys.resource_sk(resource_type, resource_id))


def get_resource(agency_id: str, subaccount_id: str, resource_type: str,
                 resource_id: str) -> Resource | None:
    """One resource, or None: one GetItem."""
    try:
        return Resource.get(keys.resource_pk(agency_id, subaccount_id),
                            keys.resource_sk(resource_type, resource_id), consistent_read=True)
    except Resource.DoesNotExist:
        return None


def page_of(agency_id: str, subaccount_id: str, resource_type: str, *, limit: int,
            cursor: str | None) -> tuple[list[Resource], str | None]:
    """One page of a sub-account's resources of one type (id order), and the cursor of the
    next page (None when this page came back shorter than ``limit``): one strongly
    consistent Query. The cursor is signed for the sub-account's resource partition."""
    pk = keys.resource_pk(agency_id, subaccount_id)
    query = Resource.query(
        pk,
        Resource.SK.startswith(keys.resource_sk(resource_type, "")),
        limit=limit,
        last_evaluated_key=decode_cursor(cursor, pk),
        consistent_read=True,
    )
    items = list(query)
    return items, encode_cursor(query.last_evaluated_key) if len(items) >= limit else None


def number_holder(agency_id: str, number: str) -> str | None:
    """The sub-account whose claim holds ``number`` in the agency, or None (no claim): one
    consistent GetItem."""
    try:
        claim = PhoneNumberClaim.get(keys.agency_pk(agency_id), keys.phone_claim_sk(number),
                                     consistent_read=True)
    except PhoneNumberClaim.DoesNotExist:
        return None
    return claim.subaccount_id


def all_resources(agency_id: str, subaccount_id: str,
                  types: Iterable[str] | None = None) -> list[Resource]:
    """Every resource of a sub-account (one Query, paged by PynamoDB), optionally by type."""
    wanted = set(types) if types is not None else None
    return [
        item
        for item in Resource.query(keys.resource_pk(agency_id, subaccount_id),
                                   consistent_read=True)
        if wanted is None or item.type in wanted
    ]


def resources_in_status(agency_id: str, subaccount_id: str, statuses: Iterable[str]
                        ) -> list[Resource]:
    """The sub-account's resources in one of ``statuses`` (filtered by DynamoDB): one Query,
    paged."""
    return list(Resource.query(keys.resource_pk(agency_id, subaccount_id),
                               filter_condition=Resource.status.is_in(*statuses),
                               consistent_read=True))


def marked_resources(agency_id: str, subaccount_id: str) -> list[Resource]:
    """The sub-account's resources that carry a suspension mark: one Query, paged."""
    return list(Resource.query(keys.resource_pk(agency_id, subaccount_id),
                               filter_condition=Resource.suspension_mark.exists(),
                               consistent_read=True))


def _as_written(item: Resource, **changes: Any) -> Resource:
    """A copy of ``item`` with ``changes``: what a write made of it, without reading it."""
    copy = Resource.from_raw_data(item.serialize(null_check=False))
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy


def new(*, agency_id: str, subaccount_id: str, resource_type: str, resource_id: str,
        name: str | None, number: str | None, status: str, at: datetime) -> Resource:
    """A new resource of a sub-account (not saved)."""
    return Resource(
        keys.resource_pk(agency_id, subaccount_id), keys.resource_sk(resource_type, resource_id),
        agency_id=agency_id, subaccount_id=subaccount_id, resource_id=resource_id,
        type=resource_type, name=name, number=number, status=status, created_at=at,
    )


def add_op(item: Resource) -> Op:
    """Save a new resource; its id taken already (only a number's id can be: it derives
    from the number) is 409 ``phone_number_exists``."""
    return save(item, condition=Resource.PK.does_not_exist(),
                error=Conflict("this phone number is already on the sub-account",
                               code="phone_number_exists"))


def claim_number_op(agency_id: str, subaccount_id: str, number: str, *,
                    taking_over_from: str | None = None) -> Op:
    """Claim ``number`` for the sub-account: the claim must not exist, or (taking over a
    stale claim) must still be ``taking_over_from``'s. Else 409 ``phone_number_in_use``,
    which does not say which sub-account holds it (the caller may not have access to it)."""
    condition = (PhoneNumberClaim.PK.does_not_exist() if taking_over_from is None
                 else PhoneNumberClaim.subaccount_id == taking_over_from)
    return save(PhoneNumberClaim(
        keys.agency_pk(agency_id), keys.phone_claim_sk(number),
        agency_id=agency_id, subaccount_id=subaccount_id, number=number),
        condition=condition,
        error=Conflict("this phone number is already in use by another sub-account",
                       code="phone_number_in_use"))


def release_number_op(agency_id: str, subaccount_id: str, number: str) -> Op:
    """Give a number back to the agency: delete its claim if this sub-account holds it
    (numbers added before claims existed have none, which is fine too)."""
    return delete(phone_claim_key(agency_id, number),
                  condition=(PhoneNumberClaim.subaccount_id == subaccount_id)
                  | PhoneNumberClaim.PK.does_not_exist(),
                  error=Conflict("the number is held by another sub-account",
                                 code="concurrent_update"))


def set_status_op(item: Resource, status: str, *, at: datetime) -> tuple[Op, Resource]:
    """A person sets a resource's status: it replaces a suspension's choice (the mark goes,
    so restore leaves it as set). Gone meanwhile → 404. Returns the op and the resource as
    the op writes it."""
    op = update(resource_key(item.agency_id, item.subaccount_id, item.type, item.resource_id),
                actions=[Resource.status.set(status), Resource.updated_at.set(at),
                         Resource.suspension_mark.remove()],
                condition=Resource.PK.exists(), error=NotFound("resource not found"))
    return op, _as_written(item, status=status, updated_at=at, suspension_mark=None)


def delete_op(item: Resource) -> Op:
    """Delete a resource (gone meanwhile → 404)."""
    return delete(resource_key(item.agency_id, item.subaccount_id, item.type, item.resource_id),
                  condition=Resource.PK.exists(), error=NotFound("resource not found"))


def stop_op(item: Resource, status: str, *, at: datetime) -> Op:
    """Removal stops or releases a resource, on condition that its status is still the one
    read (409 ``concurrent_update`` otherwise)."""
    return update(
        resource_key(item.agency_id, item.subaccount_id, item.type, item.resource_id),
        actions=[Resource.status.set(status), Resource.updated_at.set(at)],
        condition=Resource.status == item.status,
        error=Conflict("a resource changed meanwhile; try again", code="concurrent_update"),
    )


def pause_op(item: Resource, stopped: str, mark: str, flipped_at: datetime) -> Op:
    """Pause a resource for a suspension and mark it, on condition that it still runs as it
    did at the suspension's flip: same status, existing then, untouched by people since
    (``ResourceMoved`` otherwise)."""
    return update(
        resource_key(item.agency_id, item.subaccount_id, item.type, item.resource_id),
        actions=[Resource.status.set(stopped), Resource.suspension_mark.set(mark)],
        condition=(Resource.status == item.status) & (Resource.created_at <= flipped_at)
        & (Resource.updated_at.does_not_exist() | (Resource.updated_at <= flipped_at)),
        error=ResourceMoved())


def reactivate_op(item: Resource, running: str) -> Op:
    """Re-activate a resource a suspension paused and remove its mark, on condition that it
    is still paused and marked as read (an unmarked one: paused by a suspension recorded
    before marks existed); ``ResourceMoved`` otherwise."""
    mark: Condition = (Resource.suspension_mark == item.suspension_mark) \
        if item.suspension_mark else Resource.suspension_mark.does_not_exist()
    return update(
        resource_key(item.agency_id, item.subaccount_id, item.type, item.resource_id),
        actions=[Resource.status.set(running), Resource.suspension_mark.remove()],
        condition=(Resource.status == item.status) & mark,
        error=ResourceMoved())

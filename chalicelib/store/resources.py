"""Sub-account resources: campaigns, agents, automations and phone numbers.

They are minimal on purpose (SPEC): enough for suspension and removal to be real. All the
resources of one sub-account share a partition, so suspend / restore / removal read them with
one Query (paged).

What a suspension paused is marked on each resource (``suspension_mark``), never listed in
one item: a list of 10,000 resources would pass DynamoDB's 400 KB item limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pynamodb.attributes import UnicodeAttribute

from chalicelib.domain.errors import DomainError
from chalicelib.store import keys
from chalicelib.store.base import TableItem, UTCDateTimeText
from chalicelib.store.transact import Op, update


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


def list_resources_page(agency_id: str, subaccount_id: str, resource_type: str, *, limit: int,
                        cursor: dict | None = None) -> tuple[list[Resource], dict | None]:
    """One page of a sub-account's resources of one type, oldest id order."""
    query = Resource.query(
        keys.resource_pk(agency_id, subaccount_id),
        Resource.SK.startswith(keys.resource_sk(resource_type, "")),
        limit=limit,
        last_evaluated_key=cursor,
        consistent_read=True,
    )
    items = list(query)
    return items, query.last_evaluated_key


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


def pause_op(item: Resource, stopped: str, mark: str, flipped_at: datetime,
             error: DomainError) -> Op:
    """Pause a resource for a suspension and mark it, on condition that it still runs as it
    did at the suspension's flip: same status, existing then, untouched by people since."""
    return update(
        resource_key(item.agency_id, item.subaccount_id, item.type, item.resource_id),
        actions=[Resource.status.set(stopped), Resource.suspension_mark.set(mark)],
        condition=(Resource.status == item.status) & (Resource.created_at <= flipped_at)
        & (Resource.updated_at.does_not_exist() | (Resource.updated_at <= flipped_at)),
        error=error)


def reactivate_op(item: Resource, running: str, error: DomainError) -> Op:
    """Re-activate a resource a suspension paused and remove its mark, on condition that it
    is still paused and marked as read (an unmarked one: paused by a suspension recorded
    before marks existed)."""
    mark = (Resource.suspension_mark == item.suspension_mark) if item.suspension_mark \
        else Resource.suspension_mark.does_not_exist()
    return update(
        resource_key(item.agency_id, item.subaccount_id, item.type, item.resource_id),
        actions=[Resource.status.set(running), Resource.suspension_mark.remove()],
        condition=(Resource.status == item.status) & mark,
        error=error)

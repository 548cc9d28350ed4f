"""Sub-account resources: campaigns, agents, automations and phone numbers.

They are minimal on purpose (SPEC): enough for suspension and removal to be real. All the
resources of one sub-account share a partition, so suspend / restore / removal read them with
one Query.
"""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.attributes import UnicodeAttribute

from chalicelib.store import keys
from chalicelib.store.base import TableItem, UTCDateTimeText


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
    updated_at = UTCDateTimeText(null=True)


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

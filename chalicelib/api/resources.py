"""Routes: campaigns, agents, automations and phone numbers of a sub-account.

The four types share one set of handlers, registered once per type with explicit paths
(a ``{type}`` path parameter would shadow sibling routes such as ``…/wallet``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.api.models import StrictBody
from chalicelib.domain.resources import RESOURCE_TYPES
from chalicelib.services.resources import (
    Resource,
    ResourcePage,
    create_resource,
    delete_resource,
    list_resources,
    set_resource_status,
)

bp = Blueprint(__name__)


class NamedResourceBody(StrictBody):
    """Create a campaign, agent or automation."""

    name: str = Field(min_length=1, max_length=120)


class PhoneNumberBody(StrictBody):
    """Create a phone number (E.164, e.g. ``+14155550123``)."""

    number: str = Field(min_length=1, max_length=32)


class StatusBody(StrictBody):
    """``PATCH …/{rid}``: the new status (one of the type's statuses)."""

    status: str = Field(min_length=1, max_length=32)


# --------------------------------------------------------------------------- answers


class ResourceOut(BaseModel):
    """A campaign, agent, automation or phone number (numbers also carry ``number``; their
    ``name`` is the number)."""

    id: str
    name: str | None
    status: str
    created_at: str
    number: str | None = None


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


def _list_key(segment: str) -> str:
    return segment.replace("-", "_")


class CampaignsPage(BaseModel):
    """One page of the sub-account's campaigns."""

    campaigns: list[ResourceOut]
    next_cursor: str | None


class AgentsPage(BaseModel):
    """One page of the sub-account's agents."""

    agents: list[ResourceOut]
    next_cursor: str | None


class AutomationsPage(BaseModel):
    """One page of the sub-account's automations."""

    automations: list[ResourceOut]
    next_cursor: str | None


class PhoneNumbersPage(BaseModel):
    """One page of the sub-account's phone numbers."""

    phone_numbers: list[ResourceOut]
    next_cursor: str | None


#: The answer of each list route, by route segment.
LIST_MODELS: dict[str, type[BaseModel]] = {
    "campaigns": CampaignsPage, "agents": AgentsPage, "automations": AutomationsPage,
    "phone-numbers": PhoneNumbersPage,
}


def render_page(page: ResourcePage) -> dict[str, Any]:
    """A page of resources under the plural of their kind (``phone_numbers`` …)."""
    return {_list_key(page.kind.route): [render_resource(item) for item in page.items],
            "next_cursor": page.next_cursor}


# --------------------------------------------------------------------------- routes

#: What every route of a sub-account's resources may refuse (404 for an id out of reach).
_REFUSALS: dict[int, tuple[str, ...]] = {404: ("not_found",)}
#: And what a write may refuse besides.
_WRITE_REFUSALS: dict[int, tuple[str, ...]] = {
    **_REFUSALS, 403: ("forbidden",), 423: ("subaccount_suspended",)}


def _named(handler: Callable[..., Any], name: str) -> Callable[..., Any]:
    handler.__name__ = handler.__qualname__ = name
    return handler


def _register(segment: str) -> None:
    collection = f"/v1/subaccounts/{{subaccount_id}}/{segment}"
    item = f"{collection}/{{resource_id}}"
    slug = _list_key(segment)
    numbers = segment == "phone-numbers"
    create_body = PhoneNumberBody if numbers else NamedResourceBody
    create_errors = ({**_WRITE_REFUSALS, 409: ("phone_number_exists", "phone_number_in_use"),
                      422: ("invalid_phone_number",)} if numbers else _WRITE_REFUSALS)

    def list_handler(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
        return render_page(list_resources(ctx.user, subaccount_id, segment,
                                          limit=page_limit(ctx),
                                          cursor=ctx.query.get("cursor")))

    def create_handler(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
        return render_resource(create_resource(ctx.user, subaccount_id, segment,
                                               name=getattr(ctx.body, "name", None),
                                               number=getattr(ctx.body, "number", None)))

    def patch_handler(ctx: RequestContext, subaccount_id: str,
                      resource_id: str) -> dict[str, Any]:
        return render_resource(set_resource_status(ctx.user, subaccount_id, segment,
                                                   resource_id, ctx.body.status))

    def delete_handler(ctx: RequestContext, subaccount_id: str, resource_id: str) -> None:
        delete_resource(ctx.user, subaccount_id, segment, resource_id)

    route(bp, collection, "GET", query=("limit", "cursor"), tag="resources",
          response=LIST_MODELS[segment], errors={**_REFUSALS, 400: ("invalid_cursor",)},
          summary=f"List the sub-account's {segment}")(_named(list_handler, f"list_{slug}"))
    route(bp, collection, "POST", status=201, body=create_body, tag="resources",
          response=ResourceOut, errors=create_errors,
          summary=f"Create one of the sub-account's {segment}")(
        _named(create_handler, f"create_{slug}"))
    route(bp, item, "PATCH", body=StatusBody, tag="resources", response=ResourceOut,
          errors={**_WRITE_REFUSALS, 422: ("invalid_status",)},
          summary=f"Change the status of one of the sub-account's {segment}")(
        _named(patch_handler, f"patch_{slug}"))
    route(bp, item, "DELETE", tag="resources",
          errors={**_WRITE_REFUSALS, 409: ("concurrent_update",)},
          summary=f"Delete one of the sub-account's {segment}")(
        _named(delete_handler, f"delete_{slug}"))


for _segment in RESOURCE_TYPES:
    _register(_segment)

"""Routes: campaigns, agents, automations and phone numbers of a sub-account.

The four types share one set of handlers, registered once per type with explicit paths
(a ``{type}`` path parameter would shadow sibling routes such as ``…/wallet``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.api.models import StrictBody

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


def _named(handler: Callable[..., Any], name: str) -> Callable[..., Any]:
    handler.__name__ = handler.__qualname__ = name
    return handler


def _register(segment: str) -> None:
    collection = f"/v1/subaccounts/{{subaccount_id}}/{segment}"
    item = f"{collection}/{{resource_id}}"
    slug = segment.replace("-", "_")
    create_body = PhoneNumberBody if segment == "phone-numbers" else NamedResourceBody

    def list_handler(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
        from chalicelib.services.resources import list_resources

        return list_resources(ctx.user, subaccount_id, segment, limit=page_limit(ctx),
                              cursor=ctx.query.get("cursor"))

    def create_handler(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
        from chalicelib.services.resources import create_resource

        return create_resource(ctx.user, subaccount_id, segment,
                               name=getattr(ctx.body, "name", None),
                               number=getattr(ctx.body, "number", None))

    def patch_handler(ctx: RequestContext, subaccount_id: str,
                      resource_id: str) -> dict[str, Any]:
        from chalicelib.services.resources import set_resource_status

        return set_resource_status(ctx.user, subaccount_id, segment, resource_id,
                                   ctx.body.status)

    def delete_handler(ctx: RequestContext, subaccount_id: str, resource_id: str) -> None:
        from chalicelib.services.resources import delete_resource

        delete_resource(ctx.user, subaccount_id, segment, resource_id)

    route(bp, collection, "GET", query=("limit", "cursor"), tag="resources",
          summary=f"List the sub-account's {segment}")(_named(list_handler, f"list_{slug}"))
    route(bp, collection, "POST", status=201, body=create_body, tag="resources",
          summary=f"Create one of the sub-account's {segment}")(
        _named(create_handler, f"create_{slug}"))
    route(bp, item, "PATCH", body=StatusBody, tag="resources",
          summary=f"Change the status of one of the sub-account's {segment}")(
        _named(patch_handler, f"patch_{slug}"))
    route(bp, item, "DELETE", tag="resources",
          summary=f"Delete one of the sub-account's {segment}")(
        _named(delete_handler, f"delete_{slug}"))


for _segment in ("campaigns", "agents", "automations", "phone-numbers"):
    _register(_segment)

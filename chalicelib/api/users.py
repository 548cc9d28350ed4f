"""Routes: the users tab (owner and Agency Admin only; nobody changes the owner here)."""

from __future__ import annotations

from typing import Any, Literal

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.api.invitations import InvitationBody, create_invitation
from chalicelib.api.models import StrictBody
from chalicelib.api.render import render_user

bp = Blueprint(__name__)


class ChangeUserBody(StrictBody):
    """``PATCH /v1/users/{id}``: only the fields sent change."""

    role: str | None = Field(default=None, min_length=1, max_length=64)
    subaccount_access: Literal["all", "specific"] | None = None
    subaccount_ids: list[str] | None = Field(default=None, max_length=100)


@route(bp, "/v1/users", "GET", query=("limit", "cursor"), summary="Users of the agency")
def list_users(ctx: RequestContext) -> dict[str, Any]:
    """Active users, paginated."""
    from chalicelib.services import identity

    users, cursor = identity.list_users(ctx.user, limit=page_limit(ctx),
                                        cursor=ctx.query.get("cursor"))
    return {"users": [render_user(u) for u in users], "next_cursor": cursor}


@route(bp, "/v1/users", "POST", status=201, body=InvitationBody,
       summary="Add a user: sends an invitation (same as POST /v1/invitations)")
def add_user(ctx: RequestContext) -> dict[str, Any]:
    """Users join by accepting an invitation, so adding one invites it (201 invitation)."""
    return create_invitation(ctx)


@route(bp, "/v1/users/{user_id}", "PATCH", body=ChangeUserBody,
       summary="Change a user's role or sub-account access")
def change_user(ctx: RequestContext, user_id: str) -> dict[str, Any]:
    """Not the owner (403 ``owner_protected``); never to ``agency_owner`` (422)."""
    from chalicelib.services import identity

    changes = ctx.body.model_dump(exclude_unset=True, exclude_none=True)
    return render_user(identity.change_user(ctx.user, user_id, changes))


@route(bp, "/v1/users/{user_id}", "DELETE", summary="Remove a user")
def remove_user(ctx: RequestContext, user_id: str) -> None:
    """204; the user's tokens stop working at once. Not the owner (403 ``owner_protected``)."""
    from chalicelib.services import identity

    identity.remove_user(ctx.user, user_id)

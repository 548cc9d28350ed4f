"""Routes: the users tab (owner and Agency Admin only; nobody changes the owner here)."""

from __future__ import annotations

from typing import Any, Literal

from chalice.app import Blueprint
from pydantic import Field

from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.api.invitations import (
    INVITATION_ERRORS,
    InvitationBody,
    InvitationOut,
    create_invitation,
)
from chalicelib.api.models import StrictBody
from chalicelib.api.render import AnswerModel, UserOut, render_user
from chalicelib.services import identity

bp = Blueprint(__name__)


class ChangeUserBody(StrictBody):
    """``PATCH /v1/users/{id}``: only the fields sent change."""

    role: str | None = Field(default=None, min_length=1, max_length=64)
    subaccount_access: Literal["all", "specific"] | None = None
    subaccount_ids: list[str] | None = Field(default=None, max_length=100)


class UserPageOut(AnswerModel):
    """One page of the users tab."""

    users: list[UserOut]
    next_cursor: str | None


@route(bp, "/v1/users", "GET", query=("limit", "cursor"), response=UserPageOut,
       errors={400: ("invalid_cursor",), 403: ("forbidden",)},
       summary="Users of the agency")
def list_users(ctx: RequestContext) -> dict[str, Any]:
    """Active users, paginated."""
    users, cursor = identity.list_users(ctx.user, limit=page_limit(ctx),
                                        cursor=ctx.query.get("cursor"))
    return {"users": [render_user(u) for u in users], "next_cursor": cursor}


@route(bp, "/v1/users", "POST", status=201, body=InvitationBody, response=InvitationOut,
       errors=INVITATION_ERRORS,
       summary="Add a user: sends an invitation (same as POST /v1/invitations)")
def add_user(ctx: RequestContext) -> dict[str, Any]:
    """Users join by accepting an invitation, so adding one invites it (201 invitation)."""
    return create_invitation(ctx)


@route(bp, "/v1/users/{user_id}", "PATCH", body=ChangeUserBody, response=UserOut,
       errors={403: ("forbidden", "owner_protected"), 404: ("user_not_found",),
               409: ("concurrent_update",)},
       summary="Change a user's role or sub-account access")
def change_user(ctx: RequestContext, user_id: str) -> dict[str, Any]:
    """Not the owner (403 ``owner_protected``); never to ``agency_owner`` (422)."""
    changes = ctx.body.model_dump(exclude_unset=True, exclude_none=True)
    return render_user(identity.change_user(ctx.user, user_id, changes))


@route(bp, "/v1/users/{user_id}", "DELETE",
       errors={403: ("forbidden", "owner_protected"), 404: ("user_not_found",),
               409: ("concurrent_update",)},
       summary="Remove a user")
def remove_user(ctx: RequestContext, user_id: str) -> None:
    """204; the user's tokens stop working at once. Not the owner (403 ``owner_protected``)."""
    identity.remove_user(ctx.user, user_id)

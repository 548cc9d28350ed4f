"""Routes: the pending-invitations tab (owner and Agency Admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.api.models import Email, StrictBody
from chalicelib.api.render import iso
from chalicelib.store.identity import Invitation

bp = Blueprint(__name__)


class InvitationBody(StrictBody):
    """``POST /v1/invitations`` (and ``POST /v1/users``)."""

    email: Email
    role: str = Field(min_length=1, max_length=64)
    subaccount_access: Literal["all", "specific"] | None = None
    subaccount_ids: list[str] = Field(default_factory=list, max_length=100)


def render_invitation(invitation: Invitation, as_of: datetime) -> dict[str, Any]:
    """An invitation as the pending tab shows it (never its token or token hash).

    ``status`` is ``expired`` for a pending invitation past its 7 days (it can be resent).
    """
    status = invitation.status
    if status == "pending" and as_of >= invitation.valid_until:
        status = "expired"
    return {
        "id": invitation.invitation_id,
        "email": invitation.email,
        "role": invitation.role,
        "subaccount_access": "all" if invitation.access_all else "specific",
        "subaccount_ids": list(invitation.subaccount_ids or []),
        "status": status,
        "expires_at": iso(invitation.valid_until),
        "invited_by": invitation.invited_by,
        "created_at": iso(invitation.created_at),
    }


def create_invitation(ctx: RequestContext) -> dict[str, Any]:
    """Shared by ``POST /v1/invitations`` and ``POST /v1/users``."""
    from chalicelib.services import identity

    body: InvitationBody = ctx.body
    invitation = identity.invite(ctx.user, email=body.email, role=body.role,
                                 subaccount_access=body.subaccount_access,
                                 subaccount_ids=body.subaccount_ids)
    return render_invitation(invitation, identity.now())


@route(bp, "/v1/invitations", "GET", query=("limit", "cursor"),
       summary="Pending invitations (owner/admin)")
def list_invitations(ctx: RequestContext) -> dict[str, Any]:
    """Pending (and expired, resendable) invitations, oldest first, paginated."""
    from chalicelib.services import identity

    invitations, cursor = identity.list_invitations(ctx.user, limit=page_limit(ctx),
                                                    cursor=ctx.query.get("cursor"))
    as_of = identity.now()
    return {"invitations": [render_invitation(i, as_of) for i in invitations],
            "next_cursor": cursor}


@route(bp, "/v1/invitations", "POST", status=201, body=InvitationBody,
       summary="Invite a user by email (owner/admin)")
def invite(ctx: RequestContext) -> dict[str, Any]:
    """Create an invitation and email its link; 409 ``email_taken`` if the email is in use."""
    return create_invitation(ctx)


@route(bp, "/v1/invitations/{invitation_id}/resend", "POST",
       summary="Resend an invitation: new token, new 7 days")
def resend(ctx: RequestContext, invitation_id: str) -> dict[str, Any]:
    """The old link stops working at once."""
    from chalicelib.services import identity

    invitation = identity.resend_invitation(ctx.user, invitation_id)
    return render_invitation(invitation, identity.now())


@route(bp, "/v1/invitations/{invitation_id}", "DELETE", summary="Revoke an invitation")
def revoke(ctx: RequestContext, invitation_id: str) -> None:
    """204; the link stops working and the email is free again."""
    from chalicelib.services import identity

    identity.revoke_invitation(ctx.user, invitation_id)

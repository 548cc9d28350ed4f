"""Routes: the pending-invitations tab (owner and Agency Admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

from chalice.app import Blueprint
from pydantic import Field

from chalicelib.api.http import RequestContext, page_limit, route
from chalicelib.api.models import Email, StrictBody
from chalicelib.api.render import AnswerModel, iso
from chalicelib.services import identity
from chalicelib.services.ports import now

bp = Blueprint(__name__)

#: What creating an invitation may answer besides the common errors.
INVITATION_ERRORS: dict[int, tuple[str, ...]] = {
    403: ("forbidden",), 409: ("email_taken", "concurrent_update")}


class InvitationBody(StrictBody):
    """``POST /v1/invitations`` (and ``POST /v1/users``)."""

    email: Email
    role: str = Field(min_length=1, max_length=64)
    subaccount_access: Literal["all", "specific"] | None = None
    subaccount_ids: list[str] = Field(default_factory=list, max_length=100)


class InvitationRecord(Protocol):
    """What ``render_invitation`` reads of an invitation."""

    @property
    def invitation_id(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def access_all(self) -> bool: ...
    @property
    def subaccount_ids(self) -> list[str]: ...
    @property
    def status(self) -> str: ...
    @property
    def valid_until(self) -> datetime: ...
    @property
    def invited_by(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class InvitationOut(AnswerModel):
    """An invitation as the pending tab shows it (never its token or token hash)."""

    id: str
    email: str
    role: str
    subaccount_access: Literal["all", "specific"]
    subaccount_ids: list[str]
    status: Literal["pending", "expired", "accepted", "revoked"]
    expires_at: str | None
    invited_by: str
    created_at: str | None


class InvitationPageOut(AnswerModel):
    """One page of the pending tab."""

    invitations: list[InvitationOut]
    next_cursor: str | None


def render_invitation(invitation: InvitationRecord, as_of: datetime) -> dict[str, Any]:
    """An invitation as the pending tab shows it (``InvitationOut``).

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
    body: InvitationBody = ctx.body
    invitation = identity.invite(ctx.user, email=body.email, role=body.role,
                                 subaccount_access=body.subaccount_access,
                                 subaccount_ids=body.subaccount_ids)
    return render_invitation(invitation, now())


@route(bp, "/v1/invitations", "GET", query=("limit", "cursor"), response=InvitationPageOut,
       errors={400: ("invalid_cursor",), 403: ("forbidden",)},
       summary="Pending invitations (owner/admin)")
def list_invitations(ctx: RequestContext) -> dict[str, Any]:
    """Pending (and expired, resendable) invitations, oldest first, paginated."""
    invitations, cursor = identity.list_invitations(ctx.user, limit=page_limit(ctx),
                                                    cursor=ctx.query.get("cursor"))
    as_of = now()
    return {"invitations": [render_invitation(i, as_of) for i in invitations],
            "next_cursor": cursor}


@route(bp, "/v1/invitations", "POST", status=201, body=InvitationBody, response=InvitationOut,
       errors=INVITATION_ERRORS, summary="Invite a user by email (owner/admin)")
def invite(ctx: RequestContext) -> dict[str, Any]:
    """Create an invitation and email its link; 409 ``email_taken`` if the email is in use."""
    return create_invitation(ctx)


@route(bp, "/v1/invitations/{invitation_id}/resend", "POST", response=InvitationOut,
       errors={403: ("forbidden",), 404: ("invitation_not_found",),
               409: ("invitation_not_pending", "concurrent_update")},
       summary="Resend an invitation: new token, new 7 days")
def resend(ctx: RequestContext, invitation_id: str) -> dict[str, Any]:
    """The old link stops working at once."""
    invitation = identity.resend_invitation(ctx.user, invitation_id)
    return render_invitation(invitation, now())


@route(bp, "/v1/invitations/{invitation_id}", "DELETE",
       errors={403: ("forbidden",), 404: ("invitation_not_found",),
               409: ("invitation_not_pending", "concurrent_update")},
       summary="Revoke an invitation")
def revoke(ctx: RequestContext, invitation_id: str) -> None:
    """204; the link stops working and the email is free again."""
    identity.revoke_invitation(ctx.user, invitation_id)

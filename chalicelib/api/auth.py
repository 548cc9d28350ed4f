"""Sign-in and the caller's own identity."""

from __future__ import annotations

from typing import Any, Literal

from chalice.app import Blueprint
from pydantic import Field

from chalicelib.api.http import RequestContext, bearer_token, route
from chalicelib.api.models import LoginBody, StrictBody
from chalicelib.api.render import AnswerModel, UserOut, render_user
from chalicelib.services import access, auth, identity, sessions

bp = Blueprint(__name__)


class AcceptInvitationBody(StrictBody):
    """``POST /v1/auth/invitations/accept``."""

    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=256)


class SignedInOut(AnswerModel):
    """A login answer: the access token and the user it belongs to."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    user: UserOut


class MeUserOut(AnswerModel):
    """The signed-in user, briefly."""

    id: str
    email: str
    role: str


class MeAgencyOut(AnswerModel):
    """The agency as its users see it for branding (never its settings)."""

    id: str
    name: str


class MeOut(AnswerModel):
    """The signed-in user, its role, agency, timezone and reach."""

    user: MeUserOut
    role: str
    agency_id: str
    agency: MeAgencyOut
    timezone: str
    subaccount_access: Literal["all", "specific"]
    accessible_subaccount_ids: list[str]


def source_ip(ctx: RequestContext) -> str | None:
    """The caller's address as API Gateway saw it (``requestContext.identity.sourceIp``)."""
    identity_context = (ctx.request.context or {}).get("identity") or {}
    address = identity_context.get("sourceIp")
    return address if isinstance(address, str) and 0 < len(address) <= 64 else None


@route(bp, "/v1/auth/login", "POST", auth="none", body=LoginBody, response=SignedInOut,
       errors={401: ("invalid_credentials",), 429: ("too_many_requests",)},
       summary="Sign in")
def login(ctx: RequestContext) -> dict[str, Any]:
    """Email and password → access token and user."""
    user, token = auth.login(ctx.body.email, ctx.body.password, source_ip(ctx))
    return {**token, "user": render_user(user)}


@route(bp, "/v1/auth/invitations/accept", "POST", auth="none", body=AcceptInvitationBody,
       response=SignedInOut,
       errors={404: ("invitation_not_found",), 409: ("concurrent_update",),
               410: ("invitation_expired", "agency_closed")},
       summary="Accept an invitation: set the password and sign in")
def accept_invitation(ctx: RequestContext) -> dict[str, Any]:
    """Same answer as login. 404 ``invitation_not_found``, 410 ``invitation_expired``."""
    user, token = identity.accept_invitation(ctx.body.token, ctx.body.password)
    return {**token, "user": render_user(user)}


@route(bp, "/v1/auth/logout", "POST", status=204, summary="End this session (204)")
def logout(ctx: RequestContext) -> None:
    """The token used is refused from now on; the user's other sessions stay."""
    sessions.end_session_of(bearer_token(ctx.request))


@route(bp, "/v1/me", "GET", response=MeOut, summary="The signed-in user, its role and reach")
def me(ctx: RequestContext) -> dict[str, Any]:
    """User, role, agency (id and name only: sub-account roles brand their pages with it and
    get 403 on the agency's settings) and accessible sub-account ids."""
    principal = ctx.user
    reach = access.reach_of(principal)
    visible = [sub.subaccount_id for sub in reach.subaccounts]
    return {
        "user": {"id": principal.user_id, "email": principal.email, "role": principal.role.value},
        "role": principal.role.value,
        "agency_id": principal.agency_id,
        "agency": {"id": reach.agency.agency_id, "name": reach.agency.name},
        "timezone": principal.timezone,  # the agency's: report dates are in it
        "subaccount_access": "all" if principal.access_all else "specific",
        "accessible_subaccount_ids": visible,
    }

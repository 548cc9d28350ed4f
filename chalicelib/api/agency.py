"""Routes: the agency itself (settings, ownership transfer, closing).

``/v1/agency/overview``, ``/v1/agency/connect…`` and ``/v1/agency/payouts`` live in
``chalicelib.api.connect``.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import Field, StrictInt

from chalicelib.api.http import RequestContext, route
from chalicelib.api.models import StrictBody
from chalicelib.api.render import AgencyOut, AnswerModel, UserOut, render_agency, render_user
from chalicelib.domain.money import render_minutes
from chalicelib.services import identity
from chalicelib.services.identity import AgencyView

bp = Blueprint(__name__)


class UpdateAgencyBody(StrictBody):
    """``PATCH /v1/agency``: only the fields sent change (threshold ``null`` clears it)."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    plan: str | None = Field(default=None, min_length=1, max_length=64)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    # StrictInt: a JSON float such as 2.0 must not slip through as the int 2.
    low_balance_threshold_minutes: str | StrictInt | None = None


class OwnershipTransferBody(StrictBody):
    """``POST /v1/agency/ownership-transfer``."""

    user_id: str = Field(min_length=1, max_length=64)


class AgencySettingsOut(AgencyOut):
    """The agency with its low-balance threshold (minutes, a decimal string, or null)."""

    low_balance_threshold_minutes: str | None


class OwnershipTransferOut(AnswerModel):
    """The agency after the transfer, and both users as they now are."""

    agency: AgencySettingsOut
    previous_owner: UserOut
    owner: UserOut


def render_agency_view(view: AgencyView) -> dict[str, Any]:
    """The agency, its plan, cap and slots used, and its low-balance threshold."""
    threshold = view.agency.low_balance_threshold_seconds
    return {
        **render_agency(view.agency, view.slots_used),
        "low_balance_threshold_minutes": render_minutes(threshold) if threshold is not None
        else None,
    }


@route(bp, "/v1/agency", "GET", response=AgencySettingsOut, errors={404: ("not_found",)},
       summary="The caller's agency: plan, cap, slots used")
def get_agency(ctx: RequestContext) -> dict[str, Any]:
    """Any signed-in user of the agency."""
    return render_agency_view(identity.get_agency(ctx.user))


@route(bp, "/v1/agency", "PATCH", body=UpdateAgencyBody, response=AgencySettingsOut,
       errors={403: ("forbidden",), 404: ("not_found",),
               409: ("plan_limit_reached", "concurrent_update")},
       summary="Agency settings (owner/admin)")
def update_agency(ctx: RequestContext) -> dict[str, Any]:
    """Name, plan (cap below slots used → 409 ``plan_limit_reached``), timezone, threshold."""
    return render_agency_view(identity.update_agency(ctx.user,
                                                     ctx.body.model_dump(exclude_unset=True)))


@route(bp, "/v1/agency/ownership-transfer", "POST", body=OwnershipTransferBody,
       response=OwnershipTransferOut,
       errors={403: ("forbidden",), 404: ("user_not_found",),
               409: ("concurrent_update",), 422: ("ineligible_user",)},
       summary="Transfer ownership (owner only); the old owner becomes Agency Admin")
def transfer_ownership(ctx: RequestContext) -> dict[str, Any]:
    """To an active Agency Admin or Agency Member of the same agency."""
    done = identity.transfer_ownership(ctx.user, ctx.body.user_id)
    return {
        "agency": render_agency_view(done.agency),
        "previous_owner": render_user(done.previous_owner),
        "owner": render_user(done.new_owner),
    }


@route(bp, "/v1/agency", "DELETE", errors={403: ("forbidden",), 404: ("not_found",),
                                         409: ("concurrent_update",)},
       summary="Close the agency (owner only)")
def close_agency(ctx: RequestContext) -> None:
    """204; every login and token of the agency is refused afterwards."""
    identity.close_agency(ctx.user)

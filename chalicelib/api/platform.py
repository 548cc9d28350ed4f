"""Platform operator routes (platform API key): agencies, jobs, local outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.http import RequestContext, route
from chalicelib.api.models import CreateAgencyBody, StrictBody
from chalicelib.api.render import render_agency, render_subaccount, render_user
from chalicelib.config import get_settings
from chalicelib.domain.errors import NotFound, ValidationFailed

bp = Blueprint(__name__)


@route(bp, "/v1/platform/agencies", "POST", auth="platform", status=201,
       body=CreateAgencyBody, summary="Create an agency with its primary sub-account and owner")
def create_agency(ctx: RequestContext) -> dict[str, Any]:
    """Platform: a new agency."""
    from chalicelib.services.agencies import create_agency as create

    body: CreateAgencyBody = ctx.body
    created = create(name=body.name, owner_email=body.owner_email,
                     owner_password=body.owner_password, plan=body.plan,
                     subscription_start=body.subscription_start)
    return {
        "agency": render_agency(created.agency, slots_used=0),
        "primary_subaccount": render_subaccount(created.primary),
        "owner": render_user(created.owner),
    }


class JobRunBody(StrictBody):
    """``POST /v1/platform/jobs/{name}/runs``."""

    as_of: datetime | None = Field(default=None)


@route(bp, "/v1/platform/jobs/{name}/runs", "POST", auth="platform", body=JobRunBody,
       summary="Run a scheduled job now, as if the clock read as_of")
def run_job(ctx: RequestContext, name: str) -> dict[str, Any]:
    """Platform: run ``auto-allocation``, ``plan-renewal``, ``payout-sweep``, ``reconciliation``."""
    from chalicelib.jobs import run_job as run

    as_of = ctx.body.as_of or datetime.now(UTC)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    return run(name, as_of.astimezone(UTC))


@route(bp, "/v1/platform/outbox", "GET", auth="platform", query=("to",),
       summary="Local stack only: emails sent")
def outbox(ctx: RequestContext) -> dict[str, Any]:
    """The local outbox, newest first (404 unless ``OUTBOX_ENABLED``)."""
    from chalicelib.services.email import list_outbox

    if not get_settings().outbox_enabled:
        raise NotFound("the outbox exists only in the local stack")
    to = ctx.query.get("to")
    if to is not None and len(to) > 320:
        raise ValidationFailed("to is too long", details={"field": "to"})
    return {"messages": list_outbox(to)}

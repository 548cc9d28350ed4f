"""Platform operator routes (platform API key): agencies, jobs, local outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from chalice.app import Blueprint
from pydantic import Field

from chalicelib.api.http import RequestContext, route
from chalicelib.api.models import CreateAgencyBody, DecimalInput, StrictBody
from chalicelib.api.render import (
    AgencyOut,
    AnswerModel,
    UserOut,
    iso_micro,
    render_agency,
    render_subaccount,
    render_user,
)
from chalicelib.domain.errors import NotFound, ValidationFailed
from chalicelib.services import agencies, email
from chalicelib.services.ports import ports

bp = Blueprint(__name__)


class CreatedAgencyOut(AnswerModel):
    """The new agency, its primary sub-account and its owner."""

    agency: AgencyOut
    #: The sub-account shape of ``GET /v1/subaccounts/{id}`` (``render_subaccount``).
    primary_subaccount: dict[str, Any]
    owner: UserOut


@route(bp, "/v1/platform/agencies", "POST", auth="platform", status=201,
       body=CreateAgencyBody, response=CreatedAgencyOut,
       errors={409: ("email_taken", "concurrent_update")},
       summary="Create an agency with its primary sub-account and owner")
def create_agency(ctx: RequestContext) -> dict[str, Any]:
    """Platform: a new agency."""
    body: CreateAgencyBody = ctx.body
    created = agencies.create_agency(name=body.name, owner_email=body.owner_email,
                     owner_password=body.owner_password, plan=body.plan,
                     subscription_start=body.subscription_start, timezone=body.timezone)
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


class OutboxRecord(Protocol):
    """What the outbox route reads of a message."""

    @property
    def to(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def sent_at(self) -> datetime: ...


class OutboxMessageOut(AnswerModel):
    """An email the local stack "sent"."""

    to: str
    subject: str
    body: str
    sent_at: str


class OutboxOut(AnswerModel):
    """The local outbox, newest first."""

    messages: list[OutboxMessageOut]


def render_outbox_message(message: OutboxRecord) -> dict[str, Any]:
    """An outbox message (``OutboxMessageOut``)."""
    return {"to": message.to, "subject": message.subject, "body": message.body,
            "sent_at": iso_micro(message.sent_at)}


@route(bp, "/v1/platform/outbox", "GET", auth="platform", query=("to",), response=OutboxOut,
       errors={404: ("not_found",)}, summary="Local stack only: emails sent")
def outbox(ctx: RequestContext) -> dict[str, Any]:
    """The local outbox, newest first (404 unless ``OUTBOX_ENABLED``)."""
    if not ports().settings.outbox_enabled:
        raise NotFound("the outbox exists only in the local stack")
    to = ctx.query.get("to")
    if to is not None and len(to) > 320:
        raise ValidationFailed("to is too long", details={"field": "to"})
    return {"messages": [render_outbox_message(m) for m in email.list_outbox(to)]}


class UsageBody(StrictBody):
    """``POST /v1/platform/usage``: records are validated one by one (per-record results)."""

    records: list[dict[str, Any]] = Field(min_length=1, max_length=100)


@route(bp, "/v1/platform/usage", "POST", auth="platform", body=UsageBody,
       summary="Ingest finished calls (at most 100), idempotent per call_id")
def ingest_usage(ctx: RequestContext) -> dict[str, Any]:
    """Per-record results: recorded, duplicate or rejected (with the reason)."""
    from chalicelib.services.usage import ingest_usage as ingest

    return ingest(ctx.body.records)


class AdjustmentBody(StrictBody):
    """``POST /v1/platform/adjustments``."""

    subaccount_id: str = Field(min_length=1, max_length=64)
    asset: str = Field(min_length=1, max_length=32)
    amount: DecimalInput
    reason: str = Field(min_length=1, max_length=500)


@route(bp, "/v1/platform/adjustments", "POST", auth="platform", status=201,
       body=AdjustmentBody, idempotent=True,
       summary="Grant or correct a balance against platform supply")
def create_adjustment(ctx: RequestContext) -> dict[str, Any]:
    """A signed adjustment as a ledger transaction; never below zero."""
    from chalicelib.services.wallets import adjust_balance

    body: AdjustmentBody = ctx.body
    return adjust_balance(body.subaccount_id, body.asset, body.amount, body.reason,
                          ctx.idempotency_key)


class AuthorizeCallBody(StrictBody):
    """``POST /v1/platform/calls/authorize``."""

    subaccount_id: str = Field(min_length=1, max_length=64)
    tier: str = Field(min_length=1, max_length=16)
    call_id: str | None = Field(default=None, min_length=1, max_length=128)
    hold_seconds: int | None = Field(default=None, ge=1, le=86_400, strict=True)


@route(bp, "/v1/platform/calls/authorize", "POST", auth="platform", body=AuthorizeCallBody,
       summary="May this sub-account start a call now?")
def authorize_call(ctx: RequestContext) -> dict[str, Any]:
    """``{allowed, reason, available_seconds}``: refused when suspended or empty."""
    from chalicelib.services.usage import authorize_call as authorize

    body: AuthorizeCallBody = ctx.body
    return authorize(body.subaccount_id, body.tier, body.call_id, body.hold_seconds)

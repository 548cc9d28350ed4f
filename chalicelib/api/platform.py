"""Platform operator routes (platform API key): agencies, jobs, local outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import jobs
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
from chalicelib.api.wallets import iso_second, render_amount
from chalicelib.domain.errors import NotFound, ValidationFailed
from chalicelib.services import agencies, email, usage
from chalicelib.services.ports import ports
from chalicelib.services.usage import CallAuthorization, UsageBatch
from chalicelib.services.wallets import Adjustment, adjust_balance

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


class JobRunOut(BaseModel):
    """A job run's summary; each job adds its own counts (``deferred``, ``results``…)."""

    model_config = ConfigDict(extra="allow")

    job: str
    as_of: str
    processed: int
    succeeded: int
    failed: int
    skipped: int


@route(bp, "/v1/platform/jobs/{name}/runs", "POST", auth="platform", body=JobRunBody,
       response=JobRunOut, errors={404: ("not_found",)},
       summary="Run a scheduled job now, as if the clock read as_of")
def run_job(ctx: RequestContext, name: str) -> dict[str, Any]:
    """Platform: run ``auto-allocation``, ``plan-renewal``, ``payout-sweep``, ``reconciliation``."""
    as_of = ctx.body.as_of
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    # No as_of: now, by the composition root's clock.
    return jobs.run_job(name, as_of.astimezone(UTC) if as_of is not None else None)


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


class UsageErrorOut(BaseModel):
    """Why a record was rejected (the error envelope's fields)."""

    code: str
    message: str
    details: Any


class UsageResultOut(BaseModel):
    """One record's result: figures when ``recorded``, the error when ``rejected``."""

    call_id: Any  # as sent
    status: str  # recorded | duplicate | rejected
    debited_seconds: int | None = None
    shortfall_seconds: int | None = None
    error: UsageErrorOut | None = None


class UsageOut(BaseModel):
    """One result per record, in order, and how many of each."""

    results: list[UsageResultOut]
    recorded: int
    duplicate: int
    rejected: int


def render_usage(batch: UsageBatch) -> dict[str, Any]:
    """A batch's results as ``UsageOut``."""
    return {"results": [dict(result) for result in batch["results"]],
            "recorded": batch["recorded"], "duplicate": batch["duplicate"],
            "rejected": batch["rejected"]}


@route(bp, "/v1/platform/usage", "POST", auth="platform", body=UsageBody,
       summary="Ingest finished calls (at most 100), idempotent per call_id",
       response=UsageOut)
def ingest_usage(ctx: RequestContext) -> dict[str, Any]:
    """Per-record results: recorded, duplicate or rejected (with the reason)."""
    return render_usage(usage.ingest_usage(ctx.body.records))


class AdjustmentBody(StrictBody):
    """``POST /v1/platform/adjustments``."""

    subaccount_id: str = Field(min_length=1, max_length=64)
    asset: str = Field(min_length=1, max_length=32)
    amount: DecimalInput
    reason: str = Field(min_length=1, max_length=500)


class AdjustmentPostingOut(BaseModel):
    """One leg of a ledger transaction."""

    account: str
    asset: str
    amount: str
    amount_units: int


class AdjustmentOut(BaseModel):
    """The posted transaction, with the adjustment's asset, signed amount and reason."""

    id: str
    code: str
    subaccount_id: str | None
    memo: str
    metadata: dict[str, Any]
    postings: list[AdjustmentPostingOut]
    created_at: str
    asset: str
    amount: str
    amount_units: int
    reason: str


def render_adjustment(adjustment: Adjustment) -> dict[str, Any]:
    """An adjustment as ``AdjustmentOut``."""
    record = adjustment["transaction"]
    asset, units = adjustment["asset"], adjustment["amount_units"]
    return {
        "id": record.transaction_id,
        "code": record.code,
        "subaccount_id": record.subaccount_id,
        "memo": record.memo,
        "metadata": record.metadata or {},
        "postings": [
            {"account": account, "asset": posted, "amount": render_amount(posted, amount),
             "amount_units": amount}
            for account, posted, amount in record.postings
        ],
        "created_at": iso_second(record.created_at),
        "asset": asset,
        "amount": render_amount(asset, units),
        "amount_units": units,
        "reason": adjustment["reason"],
    }


@route(bp, "/v1/platform/adjustments", "POST", auth="platform", status=201,
       body=AdjustmentBody, idempotent=True,
       summary="Grant or correct a balance against platform supply", response=AdjustmentOut,
       errors={404: ("not_found",),
               409: ("insufficient_balance", "already_posted", "concurrent_update")})
def create_adjustment(ctx: RequestContext) -> dict[str, Any]:
    """A signed adjustment as a ledger transaction; never below zero."""
    body: AdjustmentBody = ctx.body
    return render_adjustment(adjust_balance(body.subaccount_id, body.asset, body.amount,
                                            body.reason, ctx.idempotency_key))


class AuthorizeCallBody(StrictBody):
    """``POST /v1/platform/calls/authorize``."""

    subaccount_id: str = Field(min_length=1, max_length=64)
    tier: str = Field(min_length=1, max_length=16)
    call_id: str | None = Field(default=None, min_length=1, max_length=128)
    hold_seconds: int | None = Field(default=None, ge=1, le=86_400, strict=True)


class CallHoldOut(BaseModel):
    """The seconds reserved for the call, until ``expires_at``."""

    call_id: str
    seconds: int
    expires_at: str


class CallAuthorizationOut(BaseModel):
    """``{allowed, reason, available_seconds}``, and ``hold`` when one was placed."""

    allowed: bool
    reason: str  # ok | subaccount_suspended | insufficient_balance
    available_seconds: int
    hold: CallHoldOut | None = None


def render_authorization(answer: CallAuthorization) -> dict[str, Any]:
    """An authorization as ``CallAuthorizationOut`` (no ``hold`` key without a hold)."""
    body: dict[str, Any] = {"allowed": answer.allowed, "reason": answer.reason,
                            "available_seconds": answer.available_seconds}
    if answer.hold is not None:
        body["hold"] = {"call_id": answer.hold.call_id, "seconds": answer.hold.seconds,
                        "expires_at": iso_second(answer.hold.hold_until)}
    return body


@route(bp, "/v1/platform/calls/authorize", "POST", auth="platform", body=AuthorizeCallBody,
       summary="May this sub-account start a call now?", response=CallAuthorizationOut,
       errors={404: ("not_found",), 409: ("call_id_conflict", "concurrent_update")})
def authorize_call(ctx: RequestContext) -> dict[str, Any]:
    """``{allowed, reason, available_seconds}``: refused when suspended or empty."""
    body: AuthorizeCallBody = ctx.body
    return render_authorization(usage.authorize_call(body.subaccount_id, body.tier,
                                                     body.call_id, body.hold_seconds))

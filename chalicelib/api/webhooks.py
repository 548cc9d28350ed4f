"""Stripe webhook route: raw body in, signature checked, one event applied once."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import RequestContext, raw_body, route
from chalicelib.api.render import AnswerModel
from chalicelib.observability import logger
from chalicelib.services.webhooks import handle_event, verify_event

bp = Blueprint(__name__)


class WebhookOut(AnswerModel):
    """What became of the event: applied (``handled``), already applied (``duplicate``), or
    ignored (unhandled type, or a mismatch with Stripe recorded as ``finding``)."""

    received: bool
    handled: bool | None = None
    duplicate: bool | None = None
    finding: str | None = None


@route(bp, "/v1/stripe/webhook", "POST", auth="none", response=WebhookOut,
       errors={400: ("malformed_request", "invalid_signature"), 409: ("conflict",)},
       summary="Stripe webhook endpoint")
def stripe_webhook(ctx: RequestContext) -> dict[str, Any]:
    """Signature-verified, deduplicated by event id, dispatched by type."""
    event = verify_event(raw_body(ctx.request), ctx.header("stripe-signature"))
    answer = handle_event(event)
    # One line per event: which event, what became of it (ids only, never the payload).
    logger.info("webhook event", extra={
        "event_id": event["id"], "event_type": event["type"],
        "account": event.get("account"),
        "outcome": "duplicate" if answer.get("duplicate") else
                   "handled" if answer.get("handled") else "ignored"})
    return answer

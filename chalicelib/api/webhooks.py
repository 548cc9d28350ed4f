"""Stripe webhook route: raw body in, signature checked, one event applied once."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import RequestContext, raw_body, route
from chalicelib.observability import logger
from chalicelib.services.webhooks import handle_event, verify_event

bp = Blueprint(__name__)


@route(bp, "/v1/stripe/webhook", "POST", auth="none", summary="Stripe webhook endpoint")
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

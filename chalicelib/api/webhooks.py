"""Stripe webhook route: raw body in, signature checked, one event applied once."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import RequestContext, route

bp = Blueprint(__name__)


@route(bp, "/v1/stripe/webhook", "POST", auth="none", summary="Stripe webhook endpoint")
def stripe_webhook(ctx: RequestContext) -> dict[str, Any]:
    """Signature-verified, deduplicated by event id, dispatched by type."""
    from chalicelib.services.webhooks import handle_event, verify_event

    event = verify_event(ctx.request.raw_body or b"", ctx.header("stripe-signature"))
    return handle_event(event)

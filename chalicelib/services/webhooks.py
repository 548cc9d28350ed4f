"""Stripe webhooks: verify the raw bytes, skip processed events, dispatch by type.

Handlers are small functions registered with ``@on("type")`` (``connect=True``: an event of
a connected account, from the Connect endpoint). A handler returns the ops of its effect;
they are committed in ONE transaction with the event's marker, so an event is applied
exactly once even when Stripe delivers it twice, concurrently. A handler that raises makes
the route answer 5xx and Stripe retries later. Unknown types are a 200 no-op, and so is a
type the other endpoint handles: a Connect event never reaches a platform handler, nor the
reverse (the secret it verified with says which endpoint sent it).

A signature proves the event came from Stripe, not that its object is current or ours:
before money moves, a handler retrieves the object from Stripe and checks it against what
the ledger recorded. It raises ``EventMismatch`` when they disagree; the event is then
recorded with a reconciliation finding and an agency notification, nothing else changes,
and the answer is a 200 (Stripe would retry a forgery forever). A Stripe outage during the
check is an error answer, so Stripe delivers the event again.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import Conflict, MalformedRequest
from chalicelib.observability import count
from chalicelib.services.notifications import notification_op
from chalicelib.services.ports import ports
from chalicelib.store import webhooks as markers
from chalicelib.store.base import utcnow
from chalicelib.store.findings import webhook_finding_op
from chalicelib.store.ledger import AlreadyPosted
from chalicelib.store.transact import Op, commit
from chalicelib.stripe_gateway.webhooks import signature_is_valid

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class Effect:
    """What a handler wants done: ``ops`` committed with the event's marker, then ``after``
    (e.g. an email) run once, only by the delivery whose commit won."""

    ops: list[Op]
    after: Callable[[], None] | None = None


Handler = Callable[[dict[str, Any]], "list[Op] | Effect"]
#: Handlers of the platform's own events, and of connected accounts' events (Connect endpoint).
HANDLERS: dict[str, Handler] = {}
CONNECT_HANDLERS: dict[str, Handler] = {}

#: Modules whose import registers handlers (kept lazy: the webhook is the only importer).
HANDLER_MODULES = (
    "chalicelib.services.payment_events",
    "chalicelib.services.connect_events",
)
_loaded = False
#: Times an event is handled again when a concurrent delivery changed what it read.
STATE_CHANGED_ATTEMPTS = 3


def on(event_type: str, *, connect: bool = False) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``event_type``: a platform event, or (``connect``) an event of
    a connected account, which only the Connect endpoint's secret verifies."""

    def register(handler: Handler) -> Handler:
        (CONNECT_HANDLERS if connect else HANDLERS)[event_type] = handler
        return handler

    return register


class EventMismatch(Exception):
    """Stripe's own object contradicts the event, or is not what our ledger recorded.

    ``agency_id`` is the agency whose records the event named (it is notified);
    ``differences`` lists ``{"field", "expected", "found"}``: what the ledger recorded (or
    the event claimed) against what Stripe says.
    """

    def __init__(self, agency_id: str, stripe_id: str | None,
                 differences: list[dict[str, Any]]) -> None:
        super().__init__(f"{stripe_id}: {[d['field'] for d in differences]}")
        self.agency_id = agency_id
        self.stripe_id = stripe_id
        self.differences = differences


def check_against_stripe(agency_id: str, stripe_id: str | None,
                         pairs: dict[str, tuple[Any, Any]]) -> None:
    """Raise ``EventMismatch`` unless every ``field: (expected, found)`` pair agrees."""
    differences = [{"field": field, "expected": expected, "found": found}
                   for field, (expected, found) in pairs.items() if expected != found]
    if differences:
        raise EventMismatch(agency_id, stripe_id, differences)


def missing_at_stripe(agency_id: str, stripe_id: str | None) -> EventMismatch:
    """The mismatch of an object Stripe says does not exist."""
    return EventMismatch(agency_id, stripe_id,
                         [{"field": "exists", "expected": True, "found": False}])


def _load_handlers() -> None:
    global _loaded
    if _loaded:
        return
    for name in HANDLER_MODULES:
        # Imported on the first event (they import ``on`` from here); a missing module is a
        # broken deployment and must fail loudly, never be skipped.
        importlib.import_module(name)
    _loaded = True


class EventAlreadyProcessed(Conflict):
    """The event's marker exists: its effect was applied before."""

    code = "event_already_processed"


def verify_event(payload: bytes, signature_header: str | None) -> dict[str, Any]:
    """Check Stripe's signature on the raw body (5-minute tolerance); a bad one is a 400.

    Stripe signs each endpoint's events with that endpoint's own secret: events of connected
    accounts (a top-level ``account``) come through the Connect endpoint and verify only
    against ``STRIPE_CONNECT_WEBHOOK_SECRET``, the platform's own only against
    ``STRIPE_WEBHOOK_SECRET``. The unverified body only says which ONE secret to try: adding or
    removing ``account`` changes the signed bytes, so a sender cannot choose the secret, and
    an event signed with the other endpoint's secret is refused.
    """
    if not signature_header:
        raise MalformedRequest("missing Stripe-Signature header", code="invalid_signature")
    try:
        unverified: Any = json.loads(payload)
    except (ValueError, RecursionError):  # checked below, once the signature is
        unverified = None
    connect = is_connect_event(unverified)
    settings = ports().settings
    secret = (settings.stripe_connect_webhook_secret if connect
              else settings.stripe_webhook_secret)
    if not signature_is_valid(payload, signature_header, secret, TOLERANCE_SECONDS):
        raise MalformedRequest("webhook signature verification failed",
                               code="invalid_signature")
    if unverified is None:
        raise MalformedRequest("webhook body is not JSON")
    event = unverified
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(
            event.get("type"), str) or not isinstance(event.get("data"), dict):
        raise MalformedRequest("webhook body is not a Stripe event")
    if connect and not (isinstance(event["account"], str) and event["account"]):
        raise MalformedRequest("webhook body is not a Stripe event")
    return event


def is_connect_event(event: Any) -> bool:
    """Whether an event is a connected account's (it carries ``account``): such an event
    verifies only against the Connect endpoint's secret, the others only against the
    platform's, so after ``verify_event`` this also says which secret verified it."""
    return isinstance(event, dict) and event.get("account") is not None


def marker_op(event: dict[str, Any]) -> Op:
    """The op that records ``event`` as processed (fails if it already was)."""
    return markers.marker_op(event["id"], event["type"], utcnow(),
                             EventAlreadyProcessed("event already processed"))


def handle_event(event: dict[str, Any]) -> dict[str, Any]:
    """Apply a verified event once; returns what the route answers."""
    _load_handlers()
    connect = is_connect_event(event)
    handler = (CONNECT_HANDLERS if connect else HANDLERS).get(event["type"])
    if handler is None:
        where = {"event_id": event["id"], "event_type": event["type"], "connect": connect}
        if event["type"] in (HANDLERS if connect else CONNECT_HANDLERS):
            log.warning("webhook event %s (%s) came through the other endpoint: ignored",
                        event["id"], event["type"], extra=where)
        else:
            log.info("webhook event %s of unhandled type %s ignored", event["id"],
                     event["type"], extra=where)
        return {"received": True, "handled": False}
    for attempt in range(1, STATE_CHANGED_ATTEMPTS + 1):
        if markers.processed(event["id"]):
            return {"received": True, "duplicate": True}
        outcome = _effect_of(handler, event)
        if isinstance(outcome, dict):
            return outcome
        effect = outcome
        try:
            commit([marker_op(event), *effect.ops])
            break
        except EventAlreadyProcessed:
            return {"received": True, "duplicate": True}
        except AlreadyPosted:
            # The effect was already written by another path (e.g. the synchronous purchase);
            # record the event alone so it is not retried.
            with contextlib.suppress(EventAlreadyProcessed):
                commit([marker_op(event)])
            return {"received": True, "handled": True}
        except Conflict:
            # Another delivery (another event about the same dispute or charge, e.g. Stripe's
            # ``created`` racing its ``closed``) changed what the handler read: nothing of
            # ours was written, so read again and decide again. Out of attempts, the 409
            # makes Stripe redeliver later.
            if attempt == STATE_CHANGED_ATTEMPTS:
                raise
            log.info("webhook event %s met a concurrent change; handling it again",
                     event["id"])
    if effect.after is not None:
        try:
            effect.after()
        except Exception:  # the effect is committed: a lost email must not make Stripe retry
            log.exception("after-commit step of %s failed", event["id"])
    return {"received": True, "handled": True}


def _effect_of(handler: Handler, event: dict[str, Any]) -> Effect | dict[str, Any]:
    """What the handler wants written, or the route's answer when nothing is to be written
    (a mismatch with Stripe is recorded on its own)."""
    try:
        result = handler(event)
    except EventMismatch as mismatch:
        return _record_mismatch(event, mismatch)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # A correctly signed event whose object lacks what its type promises: refuse it
        # cleanly (400, nothing written) instead of failing with a 500 forever.
        log.warning("malformed %s event %s: %r", event["type"], event["id"], exc)
        raise MalformedRequest(f"malformed {event['type']} event") from None
    return result if isinstance(result, Effect) else Effect(list(result))


def _record_mismatch(event: dict[str, Any], mismatch: EventMismatch) -> dict[str, Any]:
    """Nothing applied: the event is recorded as processed with a reconciliation finding and
    an agency-level notification (never shown to sub-account users), in one transaction, so
    a redelivery of the same event adds neither twice."""
    now = utcnow()
    finding = {"kind": "webhook_event_mismatch", "event_id": event["id"],
               "event_type": event["type"], "agency_id": mismatch.agency_id,
               "stripe_id": mismatch.stripe_id, "account": event.get("account"),
               "differences": mismatch.differences}
    fields = ", ".join(d["field"] for d in mismatch.differences)
    # The structured keys for a JSON formatter; the message alone says enough without one.
    log.warning("webhook event %s (%s) does not match Stripe (%s) for agency %s: nothing "
                "applied", event["id"], event["type"], fields, mismatch.agency_id, extra=finding)
    try:
        commit([
            marker_op(event),
            webhook_finding_op(event["id"], finding, now),
            notification_op(
                mismatch.agency_id, "stripe_event_mismatch",
                f"A Stripe event ({event['type']}) did not match Stripe's own records "
                f"({fields}) and was ignored: nothing changed. It is recorded for review.",
                data={"event_id": event["id"], "event_type": event["type"],
                      "stripe_id": mismatch.stripe_id,
                      "fields": [d["field"] for d in mismatch.differences]}, at=now),
        ])
    except EventAlreadyProcessed:
        return {"received": True, "duplicate": True}
    count("ReconciliationFindings")
    return {"received": True, "handled": False, "finding": finding["kind"]}

"""Events and signed webhook delivery, as Stripe does them.

Every event the emulator produces (the Connect extension's own and localstripe's, which are
routed here instead of localstripe's own sender) is recorded in an in-memory log, then POSTed
as JSON to each registered endpoint that takes it with a ``Stripe-Signature: t=<unix>,v1=<hex>``
header, where ``v1`` is HMAC-SHA256 of ``"<t>.<raw body>"`` under the endpoint secret. As in
Stripe, an endpoint is either a platform endpoint (the platform's own events) or a Connect
endpoint (``connect``: events of connected accounts, which carry ``account``), each signing
with its own secret; one URL may be registered as both. Delivery runs in
one background task, in publication order, retrying briefly on connection errors and 5xx, so
the request that caused an event is never slowed down and a stopped app never crashes the
emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp
import stripe

from devstack.stripe_wire import JsonObject, new_id, new_object, now

log = logging.getLogger("devstack.stripe_emulator.webhooks")

# Seconds to wait before each retry of a failed delivery (len + 1 attempts in all).
RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0)


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload`` signed with ``secret``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


@dataclass
class WebhookEndpoint:
    """A registered receiver: where to POST, the signing secret, an optional type filter, and
    whether it takes connected accounts' events (``connect``) or the platform's own."""

    name: str
    url: str
    secret: str
    events: list[str] | None = None
    connect: bool = False
    # Set when the last delivery could not connect at all: later events then get a single
    # attempt instead of the retry delays, so a stopped app does not build a backlog and
    # events flow again as soon as it is back.
    unreachable: bool = False

    def wants(self, event: JsonObject) -> bool:
        """Whether this endpoint takes ``event``: Connect events (``account`` set) go to Connect
        endpoints only, the others to platform endpoints only; then the type filter (``None``
        or ``*`` = all)."""
        if (event.get("account") is not None) != self.connect:
            return False
        return self.events is None or "*" in self.events or event["type"] in self.events


@dataclass
class Delivery:
    """The outcome of delivering one event to one endpoint (for ``/_devstack/deliveries``)."""

    event_id: str
    event_type: str
    endpoint: str
    url: str
    attempts: int = 0
    status: int | None = None
    error: str | None = None
    delivered: bool = False
    finished_at: int | None = None

    def as_dict(self) -> JsonObject:
        """JSON form."""
        return dict(self.__dict__)


@dataclass
class EventBus:
    """Builds events in Stripe's shape, keeps them, and delivers them to webhook endpoints."""

    endpoints: dict[str, WebhookEndpoint] = field(default_factory=dict)
    events: list[JsonObject] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    _queue: asyncio.Queue[JsonObject] | None = None
    _worker: asyncio.Task[None] | None = None
    _session: aiohttp.ClientSession | None = None

    def register(self, name: str, url: str, secret: str, events: Iterable[str] | None = None,
                 *, connect: bool = False) -> WebhookEndpoint:
        """Add or replace the endpoint ``name`` (a Connect endpoint if ``connect``)."""
        endpoint = WebhookEndpoint(name, url, secret, list(events) if events else None,
                                   connect)
        self.endpoints[name] = endpoint
        return endpoint

    def publish(
        self,
        event_type: str,
        obj: JsonObject,
        *,
        account: str | None = None,
        previous_attributes: JsonObject | None = None,
        event_id: str | None = None,
        created: int | None = None,
    ) -> JsonObject:
        """Record an event about ``obj`` and queue its delivery; returns the event.

        ``account`` marks a Connect event (one that happened on a connected account), which
        Stripe delivers with a top-level ``account`` field.
        """
        data: JsonObject = {"object": obj}
        if previous_attributes:
            data["previous_attributes"] = previous_attributes
        event = new_object(
            "event",
            id=event_id or new_id("evt_"),
            type=event_type,
            created=created or now(),
            data=data,
            livemode=False,
            api_version=stripe.api_version,
            pending_webhooks=0,  # counted below, once the event says whose it is
            request={"id": None, "idempotency_key": None},
        )
        if account:
            event["account"] = account
        event["pending_webhooks"] = sum(1 for e in self.endpoints.values() if e.wants(event))
        self.events.append(event)
        self.enqueue(event)
        return event

    def enqueue(self, event: JsonObject) -> None:
        """Queue (re)delivery of an already recorded event."""
        if self._queue is not None:
            self._queue.put_nowait(event)

    def find(self, event_id: str) -> JsonObject | None:
        """The recorded event with this id, if any."""
        return next((e for e in self.events if e["id"] == event_id), None)

    def reset(self) -> None:
        """Forget recorded events and deliveries (endpoints stay registered)."""
        self.events.clear()
        self.deliveries.clear()

    async def start(self) -> None:
        """Start the background delivery task (inside the running event loop)."""
        self._queue = asyncio.Queue()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        self._worker = asyncio.create_task(self._run(), name="webhook-delivery")

    async def stop(self, drain_seconds: float = 2.0) -> None:
        """Give queued deliveries a moment to finish, then stop the task."""
        if self._queue is not None and self._worker is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain_seconds)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._session is not None:
            await self._session.close()

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until every queued delivery finished (tests and shutdown)."""
        if self._queue is not None:
            await asyncio.wait_for(self._queue.join(), timeout)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            try:
                for endpoint in list(self.endpoints.values()):
                    if endpoint.wants(event):
                        await self._deliver(endpoint, event)
            except Exception:  # a bug here must not stop all later deliveries
                log.exception("webhook delivery of %s failed unexpectedly", event.get("id"))
            finally:
                self._queue.task_done()

    async def _deliver(self, endpoint: WebhookEndpoint, event: JsonObject) -> None:
        assert self._session is not None
        payload = json.dumps(event, indent=2).encode()
        record = Delivery(event["id"], event["type"], endpoint.name, endpoint.url)
        self.deliveries.append(record)
        delays = () if endpoint.unreachable else RETRY_DELAYS
        for delay in (*delays, None):
            record.attempts += 1
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                # Signed per attempt, like Stripe: the timestamp is the attempt's time.
                "Stripe-Signature": signature_header(payload, endpoint.secret),
            }
            try:
                async with self._session.post(endpoint.url, data=payload, headers=headers) as resp:
                    await resp.read()
                    record.status, record.error = resp.status, None
                    if resp.status < 500:
                        break
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                record.status, record.error = None, f"{type(exc).__name__}: {exc}"
            if delay is not None:
                await asyncio.sleep(delay)
        endpoint.unreachable = record.status is None
        record.delivered = record.status is not None and 200 <= record.status < 300
        record.finished_at = now()
        log.info("webhook %s %s -> %s: %s", event["type"], event["id"], endpoint.url,
                 record.status if record.status is not None else record.error)

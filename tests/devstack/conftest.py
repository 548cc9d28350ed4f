"""Fixtures for the local stack's own tests: one Stripe emulator per session, a webhook
receiver that captures what it delivers, and the real ``stripe`` client pointed at it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import stripe

from devstack.stripe_emulator import running_stripe_emulator

WEBHOOK_SECRET = "whsec_devstack_tests"
CONNECT_WEBHOOK_SECRET = "whsec_devstack_connect_tests"
API_KEY = "sk_test_devstack"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


class QuietHandler(BaseHTTPRequestHandler):
    """Request handler base for test servers: no access log on stderr."""

    def log_message(self, *args: object) -> None:
        """Silence ``http.server``'s per-request log line."""


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Delivery:
    """One webhook POST as the app would receive it."""

    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        """The JSON event."""
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A tiny HTTP server standing in for the app's webhook route."""

    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        """Forget captured deliveries."""
        with self.lock:
            self.deliveries.clear()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool],
                 timeout: float = 10.0) -> Delivery:
        """The first delivery whose event matches ``predicate`` (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for delivery in self.deliveries:
                    if predicate(delivery.event):
                        return delivery
            time.sleep(0.05)
        raise AssertionError("no matching webhook delivery within "
                             f"{timeout}s; got {[d.event['type'] for d in self.deliveries]}")


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """Captures every webhook the emulator sends during the session."""
    receiver = WebhookReceiver()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver.lock:
                receiver.deliveries.append(Delivery(dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

    with http_server(Handler) as base_url:
        receiver.url = f"{base_url}/v1/stripe/webhook"
        yield receiver


@pytest.fixture(scope="session")
def emulator(webhook_receiver: WebhookReceiver) -> Iterator[str]:
    """Base URL of a Stripe emulator subprocess delivering to ``webhook_receiver``: platform
    events signed with ``WEBHOOK_SECRET``, Connect events with ``CONNECT_WEBHOOK_SECRET``."""
    with running_stripe_emulator(0, webhook_receiver.url, WEBHOOK_SECRET,
                                 connect_secret=CONNECT_WEBHOOK_SECRET) as base_url:
        yield base_url


@pytest.fixture(autouse=True)
def _fresh_emulator(request: pytest.FixtureRequest) -> None:
    """Each emulator test starts from empty state (balances are global to the emulator)."""
    if "emulator" in request.fixturenames:
        base_url = request.getfixturevalue("emulator")
        requests.post(f"{base_url}/_devstack/reset", timeout=10).raise_for_status()
        request.getfixturevalue("webhook_receiver").clear()


@pytest.fixture
def client(emulator: str) -> stripe.StripeClient:
    """The real stripe-python client, as the app builds it, against the emulator."""
    return stripe.StripeClient(api_key=API_KEY, base_addresses={"api": emulator},
                               max_network_retries=0)


@pytest.fixture
def helper(emulator: str) -> Callable[..., requests.Response]:
    """POST a form-encoded ``/v1/test_helpers/<path>`` request."""

    def post(path: str, **form: Any) -> requests.Response:
        return requests.post(f"{emulator}/v1/test_helpers/{path}", data=form, headers=AUTH,
                             timeout=10)

    return post


@pytest.fixture
def events(emulator: str) -> Callable[..., list[dict[str, Any]]]:
    """The emulator's event log (``GET /_devstack/events``), filtered by query params."""

    def fetch(**query: str) -> list[dict[str, Any]]:
        response = requests.get(f"{emulator}/_devstack/events", params=query, timeout=10)
        response.raise_for_status()
        return response.json()["data"]

    return fetch

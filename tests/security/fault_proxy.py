"""A fault-injecting HTTP proxy for the Stripe emulator (test tooling).

The app's Stripe client is pointed at the proxy (``STRIPE_API_BASE``); the proxy forwards
every request to the emulator unchanged, except the ones a test armed a fault for:

==================  ====================================  ===========================
mode                what the client sees                  did Stripe act?
==================  ====================================  ===========================
``error_500``       500 ``api_error`` (Stripe's shape)    no
``drop_before``     connection closed, no answer          no
``timeout_before``  no answer until its read timeout      no
``error_500_after`` 500 ``api_error``                     yes (the answer is lost)
``drop_after``      connection closed, no answer          yes
``timeout_after``   no answer until its read timeout      yes
==================  ====================================  ===========================

A fault matches a method and a path regular expression and fires ``times`` times. Every
request is journaled with the fault applied, so tests can assert what really happened.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

MODES = ("error_500", "drop_before", "timeout_before", "error_500_after", "drop_after",
         "timeout_after")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
              "proxy-connection", "te", "trailer", "upgrade", "content-encoding"}


@dataclass
class Fault:
    """One armed fault."""

    method: str
    path: re.Pattern[str]
    mode: str
    times: int
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault takes the request (and still has shots left)."""
        return (self.fired < self.times and method == self.method
                and self.path.search(path) is not None)


@dataclass
class Seen:
    """A request that reached the proxy, and what was done with it."""

    method: str
    path: str
    mode: str  # "pass" or a fault mode
    forwarded: bool
    idempotency_key: str | None


@dataclass
class FaultProxy:
    """The proxy; ``start()`` returns its base URL."""

    upstream: str
    hold_seconds: float = 3.0  # how long the timeout modes keep the client waiting
    faults: list[Fault] = field(default_factory=list)
    journal: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def arm(self, method: str, path_pattern: str, mode: str, times: int = 1) -> Fault:
        """Make the next ``times`` matching requests fail in ``mode``."""
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}")
        fault = Fault(method.upper(), re.compile(path_pattern), mode, times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def disarm(self) -> None:
        """Forget every fault (the journal stays)."""
        with self.lock:
            self.faults.clear()

    def _take(self, method: str, path: str) -> str:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.fired += 1
                    return fault.mode
        return "pass"

    def seen(self, method: str, path_pattern: str) -> list[Seen]:
        """Journal entries for matching requests."""
        pattern = re.compile(path_pattern)
        with self.lock:
            return [s for s in self.journal if s.method == method and pattern.search(s.path)]

    def start(self) -> str:
        """Serve on a free loopback port (threads, daemon)."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                mode = proxy._take(self.command, self.path)
                forwarded = mode in ("pass", "error_500_after", "drop_after", "timeout_after")
                with proxy.lock:
                    proxy.journal.append(Seen(self.command, self.path, mode, forwarded,
                                              self.headers.get("Idempotency-Key")))
                if mode == "error_500":
                    return self._api_error()
                if mode == "drop_before":
                    return self._drop()
                if mode == "timeout_before":
                    time.sleep(proxy.hold_seconds)
                    return self._drop()
                answer = self._forward(body)
                if mode == "error_500_after":
                    return self._api_error()
                if mode == "drop_after":
                    return self._drop()
                if mode == "timeout_after":
                    time.sleep(proxy.hold_seconds)
                    return self._drop()
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def _forward(self, body: bytes) -> requests.Response:
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP}
                return requests.request(self.command, proxy.upstream + self.path,
                                        headers=headers, data=body, timeout=30)

            def _api_error(self) -> None:
                payload = json.dumps({"error": {
                    "type": "api_error", "message": "An unknown error occurred (injected)."}
                }).encode()
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _drop(self) -> None:
                """Reset the connection: the client gets no answer at all."""
                self.close_connection = True
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def do_DELETE(self) -> None:
                self._handle()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving (threads still holding a timeout die with the process)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def app_stripe_through(proxy: FaultProxy, *, timeout_seconds: float = 1.0) -> Iterator[str]:
    """Point the app's Stripe client at ``proxy`` (short timeouts), then back."""
    from chalicelib import bootstrap
    from chalicelib.services.ports import ports
    from chalicelib.stripe_gateway import StripeGateway

    base = proxy.start()
    current = ports().stripe
    through_proxy = StripeGateway(current.secret_key, base, current.public_base_url,
                                  timeout_seconds=timeout_seconds)
    try:
        with bootstrap.override(stripe=through_proxy):
            yield base
    finally:
        proxy.stop()

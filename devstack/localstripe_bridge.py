"""localstripe, run in-process on an internal port, and the few patches it needs.

The emulator runs localstripe's own aiohttp application inside its event loop (on
``127.0.0.1:<internal port>``) and forwards requests to it over HTTP, byte for byte. Running it
in-process, rather than as a second process, means there is nothing extra to supervise or leave
orphaned, and the emulator can read localstripe's store directly (for the platform balance and
the refund checks) instead of paging through its list endpoints.

Three behaviours of localstripe 1.15.10 are patched, each for a reason:

* ``Store.dump_to_disk`` pickles the whole store to the fixed path ``/tmp/localstripe.pickle``
  after every write: two emulators (``make run`` and a test run) would overwrite each other's
  file, and it is O(store) per request. The local stack starts fresh each run, so it is off.
* ``schedule_webhook`` sends events after a fixed 1 s sleep with localstripe's own shape; the
  emulator takes the events instead and publishes them through its own signed delivery, so that
  every event (Connect ones included) goes through one path and one log.
* ``PaymentMethod._charging_is_declined`` knows only the "declined after attaching" cards; in
  Stripe the "always declined" cards (4000000000000002, ...) decline on charge too, which
  matters when a PaymentIntent uses such a card without attaching it first.
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web

with warnings.catch_warnings():
    # localstripe registers plain (non-async) handlers at import; aiohttp warns about each.
    warnings.simplefilter("ignore", DeprecationWarning)
    from localstripe import resources as ls_resources
    from localstripe import server as ls_server

# Request headers that describe the hop, not the request: never forwarded.
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive",
               "accept-encoding"}

_patched = False


def install_patches(on_event: Callable[[Any], None]) -> None:
    """Patch localstripe (once per process); ``on_event`` receives each localstripe Event."""
    global _patched
    ls_resources.schedule_webhook = on_event
    if _patched:
        return
    _patched = True
    ls_resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]

    charging_is_declined = ls_resources.PaymentMethod._charging_is_declined

    def declines_on_charge(pm: Any) -> bool:
        return bool(charging_is_declined(pm) or pm._attaching_is_declined())

    ls_resources.PaymentMethod._charging_is_declined = declines_on_charge  # type: ignore


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket (port 0 = any free port), for an aiohttp ``SockSite``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class LocalstripeBridge:
    """Owns the in-process localstripe server and the HTTP client that talks to it."""

    def __init__(self) -> None:
        """Not started: call ``start`` inside the running event loop."""
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def store(self) -> dict[str, Any]:
        """localstripe's object store (``"<object>:<id>" -> object``)."""
        return ls_resources.store

    async def start(self, host: str, port: int) -> int:
        """Serve localstripe on ``host:port`` (0 = any free port); returns the bound port."""
        self._runner = web.AppRunner(ls_server.app, access_log=None)
        await self._runner.setup()
        sock = bind_socket(host, port)
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._session = aiohttp.ClientSession(
            base_url=f"http://{host}:{self.port}",
            timeout=aiohttp.ClientTimeout(total=30),
            auto_decompress=False,
        )
        return self.port

    async def stop(self) -> None:
        """Close the client and the server."""
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def reset(self) -> None:
        """Drop every localstripe object (what its ``DELETE /_config/data`` does)."""
        ls_resources.store.clear()

    async def forward(
        self, method: str, path_qs: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, str, bytes]:
        """Send a request to localstripe unchanged; returns (status, content type, body)."""
        assert self._session is not None, "LocalstripeBridge.start() was not awaited"
        sent = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}
        async with self._session.request(method, path_qs, data=body or None,
                                         headers=sent) as resp:
            return resp.status, resp.content_type, await resp.read()

    def get(self, kind: str, object_id: str | None) -> Any:
        """A live localstripe object (``kind`` is its ``object`` name), or ``None``."""
        if not object_id:
            return None
        return ls_resources.store.get(f"{kind}:{object_id}")

    def charges_net(self) -> int:
        """USD cents of succeeded charges minus refunds: the sum of localstripe's balance
        transactions, which it writes for exactly those two events."""
        return sum(
            txn.amount
            for key, txn in list(ls_resources.store.items())
            if key.startswith("balance_transaction:") and txn.currency == "usd"
        )

"""The local Stripe: localstripe plus a Connect extension, behind one base URL.

``python -m devstack.stripe_emulator --port 8420`` serves, on one port:

* Connect (``devstack.stripe_connect``): accounts, account links, login links, transfers,
  balances, connected-account payouts, and ``/v1/test_helpers/...`` to finish onboarding,
  restrict an account, pay out, fail a payout, fail the next transfer, top up the balance;
* payments (``devstack.stripe_payments``): localstripe's PaymentIntents, refunds, customers and
  payment methods, corrected where localstripe differs from Stripe test mode;
* everything else: forwarded unchanged to localstripe, which runs in-process on an internal
  port (``devstack.localstripe_bridge``);
* every event, signed and POSTed to the webhook URL (``devstack.stripe_webhooks``), and
  readable at ``GET /_devstack/events``. The URL is registered as two endpoints, as with Stripe:
  ``default`` (the platform's events, signed with the webhook secret) and ``connect`` (connected
  accounts' events, which carry ``account``, signed with the Connect webhook secret).

Cross-cutting behaviour lives here: API-key auth on ``/v1``, Stripe's ``Idempotency-Key``
semantics for every ``POST /v1/...`` (same key and parameters replay the first answer, with
``Idempotent-Replayed: true``; same key, other parameters -> 400 ``idempotency_error``), a
``Request-Id`` on every answer, and errors always in Stripe's JSON shape.

For pytest, ``running_stripe_emulator(port, webhook_url, secret, connect_secret=...)`` runs it
as a subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from aiohttp import web

from devstack.defaults import APP_ENV_DEFAULTS, HOST, PORT_DEFAULTS, WEBHOOK_PATH
from devstack.localstripe_bridge import LocalstripeBridge, bind_socket, install_patches
from devstack.proc import free_port, stop_process_group, wait_for_http
from devstack.stripe_connect import ConnectExtension
from devstack.stripe_payments import PaymentsExtension
from devstack.stripe_webhooks import EventBus
from devstack.stripe_wire import (
    StripeError,
    json_response,
    list_response,
    new_id,
    read_params,
)

log = logging.getLogger("devstack.stripe_emulator")
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WEBHOOK_URL = f"http://{HOST}:{PORT_DEFAULTS['API_PORT']}{WEBHOOK_PATH}"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class EmulatorConfig:
    """Where the emulator listens and where it sends webhooks (empty URL: none), signed with
    ``webhook_secret`` (platform events) or ``connect_webhook_secret`` (Connect events)."""

    host: str = HOST
    port: int = PORT_DEFAULTS["STRIPE_EMULATOR_PORT"]
    localstripe_port: int = 0
    webhook_url: str = DEFAULT_WEBHOOK_URL
    webhook_secret: str = APP_ENV_DEFAULTS["STRIPE_WEBHOOK_SECRET"]
    connect_webhook_secret: str = APP_ENV_DEFAULTS["STRIPE_CONNECT_WEBHOOK_SECRET"]


@dataclass
class _Replay:
    fingerprint: tuple[object, ...]
    status: int
    body: bytes
    content_type: str


@dataclass
class IdempotencyCache:
    """First answers to ``POST`` requests by (API key, Stripe-Account, Idempotency-Key)."""

    answers: dict[tuple[str, str, str], _Replay] = field(default_factory=dict)
    locks: dict[tuple[str, str, str], asyncio.Lock] = field(default_factory=dict)

    def clear(self) -> None:
        """Forget every stored answer."""
        self.answers.clear()


def _api_key(request: web.Request) -> str | None:
    """The secret key of a request (Bearer or Basic auth), as localstripe accepts it."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme == "Basic":
        with contextlib.suppress(ValueError):
            value = base64.b64decode(value).decode().split(":")[0]
    elif scheme != "Bearer":
        return None
    return value if value.startswith("sk_") and len(value) > 5 else None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render ``StripeError`` (and any bug) as Stripe's JSON error; never drop a connection."""
    try:
        return await handler(request)
    except StripeError as exc:
        return exc.response()
    except web.HTTPException:
        raise
    except Exception as exc:  # the emulator must answer, even when it has a bug
        log.exception("unhandled error on %s %s", request.method, request.path)
        return StripeError(500, f"Emulator error: {type(exc).__name__}: {exc}",
                           error_type="api_error").response()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``/v1`` needs a secret key, as in Stripe; the devstack and config routes do not."""
    if request.path.startswith("/v1/") and _api_key(request) is None:
        raise StripeError(401, "You did not provide an API key. You need to provide your API "
                               "key in the Authorization header, using Bearer auth (e.g. "
                               "'Authorization: Bearer YOUR_SECRET_KEY').")
    return await handler(request)


def idempotency_middleware(cache: IdempotencyCache) -> Callable[..., Awaitable[object]]:
    """Stripe's ``Idempotency-Key`` semantics for every ``POST /v1/...``.

    Requests with the same key are serialised (Stripe answers 409 to a concurrent duplicate;
    stripe-python retries that, so waiting gives callers the same result more simply).
    Server errors are not stored, so a retry after one runs again, as in Stripe.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or not request.path.startswith("/v1/"):
            return await handler(request)
        scope = (_api_key(request) or "", request.headers.get("Stripe-Account", ""), key)
        body = await request.read()
        fingerprint = (request.path, tuple(sorted(request.query.items())),
                       tuple(sorted(parse_qsl(body.decode(errors="replace"),
                                              keep_blank_values=True))))
        lock = cache.locks.setdefault(scope, asyncio.Lock())
        async with lock:
            stored = cache.answers.get(scope)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise StripeError(
                        400, "Keys for idempotent requests can only be used with the same "
                             "parameters they were first used with. Try using a key other than "
                             f"'{key}' if you meant to execute a different request.",
                        error_type="idempotency_error")
                response = web.Response(body=stored.body, status=stored.status,
                                        content_type=stored.content_type)
                response.headers["Idempotent-Replayed"] = "true"
                response.headers["Idempotency-Key"] = key
                return response
            try:
                response = await handler(request)
            except StripeError as exc:
                response = exc.response()
            if isinstance(response, web.Response) and response.status < 500 and \
                    response.status not in (409, 429):
                cache.answers[scope] = _Replay(fingerprint, response.status,
                                               response.body or b"",  # type: ignore[arg-type]
                                               response.content_type)
            response.headers["Idempotency-Key"] = key
            return response

    return middleware


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Request-Id", new_id("req_", 14))


class StripeEmulator:
    """The assembled emulator: one aiohttp application plus the parts it wires together."""

    def __init__(self, config: EmulatorConfig) -> None:
        """Build the application; nothing listens until ``start``."""
        self.config = config
        self.public_port = config.port
        self.bus = EventBus()
        self.bridge = LocalstripeBridge()
        self.payments = PaymentsExtension(self.bridge, self.bus)
        self.connect = ConnectExtension(self.bus, self.base_url, self.bridge.charges_net)
        self.idempotency = IdempotencyCache()
        self.app = web.Application(middlewares=[
            error_middleware, auth_middleware, idempotency_middleware(self.idempotency)])
        self.app.on_response_prepare.append(_add_request_id)
        self.app.add_routes([
            web.get("/_devstack/health", self.health),
            web.get("/_devstack/events", self.devstack_events),
            web.delete("/_devstack/events", self.clear_events),
            web.get("/_devstack/deliveries", self.devstack_deliveries),
            web.post("/_devstack/events/{id}/redeliver", self.redeliver),
            web.post("/_devstack/reset", self.reset),
            web.delete("/_config/data", self.reset),
            web.post("/_config/webhooks/{name}", self.config_webhook),
            web.delete("/_config/webhooks/{name}", self.delete_webhook),
            web.get("/v1/events", self.list_events),
            web.get("/v1/events/{id}", self.retrieve_event),
            web.route("*", "/v1/payouts", self.payouts),
            web.route("*", "/v1/payouts/{id}", self.payouts),
            *self.connect.routes(),
            *self.payments.routes(),
            web.route("*", "/{tail:.*}", self.payments.relay),  # everything else: localstripe
        ])
        self._runner: web.AppRunner | None = None

    def base_url(self) -> str:
        """The emulator's public base URL (used in account and login links)."""
        return f"http://{self.config.host}:{self.public_port}"

    async def start(self) -> None:
        """Start localstripe, the webhook sender, then listen on the public port."""
        install_patches(self._on_localstripe_event)
        await self.bridge.start(self.config.host, self.config.localstripe_port)
        await self.bus.start()
        if self.config.webhook_url:
            self.bus.register("default", self.config.webhook_url, self.config.webhook_secret)
            self.bus.register("connect", self.config.webhook_url,
                              self.config.connect_webhook_secret, connect=True)
        self._runner = web.AppRunner(self.app, access_log=logging.getLogger("aiohttp.access"),
                                     access_log_format='%r %s %b %Tfs')
        await self._runner.setup()
        sock = bind_socket(self.config.host, self.config.port)
        self.public_port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Stop listening, flush pending webhooks briefly, stop localstripe."""
        if self._runner is not None:
            await self._runner.cleanup()
        await self.bus.stop()
        await self.bridge.stop()

    def _on_localstripe_event(self, event: object) -> None:
        """localstripe's events, published through the emulator's signed delivery."""
        self.bus.publish(
            event.type,  # type: ignore[attr-defined]
            self.payments.normalize(event.data["object"]),  # type: ignore[attr-defined]
            event_id=event.id,  # type: ignore[attr-defined]
            created=event.created,  # type: ignore[attr-defined]
        )

    # -- routes --

    async def health(self, request: web.Request) -> web.Response:
        """``GET /_devstack/health``: the emulator is up (and where localstripe is)."""
        return json_response({"status": "ok", "localstripe_port": self.bridge.port,
                              "webhooks": [e.url for e in self.bus.endpoints.values()]})

    async def devstack_events(self, request: web.Request) -> web.Response:
        """``GET /_devstack/events``: every event sent, oldest first (filters: ``type``,
        ``account``, ``after`` = an event id)."""
        events = list(self.bus.events)
        after = request.query.get("after")
        if after:
            ids = [event["id"] for event in events]
            events = events[ids.index(after) + 1:] if after in ids else events
        for name in ("type", "account"):
            if name in request.query:
                events = [e for e in events if e.get(name) == request.query[name]]
        return json_response({"object": "list", "data": events, "has_more": False,
                              "url": "/_devstack/events"})

    async def clear_events(self, request: web.Request) -> web.Response:
        """``DELETE /_devstack/events``: forget the event log."""
        self.bus.reset()
        return json_response({"deleted": True})

    async def devstack_deliveries(self, request: web.Request) -> web.Response:
        """``GET /_devstack/deliveries``: per event and endpoint, attempts and outcome."""
        return json_response({"object": "list",
                              "data": [d.as_dict() for d in self.bus.deliveries]})

    async def redeliver(self, request: web.Request) -> web.Response:
        """``POST /_devstack/events/{id}/redeliver``: send an event again (dedupe tests)."""
        event = self.bus.find(request.match_info["id"])
        if event is None:
            raise StripeError(404, "No such event", code="resource_missing")
        self.bus.enqueue(event)
        return json_response(event)

    async def reset(self, request: web.Request) -> web.Response:
        """``POST /_devstack/reset`` (also ``DELETE /_config/data``): forget every object,
        event and stored idempotent answer; webhook endpoints stay."""
        self.bridge.reset()
        self.connect.reset()
        self.payments.reset()
        self.idempotency.clear()
        self.bus.reset()
        return json_response({"reset": True})

    async def config_webhook(self, request: web.Request) -> web.Response:
        """``POST /_config/webhooks/{name}`` (localstripe's API): ``url``, ``secret``,
        optional ``events[]``, and ``connect`` (Stripe's webhook endpoint flag: ``true`` takes
        connected accounts' events, the default ``false`` the platform's own)."""
        params = await read_params(request)
        url, secret, events = params.get("url"), params.get("secret"), params.get("events")
        if not isinstance(url, str) or not url.startswith("http") or not secret:
            raise StripeError(400, "url (http...) and secret are required")
        connect = params.get("connect", "false")
        if connect not in ("true", "false"):
            raise StripeError(400, "connect must be true or false", param="connect")
        self.bus.register(request.match_info["name"], url, str(secret),
                          events if isinstance(events, list) else None,
                          connect=connect == "true")
        return web.Response()

    async def delete_webhook(self, request: web.Request) -> web.Response:
        """``DELETE /_config/webhooks/{name}``: stop sending to that endpoint."""
        self.bus.endpoints.pop(request.match_info["name"], None)
        return web.Response()

    async def list_events(self, request: web.Request) -> web.Response:
        """``GET /v1/events`` from the emulator's own log (``type`` filter)."""
        params = await read_params(request)
        wanted = params.get("type")
        return json_response(list_response(
            self.bus.events, "/v1/events", params,
            predicate=lambda e: wanted is None or e["type"] == wanted))

    async def retrieve_event(self, request: web.Request) -> web.Response:
        """``GET /v1/events/{id}``."""
        event = self.bus.find(request.match_info["id"])
        if event is None:
            raise StripeError(404, f"No such event: '{request.match_info['id']}'",
                              code="resource_missing", param="id")
        return json_response(event)

    async def payouts(self, request: web.Request) -> web.StreamResponse:
        """``/v1/payouts``: a connected account's (``Stripe-Account``) here, else localstripe."""
        account = request.headers.get("Stripe-Account")
        if account:
            return await self.connect.connected_payouts(request, account)
        return await self.payments.relay(request)


async def serve(config: EmulatorConfig, stop: asyncio.Event | None = None) -> None:
    """Run the emulator until ``stop`` is set (or SIGTERM/SIGINT when run as a program)."""
    emulator = StripeEmulator(config)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await emulator.start()
    print(f"stripe emulator listening on {emulator.base_url()} "
          f"(localstripe on {config.host}:{emulator.bridge.port}; webhooks -> "
          f"{config.webhook_url or 'none'})", flush=True)
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    """CLI: ``python -m devstack.stripe_emulator --port 8420 --webhook-url ... --webhook-secret
    ... --connect-webhook-secret ...`` (defaults from ``STRIPE_EMULATOR_PORT``,
    ``LOCALSTRIPE_PORT``, ``STRIPE_WEBHOOK_URL``, ``STRIPE_WEBHOOK_SECRET``,
    ``STRIPE_CONNECT_WEBHOOK_SECRET``)."""
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m devstack.stripe_emulator",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int,
                        default=int(env.get("STRIPE_EMULATOR_PORT")
                                    or PORT_DEFAULTS["STRIPE_EMULATOR_PORT"]))
    parser.add_argument("--localstripe-port", type=int,
                        default=int(env.get("LOCALSTRIPE_PORT") or 0),
                        help="internal port of localstripe (0: any free port)")
    parser.add_argument("--webhook-url", default=env.get("STRIPE_WEBHOOK_URL",
                                                         DEFAULT_WEBHOOK_URL),
                        help="where events are POSTed ('' for nowhere)")
    parser.add_argument("--webhook-secret", default=env.get(
        "STRIPE_WEBHOOK_SECRET", APP_ENV_DEFAULTS["STRIPE_WEBHOOK_SECRET"]),
                        help="signs the platform's events")
    parser.add_argument("--connect-webhook-secret", default=env.get(
        "STRIPE_CONNECT_WEBHOOK_SECRET", APP_ENV_DEFAULTS["STRIPE_CONNECT_WEBHOOK_SECRET"]),
                        help="signs connected accounts' events (those with `account`)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = EmulatorConfig(args.host, args.port, args.localstripe_port, args.webhook_url,
                            args.webhook_secret, args.connect_webhook_secret)
    asyncio.run(serve(config))


# -- for pytest --


@contextlib.contextmanager
def running_stripe_emulator(
    port: int = 0,
    webhook_url: str = "",
    secret: str = APP_ENV_DEFAULTS["STRIPE_WEBHOOK_SECRET"],
    *,
    connect_secret: str = APP_ENV_DEFAULTS["STRIPE_CONNECT_WEBHOOK_SECRET"],
    localstripe_port: int = 0,
    log_path: Path | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[str]:
    """Run the emulator as a subprocess; yields its base URL (``http://127.0.0.1:<port>``).

    ``port=0`` picks a free port, as does ``localstripe_port=0`` for the internal one. Events
    are signed with ``secret`` (Connect events: ``connect_secret``) and POSTed to
    ``webhook_url`` (``""``: recorded only, readable at ``GET /_devstack/events``). The process
    group is killed on exit, localstripe included (it runs inside the emulator process). Output
    goes to ``log_path`` (default: a temp file, whose tail is in the error if the emulator does
    not start).
    """
    port = port or free_port()
    base_url = f"http://{HOST}:{port}"
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="stripe-emulator-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devstack.stripe_emulator", "--port", str(port),
             "--localstripe-port", str(localstripe_port), "--webhook-url", webhook_url,
             "--webhook-secret", secret, "--connect-webhook-secret", connect_secret],
            stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT,
            start_new_session=True,
        )
    try:
        if not wait_for_http(f"{base_url}/_devstack/health", startup_timeout,
                             alive=lambda: proc.poll() is None):
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"stripe emulator did not start on {base_url}:\n{tail}")
        yield base_url
    finally:
        stop_process_group(proc)

if __name__ == "__main__":
    main()

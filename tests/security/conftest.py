"""Fixtures of the security suite: cheap password hashing, one world of every role."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="package", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Still argon2id, with minimal cost: this suite creates many users and agencies.

    The production parameters are a property of ``chalicelib.services.passwords`` and are not
    what these tests check; verification reads the parameters from each stored hash.
    """
    from argon2 import PasswordHasher

    from chalicelib.services import passwords

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher",
                      PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        yield


_addresses = itertools.count(1)


@pytest.fixture(autouse=True)
def own_source_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test signs in from its own address: the per-IP login limit (20 failures in 15
    minutes) must not carry one test's failed sign-ins into the next through a module-wide
    world. Tests about that limit choose their addresses themselves."""
    from chalice.local import LambdaEventConverter

    n = next(_addresses)
    # 198.18.0.0/15 is reserved for testing; only the gateway's event carries it.
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP",
                        f"198.{18 + n // 65536 % 2}.{n // 256 % 256}.{n % 256}")


@pytest.fixture(scope="session")
def fast_app_url(live_app_url: str) -> Iterator[str]:
    """The app on its own real HTTP port, with TCP_NODELAY on the server's sockets.

    chalice local's handler writes the headers and the body in two sends; with Nagle's
    algorithm on, each answer waits ~40 ms for the client's delayed ACK. Thousands of fuzzed
    requests make that the cost of the suite, so this server turns Nagle off. Same app
    object, same request path as ``live_app_url`` (which it depends on so that chalice
    local's app wrapper is already in place).
    """
    import threading

    from chalice.config import Config
    from chalice.local import ChaliceRequestHandler, LocalDevServer

    from app import app
    from tests.conftest import ROOT, free_port

    class NoDelayHandler(ChaliceRequestHandler):
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            """One stderr line per request is noise in a suite of thousands."""

    port = free_port()
    config = Config.create(chalice_stage="test", app_name="agency-accounts", chalice_app=app,
                           project_dir=str(ROOT))
    server = LocalDevServer(app, config, "127.0.0.1", port, handler_cls=NoDelayHandler)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()

"""The benchmark's environment: a real moto DynamoDB server over HTTP and the app's settings.

PynamoDB reads the table name and the endpoint when its models are defined, so the environment
is fixed here before anything under ``chalicelib`` (or ``app``) is imported. Inside pytest the
root ``tests/conftest.py`` has already done exactly that; the harness then reuses its server.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

BENCH_ENV: dict[str, str] = {
    "APP_STAGE": "local",  # plain secrets, as in the local stack
    "TABLE_NAME": "agency-accounts-bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "STRIPE_SECRET_KEY": "sk_test_local",
    "STRIPE_API_BASE": "http://127.0.0.1:9",  # replaced once the emulator runs
    "STRIPE_WEBHOOK_SECRET": "whsec_bench",
    "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_local_connect",  # the emulator's default
    "JWT_SECRET": "bench-jwt-secret-0123456789abcdef",
    "PLATFORM_API_KEY": "bench-platform-key",
    "PUBLIC_BASE_URL": "http://127.0.0.1:8080",
    "OUTBOX_ENABLED": "1",
    "CORS_ALLOW_ORIGINS": "*",
}


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class BenchEnvironment:
    """Where DynamoDB answers and whether this process started it."""

    dynamodb_url: str
    platform_key: str
    owns_server: bool
    server: Any = None

    def stop(self) -> None:
        """Stop the moto server if the harness started it."""
        if self.owns_server and self.server is not None:
            self.server.stop()
            self.server = None


_current: BenchEnvironment | None = None


def prepare_environment() -> BenchEnvironment:
    """Set the env and start moto, unless a harness (pytest's conftest) already did."""
    global _current
    if _current is not None:
        return _current
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    reuse = "chalicelib.store.base" in sys.modules or "tests.conftest" in sys.modules
    if reuse:
        endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
        _current = BenchEnvironment(endpoint, os.environ["PLATFORM_API_KEY"], owns_server=False)
        return _current
    import logging

    from moto.server import ThreadedMotoServer

    from devstack.moto_dynamodb import apply as apply_moto_fixes

    # The same DynamoDB behaviour as the tests and the local stack (ClientRequestToken,
    # conflicts, isolation): vanilla moto refuses the app's transactions.
    apply_moto_fixes()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access line per call
    port = free_port()
    os.environ.update(BENCH_ENV)
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    _current = BenchEnvironment(os.environ["AWS_ENDPOINT_URL_DYNAMODB"],
                                os.environ["PLATFORM_API_KEY"], owns_server=True, server=server)
    return _current


def reset_table() -> None:
    """Wipe the emulator and create the single table afresh (``infra/table.json``)."""
    import requests

    from chalicelib.store.table import create_table

    requests.post(f"{os.environ['AWS_ENDPOINT_URL_DYNAMODB']}/moto-api/reset", timeout=10)
    # Named explicitly: the first reset runs before ``import app`` configures the store.
    create_table(os.environ["TABLE_NAME"])


def point_stripe_at(base_url: str) -> None:
    """Point the app's Stripe gateway at ``base_url`` (the emulator)."""
    from chalicelib import bootstrap

    os.environ["STRIPE_API_BASE"] = base_url
    bootstrap.build()

"""Test harness: a real moto DynamoDB server over HTTP, the env set before the app imports.

PynamoDB reads the table name and endpoint when its models are defined, so the environment
is fixed here at import time, before any ``chalicelib`` module is imported.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


DYNAMODB_PORT = free_port()
TEST_ENV = {
    "APP_STAGE": "test",  # secrets are the plain values below (SPEC section 4: not in AWS)
    "TABLE_NAME": "agency-accounts-test",
    "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{DYNAMODB_PORT}",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "STRIPE_SECRET_KEY": "sk_test_local",
    "STRIPE_API_BASE": "http://127.0.0.1:9",  # replaced by the stripe_emulator fixture
    "STRIPE_WEBHOOK_SECRET": "whsec_test",
    "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_test_connect",
    "JWT_SECRET": "test-jwt-secret-0123456789abcdef",
    "PLATFORM_API_KEY": "test-platform-key",
    "PUBLIC_BASE_URL": "http://127.0.0.1:8080",
    "OUTBOX_ENABLED": "1",
    "CORS_ALLOW_ORIGINS": "*",
}
os.environ.update(TEST_ENV)

from moto.server import ThreadedMotoServer  # noqa: E402

from devstack.moto_dynamodb import apply as apply_moto_fixes  # noqa: E402

apply_moto_fixes()
logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per emulator request is noise

_moto = ThreadedMotoServer(ip_address="127.0.0.1", port=DYNAMODB_PORT, verbose=False)
_moto.start()

from chalicelib import bootstrap  # noqa: E402

# The composition root, as app.py builds it: every test that imports a service directly
# finds the store, the clock, Stripe and the mailer configured from TEST_ENV.
bootstrap.build()

pytest_plugins = ["tests.stripe_fixtures"]

PLATFORM_HEADERS = {"Authorization": f"Bearer {TEST_ENV['PLATFORM_API_KEY']}"}


def reset_table() -> None:
    """Wipe every emulator resource and create the table afresh."""
    import requests

    from chalicelib.store.table import create_table

    requests.post(f"{TEST_ENV['AWS_ENDPOINT_URL_DYNAMODB']}/moto-api/reset", timeout=10)
    create_table()


@pytest.fixture
def table() -> Iterator[None]:
    """A fresh, empty single table."""
    reset_table()
    yield


@pytest.fixture
def app_client(table: None) -> Iterator[Any]:
    """``chalice.test.Client`` on the real app (stage ``test``: env comes from TEST_ENV)."""
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        yield client


class DynamoCallCounter:
    """Counts DynamoDB API calls by operation name (instrumentation, not a mock)."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.by_thread: collections.defaultdict[int, collections.Counter[str]] = (
            collections.defaultdict(collections.Counter))

    def reset(self) -> None:
        """Forget what was counted."""
        self.calls.clear()
        self.by_thread.clear()

    def in_this_thread(self) -> collections.Counter[str]:
        """Calls made by the calling thread only (not, say, a webhook the emulator sent to
        the live app meanwhile)."""
        return self.by_thread[threading.get_ident()]

    @property
    def total(self) -> int:
        """All calls counted."""
        return sum(self.calls.values())


@pytest.fixture
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> DynamoCallCounter:
    """Count every botocore call the code under test makes to DynamoDB."""
    from botocore.client import BaseClient

    counter = DynamoCallCounter()
    original = BaseClient._make_api_call

    def counting(self: BaseClient, operation_name: str, api_params: dict) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            counter.calls[operation_name] += 1
            counter.by_thread[threading.get_ident()][operation_name] += 1
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return counter


@pytest.fixture
def dynamodb_faults() -> Iterator[Any]:
    """The local DynamoDB's fault switch (``devstack.moto_dynamodb.FAULTS``), off afterwards.

    moto runs in this process, so the switch acts on the app's real calls:
    ``dynamodb_faults.set(throttle=0.1, conflict=0.05, lost_response=0.02, seed=7)``.
    """
    from devstack.moto_dynamodb import FAULTS

    FAULTS.off()
    yield FAULTS
    FAULTS.off()

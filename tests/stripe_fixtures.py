"""Pytest plugin: the local Stripe emulator (localstripe + our Connect extension) over HTTP,
and the app served by ``chalice local``'s own server so the emulator's signed webhooks reach
the real ``/v1/stripe/webhook`` route.

Tests talk to Stripe only through the real ``stripe`` client over HTTP; nothing is mocked.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import ROOT, TEST_ENV, free_port


@pytest.fixture(scope="session")
def live_app_url() -> Iterator[str]:
    """The app on a real HTTP port (chalice local's server), for webhook deliveries."""
    from chalice.config import Config
    from chalice.local import create_local_server

    from app import app

    port = free_port()
    config = Config.create(chalice_stage="test", app_name="agency-accounts", chalice_app=app,
                           project_dir=str(ROOT))
    server = create_local_server(app, config, "127.0.0.1", port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{url}/v1/openapi.json", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    yield url
    server.shutdown()


@pytest.fixture(scope="session")
def stripe_emulator(live_app_url: str) -> Iterator[str]:
    """Base URL of the Stripe emulator; the app's gateway points at it for the session."""
    from chalicelib import bootstrap
    from devstack.stripe_emulator import running_stripe_emulator

    port = free_port()
    webhook_url = f"{live_app_url}/v1/stripe/webhook"
    with running_stripe_emulator(
            port, webhook_url, TEST_ENV["STRIPE_WEBHOOK_SECRET"],
            connect_secret=TEST_ENV["STRIPE_CONNECT_WEBHOOK_SECRET"]) as base:
        os.environ["STRIPE_API_BASE"] = base
        bootstrap.build()
        yield base
        os.environ["STRIPE_API_BASE"] = TEST_ENV["STRIPE_API_BASE"]
        bootstrap.build()


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns a truthy value (webhooks arrive asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)

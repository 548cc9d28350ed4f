"""``python -m devstack.run`` end to end, on a tiny stand-in Chalice project and free ports.

The stand-in app checks what the supervisor must provide: its table exists in the moto server
named by the environment, and Stripe webhooks reach it signed with ``STRIPE_WEBHOOK_SECRET``, or
``STRIPE_CONNECT_WEBHOOK_SECRET`` for Connect events.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack.defaults import APP_ENV_DEFAULTS, PORT_DEFAULTS
from devstack.proc import free_port, port_open
from devstack.stripe_emulator import REPO_ROOT

APP_PY = '''
import json
import os

import boto3
import stripe
from chalice import Chalice, Rate

app = Chalice(app_name="fake-stack")
RECEIVED = []


@app.route("/v1/health")
def health():
    names = boto3.client("dynamodb").list_tables()["TableNames"]
    # As the real app's Powertools logger does: one JSON line per request.
    print(json.dumps({"level": "INFO", "message": "request", "route": "/v1/health",
                      "correlation_id": app.current_request.headers.get("x-request-id")}),
          flush=True)
    return {"status": "ok" if os.environ["TABLE_NAME"] in names else "no table"}


@app.route("/v1/stripe/webhook", methods=["POST"], content_types=["application/json"])
def webhook():
    request = app.current_request
    # Connect events (``account`` set) are signed with the Connect endpoint's own secret.
    connect = json.loads(request.raw_body).get("account") is not None
    event = stripe.Webhook.construct_event(
        request.raw_body, request.headers["stripe-signature"],
        os.environ["STRIPE_CONNECT_WEBHOOK_SECRET" if connect else "STRIPE_WEBHOOK_SECRET"])
    RECEIVED.append({"type": event.type, "account": event.to_dict().get("account")})
    return {"received": True}


@app.route("/v1/debug/webhooks")
def received():
    return {"data": RECEIVED}


@app.schedule(Rate(1, unit=Rate.HOURS))
def hourly(event):
    return "ok"
'''

TABLE_PY = '''
import os

import boto3


def create_table():
    boto3.client("dynamodb").create_table(
        TableName=os.environ["TABLE_NAME"], BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}])
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minimal Chalice project laid out like ours."""
    root = tmp_path_factory.mktemp("fake-project")
    (root / "app.py").write_text(textwrap.dedent(APP_PY))
    (root / "chalicelib" / "store").mkdir(parents=True)
    (root / "chalicelib" / "__init__.py").write_text("")
    # The composition root devstack's table step builds first (nothing to build here).
    (root / "chalicelib" / "bootstrap.py").write_text("def build():\n    return None\n")
    (root / "chalicelib" / "store" / "__init__.py").write_text("")
    (root / "chalicelib" / "store" / "table.py").write_text(textwrap.dedent(TABLE_PY))
    (root / ".chalice").mkdir()
    (root / ".chalice" / "config.json").write_text(json.dumps({
        "version": "2.0", "app_name": "fake-stack",
        "stages": {"local": {"api_gateway_stage": "local"}}}))
    return root


class Stack:
    """A running ``devstack.run`` and its output."""

    def __init__(self, project: Path) -> None:
        self.ports = {name: free_port() for name in PORT_DEFAULTS}
        env = {k: v for k, v in os.environ.items() if k not in APP_ENV_DEFAULTS}
        env.update({name: str(number) for name, number in self.ports.items()})
        env["PYTHONPATH"] = str(REPO_ROOT)
        self.api = f"http://127.0.0.1:{self.ports['API_PORT']}"
        self.stripe = f"http://127.0.0.1:{self.ports['STRIPE_EMULATOR_PORT']}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devstack.run", "--project-dir", str(project),
             "--ready-timeout", "60"],
            env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self.lines: list[str] = []
        # A reader thread, so waiting for a line never blocks past its deadline.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, wanted: str, timeout: float = 60) -> None:
        """Wait until the output has a line equal to ``wanted`` (fails on exit or timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if wanted in self.lines:
                return
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"no {wanted!r} line; output so far:\n" + "\n".join(self.lines))

    def finish(self, timeout: float = 30) -> int:
        """Wait for the supervisor to exit and for the rest of its output."""
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def kill(self) -> None:
        """Last resort for a failed test: the supervisor's whole group."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def stack(project: Path) -> Iterator[Stack]:
    """``devstack.run`` on the fake project; always torn down."""
    running = Stack(project)
    try:
        yield running
    finally:
        running.kill()


def test_ready_then_sigterm_stops_every_process(stack: Stack) -> None:
    stack.wait_for_line("ready")

    assert requests.get(f"{stack.api}/v1/health", timeout=10,
                        headers={"X-Request-Id": "echo-me-1"}).json() == {"status": "ok"}
    # The API's JSON log lines reach `make run`'s own output, not only its log file.
    stack.wait_for_line(json.dumps({"level": "INFO", "message": "request", "route": "/v1/health",
                                    "correlation_id": "echo-me-1"}), timeout=10)
    assert any("seed: WARNING" in line for line in stack.lines)  # no seed routes here
    assert any("owner@demo.agency / demo-owner-pass-1" in line for line in stack.lines)
    # The emulator delivers signed events to the app, with the secret the app was given.
    auth = {"Authorization": f"Bearer {APP_ENV_DEFAULTS['STRIPE_SECRET_KEY']}"}
    account = requests.post(f"{stack.stripe}/v1/accounts", data={"type": "express"},
                            headers=auth, timeout=10).json()
    requests.post(f"{stack.stripe}/v1/test_helpers/accounts/{account['id']}/complete_onboarding",
                  headers=auth, timeout=10).raise_for_status()
    deadline = time.monotonic() + 10
    received: list[dict[str, str]] = []
    while time.monotonic() < deadline and not received:
        received = requests.get(f"{stack.api}/v1/debug/webhooks", timeout=10).json()["data"]
        time.sleep(0.1)
    assert received == [{"type": "account.updated", "account": account["id"]}]

    stack.proc.send_signal(signal.SIGTERM)

    assert stack.finish() == 0
    assert not [name for name, number in stack.ports.items() if port_open(number)]


def test_a_dying_child_stops_everything_with_a_nonzero_exit(stack: Stack, project: Path) -> None:
    stack.wait_for_line("ready")
    state = json.loads((project / ".devstack" / "state.json").read_text())

    os.killpg(state["children"]["stripe-emulator"]["pid"], signal.SIGKILL)

    assert stack.finish() == 1
    assert any("stripe-emulator exited with code" in line for line in stack.lines)
    assert not [name for name, number in stack.ports.items() if port_open(number)]
    assert not (project / ".devstack" / "state.json").exists()


def test_the_local_defaults_are_the_fixed_ones_of_the_spec() -> None:
    # SPEC section 4: scripts and external tests drive the local stack with these values.
    assert {name: APP_ENV_DEFAULTS[name] for name in (
        "PLATFORM_API_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_CONNECT_WEBHOOK_SECRET",
        "OUTBOX_ENABLED")} == {
        "PLATFORM_API_KEY": "local-platform-key", "STRIPE_WEBHOOK_SECRET": "whsec_local",
        "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_local_connect", "OUTBOX_ENABLED": "1"}

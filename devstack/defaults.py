"""The local stack's fixed defaults, in one place.

SPEC section 4 fixes the local URLs and keys so that scripts and external tests can drive the
stack without configuration. Every value here can be overridden by the parent environment;
``child_env`` is the single function that merges the two, so the supervisor, the scheduler CLI
and the tests all agree on what the app processes see.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# The environment contract of the app (SPEC section 4), with the local stack's values.
APP_ENV_DEFAULTS: dict[str, str] = {
    # The local stack: secrets are the plain values below (in AWS, Secrets Manager names).
    "APP_STAGE": "local",
    "TABLE_NAME": "agency-accounts-local",
    "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8001",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "STRIPE_SECRET_KEY": "sk_test_local",
    "STRIPE_API_BASE": "http://127.0.0.1:8420",
    "STRIPE_WEBHOOK_SECRET": "whsec_local",
    # The Connect extension signs connected accounts' events with it, as Stripe signs a
    # Connect endpoint's events with that endpoint's own secret.
    "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_local_connect",
    "JWT_SECRET": "local-jwt-secret-change-me-0123456789",
    "PLATFORM_API_KEY": "local-platform-key",
    "PUBLIC_BASE_URL": "http://127.0.0.1:8080",
    "OUTBOX_ENABLED": "1",
    "CORS_ALLOW_ORIGINS": "*",
}

# Ports of the processes the supervisor starts (env var name -> default).
PORT_DEFAULTS: dict[str, int] = {
    "API_PORT": 8000,
    "DYNAMODB_PORT": 8001,
    "STRIPE_EMULATOR_PORT": 8420,
    "LOCALSTRIPE_PORT": 8421,
    "WEB_PORT": 8080,
}

HOST = "127.0.0.1"
WEBHOOK_PATH = "/v1/stripe/webhook"
JOB_NAMES: tuple[str, ...] = ("auto-allocation", "plan-renewal", "payout-sweep", "reconciliation")


def port(name: str, env: Mapping[str, str] | None = None) -> int:
    """The port ``name`` (a key of ``PORT_DEFAULTS``), overridable by the environment."""
    source = os.environ if env is None else env
    return int(source.get(name) or PORT_DEFAULTS[name])


def api_base_url(env: Mapping[str, str] | None = None) -> str:
    """Base URL of ``chalice local``."""
    return f"http://{HOST}:{port('API_PORT', env)}"


def child_env(parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for every child process: parent env over the local defaults.

    When only a port is overridden (``DYNAMODB_PORT``, ``STRIPE_EMULATOR_PORT``), the URL that
    points at it follows, so one override is enough to move a service.
    """
    source = dict(os.environ if parent is None else parent)
    derived = dict(APP_ENV_DEFAULTS)
    derived["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://{HOST}:{port('DYNAMODB_PORT', source)}"
    derived["STRIPE_API_BASE"] = f"http://{HOST}:{port('STRIPE_EMULATOR_PORT', source)}"
    for name, value in derived.items():
        if not source.get(name):
            source[name] = value
    for name, default in PORT_DEFAULTS.items():
        source.setdefault(name, str(default))
    source.setdefault("STRIPE_WEBHOOK_URL", api_base_url(source) + WEBHOOK_PATH)
    # Children print as they go, so their logs are useful while they are still running.
    source.setdefault("PYTHONUNBUFFERED", "1")
    return source

"""One webhook route, two Stripe endpoints, two secrets (SPEC 3, ``POST /v1/stripe/webhook``).

Stripe signs a Connect endpoint's events (those of connected accounts, with a top-level
``account``) with that endpoint's own secret: they verify only against
``STRIPE_CONNECT_WEBHOOK_SECRET``; the platform's own events only against
``STRIPE_WEBHOOK_SECRET``. Each test takes a real event from the emulator (its delivery paused),
posts it signed with the wrong secret (400, nothing written), then with the right one (applied).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import requests

from tests.conftest import TEST_ENV
from tests.e2e.connect.helpers import stripe_post
from tests.e2e.payments.support import STRIPE_HEADERS, add_card, buy, new_subaccount, seconds
from tests.helpers import Answer, call, create_agency
from tests.stripe_fixtures import wait_for

PLATFORM_SECRET = TEST_ENV["STRIPE_WEBHOOK_SECRET"]
CONNECT_SECRET = TEST_ENV["STRIPE_CONNECT_WEBHOOK_SECRET"]


@contextlib.contextmanager
def deliveries_paused(emulator: str, live_app_url: str, *, connect: bool) -> Iterator[None]:
    """Stop the emulator's platform (``default``) or Connect (``connect``) endpoint; events are
    still recorded. The endpoint is registered again afterwards, as the fixture made it."""
    name = "connect" if connect else "default"
    requests.delete(f"{emulator}/_config/webhooks/{name}", timeout=10)
    try:
        yield
    finally:
        requests.post(f"{emulator}/_config/webhooks/{name}", timeout=10, data={
            "url": f"{live_app_url}/v1/stripe/webhook",
            "secret": CONNECT_SECRET if connect else PLATFORM_SECRET,
            "connect": "true" if connect else "false"}).raise_for_status()


def recorded_event(emulator: str, predicate: Any, **query: str) -> dict[str, Any]:
    """The first event of the emulator's log matching ``query`` and ``predicate``."""
    def find() -> dict[str, Any] | None:
        answer = requests.get(f"{emulator}/_devstack/events", params=query, timeout=10)
        return next((e for e in answer.json()["data"] if predicate(e)), None)

    return wait_for(find)


def deliver(client: Any, event: dict[str, Any], secret: str) -> tuple[bytes, Answer]:
    """POST ``event`` to the webhook route signed with ``secret``."""
    from devstack.stripe_webhooks import signature_header

    payload = json.dumps(event).encode()
    answer = call(client, "POST", "/v1/stripe/webhook", raw=payload,
                  headers={"Stripe-Signature": signature_header(payload, secret)})
    return payload, answer


def table_items() -> list[dict[str, Any]]:
    """Every item but the processed-event markers (test-only scan): the emulator may still be
    delivering events of earlier tests, each of which leaves a marker."""
    import boto3

    from chalicelib.services.ports import ports

    settings = ports().settings
    client = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url_dynamodb,
                          region_name=settings.aws_default_region)
    items = [item for page in client.get_paginator("scan").paginate(
                 TableName=settings.table_name, ConsistentRead=True)
             for item in page["Items"] if not item["PK"]["S"].startswith("STRIPEEVT#")]
    return sorted(items, key=lambda item: (item["PK"]["S"], item["SK"]["S"]))


def connect_status(client: Any, token: str) -> str:
    answer = call(client, "GET", "/v1/agency/connect", token=token)
    assert answer.status == 200, answer.body
    return str(answer.body["status"])


def test_a_connect_event_verifies_only_against_the_connect_secret(
        app_client: Any, stripe_emulator: str, live_app_url: str) -> None:
    agency = create_agency(app_client)
    started = call(app_client, "POST", "/v1/agency/connect/onboarding", token=agency.owner_token)
    assert started.status == 200, started.body
    account_id = started.body["account_id"]
    with deliveries_paused(stripe_emulator, live_app_url, connect=True):
        stripe_post(stripe_emulator, f"/v1/test_helpers/accounts/{account_id}/complete_onboarding")
        event = recorded_event(stripe_emulator, lambda e: True, type="account.updated",
                               account=account_id)
    before = table_items()

    _, refused = deliver(app_client, event, PLATFORM_SECRET)

    assert refused.status == 400, refused.body
    assert refused.error_code == "invalid_signature"
    assert table_items() == before
    assert connect_status(app_client, agency.owner_token) == "initiating"

    _, accepted = deliver(app_client, event, CONNECT_SECRET)

    assert accepted.status == 200, accepted.body
    assert connect_status(app_client, agency.owner_token) == "connected"


def test_a_platform_event_verifies_only_against_the_platform_secret(
        app_client: Any, stripe_emulator: str, live_app_url: str) -> None:
    agency = create_agency(app_client)
    sid = new_subaccount(app_client, agency, premium="0.20")
    add_card(app_client, agency.owner_token, sid)
    purchase = buy(app_client, agency.owner_token, sid, minutes=100)
    assert purchase.status == 201, purchase.body
    intent_id = purchase.body["payment_intent_id"]
    with deliveries_paused(stripe_emulator, live_app_url, connect=False):
        refunded = requests.post(f"{stripe_emulator}/v1/refunds", headers=STRIPE_HEADERS,
                                 data={"payment_intent": intent_id}, timeout=10)
        assert refunded.status_code == 200, refunded.text
        event = recorded_event(
            stripe_emulator, lambda e: e["data"]["object"].get("payment_intent") == intent_id,
            type="charge.refunded")
    assert "account" not in event
    before = table_items()

    _, refused = deliver(app_client, event, CONNECT_SECRET)

    assert refused.status == 400, refused.body
    assert refused.error_code == "invalid_signature"
    assert table_items() == before
    assert seconds(agency, sid) == 100 * 60

    _, accepted = deliver(app_client, event, PLATFORM_SECRET)

    assert accepted.status == 200, accepted.body
    assert seconds(agency, sid) == 0  # the full refund took the unused minutes back

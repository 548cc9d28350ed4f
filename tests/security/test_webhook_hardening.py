"""Webhook hardening: only Stripe's fresh, signed, first delivery of an event has an effect.

A real purchase (made through the API against the Stripe emulator) is the target of every
hostile event: a full refund of it would take its minutes and profit back, so "no effect"
is checked on the ledger and the purchase row, and on the whole table where nothing at all
may be written.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.conftest import ROOT, TEST_ENV, reset_table
from tests.helpers import AgencyFixture, Answer, call, create_agency

SECRET = TEST_ENV["STRIPE_WEBHOOK_SECRET"]


@dataclass
class Bought:
    """An agency, a sub-account and one succeeded purchase."""

    client: Any
    agency: AgencyFixture
    sid: str
    purchase: dict[str, Any]
    charge_id: str


def _buy(client: Any, emulator: str, n: int) -> Bought:
    """100 Premium minutes bought at USD 0.25 by a new agency's client."""
    agency = create_agency(client)
    made = call(client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
        "name": "Hooked", "login_email": f"hooked{n}@clients.example.com",
        "prices": {"basic": "0.15", "premium": "0.25"}})
    assert made.status == 201, made.body
    sid = made.body["id"]
    card = call(client, "POST", f"/v1/subaccounts/{sid}/payment-methods",
                token=agency.owner_token, body={"payment_method": "pm_card_visa"})
    assert card.status == 201, card.body
    purchase = call(client, "POST", f"/v1/subaccounts/{sid}/purchases",
                    token=agency.owner_token, body={"tier": "premium", "minutes": 100})
    assert purchase.status == 201, purchase.body
    intent = requests.get(
        f"{emulator}/v1/payment_intents/{purchase.body['payment_intent_id']}",
        headers={"Authorization": f"Bearer {TEST_ENV['STRIPE_SECRET_KEY']}"}, timeout=10)
    return Bought(client, agency, sid, purchase.body, intent.json()["latest_charge"])


@pytest.fixture(scope="module")
def module_client(stripe_emulator: str) -> Iterator[Any]:
    """One app client on a fresh table for the module."""
    from chalice.test import Client

    from app import app

    reset_table()
    with Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        yield client


@pytest.fixture(scope="module")
def bought(module_client: Any, stripe_emulator: str) -> Bought:
    """100 Premium minutes bought at USD 0.25 (USD 25.00, profit USD 9.00), shared by the
    tests that only check their own effect against the state just before it."""
    return _buy(module_client, stripe_emulator, 0)


_purchases = iter(range(1, 1_000_000))


@pytest.fixture
def untouched(module_client: Any, stripe_emulator: str) -> Bought:
    """A purchase of its own, never refunded: the test's outcome cannot depend on what
    other tests did before it (they refund ``bought``)."""
    fresh = _buy(module_client, stripe_emulator, next(_purchases))
    assert money_state(fresh) == UNTOUCHED
    return fresh


def event(event_type: str, obj: Any, *, event_id: str | None = None) -> bytes:
    """A Stripe event body."""
    return json.dumps({
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": event_type,
        "created": int(time.time()), "api_version": "2024-06-20", "livemode": False,
        "data": {"object": obj}, "pending_webhooks": 1, "request": {"id": None},
    }).encode()


def sign(payload: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header."""
    from devstack.stripe_webhooks import signature_header

    return signature_header(payload, secret, timestamp)


def deliver(client: Any, payload: bytes, header: str | None) -> Answer:
    """POST raw bytes to the webhook route."""
    headers = {"Stripe-Signature": header} if header is not None else {}
    return call(client, "POST", "/v1/stripe/webhook", raw=payload, headers=headers)


def refund_of(bought: Bought) -> dict[str, Any]:
    """A full refund of the purchase, as Stripe's charge object says it."""
    return {"id": bought.charge_id, "object": "charge", "amount": 2500,
            "amount_refunded": 2500, "refunded": True,
            "payment_intent": bought.purchase["payment_intent_id"], "metadata": {}}


def whole_table(*, without_event_markers: bool = False) -> list[dict[str, Any]]:
    """Every item (test-only scan).

    ``without_event_markers`` leaves out the processed-event markers: the emulator keeps
    delivering events of earlier test modules' purchases in the background, and each of
    those (about nothing in this table) leaves a marker. Tests check their own event's
    marker separately.
    """
    import boto3

    from chalicelib.services.ports import ports

    settings = ports().settings
    client = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url_dynamodb,
                          region_name=settings.aws_default_region)
    items = []
    for page in client.get_paginator("scan").paginate(TableName=settings.table_name,
                                                      ConsistentRead=True):
        items += [item for item in page["Items"]
                  if not (without_event_markers and item["PK"]["S"].startswith("STRIPEEVT#"))]
    return sorted(items, key=lambda item: (item["PK"]["S"], item["SK"]["S"]))


def marker_of(payload: bytes) -> bool:
    """Whether the event in ``payload`` was recorded as processed."""
    from chalicelib.store import keys
    from chalicelib.store.webhooks import StripeEventMarker

    try:
        event_id = json.loads(payload)["id"]
    except (ValueError, KeyError, TypeError):
        return False
    try:
        StripeEventMarker.get(keys.webhook_event_pk(str(event_id)), "EVENT", consistent_read=True)
    except StripeEventMarker.DoesNotExist:
        return False
    return True


def money_state(bought: Bought) -> dict[str, int]:
    """Wallet seconds, profit, card payments and the purchase's refunded cents."""
    from chalicelib.domain.ledger import AGENCY_PROFIT, Asset, card_payments, wallet
    from chalicelib.store.ledger import read_balance
    from chalicelib.store.payments import get_purchase

    agency_id = bought.agency.agency_id
    return {
        "seconds": read_balance(agency_id, wallet(bought.sid), Asset.PREMIUM_MINUTES).balance,
        "profit": read_balance(agency_id, AGENCY_PROFIT, Asset.USD).balance,
        "card": read_balance(agency_id, card_payments(bought.sid), Asset.USD).balance,
        "refunded": get_purchase(agency_id, bought.purchase["id"]).refunded_cents or 0,
    }


def refund_at_stripe(emulator: str, live_app_url: str, bought: Bought, cents: int) -> None:
    """Refund ``cents`` at Stripe, its own event held back: the test delivers the event
    (the webhook acts on what Stripe has refunded, never on an event's word alone)."""
    from tests.e2e.payments.support import webhooks_paused

    with webhooks_paused(emulator, live_app_url):
        answer = requests.post(f"{emulator}/v1/refunds", timeout=10, data={
            "payment_intent": bought.purchase["payment_intent_id"], "amount": cents},
            headers={"Authorization": f"Bearer {TEST_ENV['STRIPE_SECRET_KEY']}"})
        assert answer.status_code == 200, answer.text


#: SPEC money rules for 100 Premium minutes at USD 0.25 (base USD 0.16): 6,000 seconds,
#: charge USD 25.00, profit 100 × (0.25 − 0.16) = USD 9.00, nothing refunded.
UNTOUCHED = {"seconds": 6000, "profit": 9_000_000, "card": -25_000_000, "refunded": 0}



class TestSignature:
    """Anything but Stripe's signature over these exact bytes, made in the last 5 minutes."""

    @pytest.mark.parametrize("case", ["wrong_secret", "missing_header", "empty_header",
                                      "garbage_header", "no_v1", "tampered_body",
                                      "signature_of_other_body", "five_minutes_old",
                                      "a_day_old", "v0_scheme_only"])
    def test_is_400_and_writes_nothing(self, bought: Bought, case: str) -> None:
        payload = event("charge.refunded", refund_of(bought))
        now = int(time.time())
        header: str | None = sign(payload)
        body = payload
        if case == "wrong_secret":
            header = sign(payload, secret="whsec_guessed")
        elif case == "missing_header":
            header = None
        elif case == "empty_header":
            header = ""
        elif case == "garbage_header":
            header = "not a signature"
        elif case == "no_v1":
            header = f"t={now}"
        elif case == "tampered_body":
            body = payload.replace(b'"amount_refunded": 2500', b'"amount_refunded": 2499')
            assert body != payload
        elif case == "signature_of_other_body":
            header = sign(event("charge.refunded", refund_of(bought)))
        elif case == "five_minutes_old":
            header = sign(payload, timestamp=now - 301)
        elif case == "a_day_old":
            header = sign(payload, timestamp=now - 86_400)
        elif case == "v0_scheme_only":
            header = sign(payload).replace("v1=", "v0=")
        before, money_before = whole_table(without_event_markers=True), money_state(bought)
        answer = deliver(bought.client, body, header)
        assert answer.status == 400, answer.body
        assert answer.error_code == "invalid_signature", answer.body
        assert SECRET not in json.dumps(answer.body)
        assert whole_table(without_event_markers=True) == before
        assert not marker_of(body)
        assert money_state(bought) == money_before


class TestReplay:
    def test_replayed_event_id_applies_once(self, bought: Bought, stripe_emulator: str,
                                            live_app_url: str) -> None:
        """A partial refund event delivered again (same id, re-signed later, even with a
        different body) is acknowledged as a duplicate and changes nothing."""
        refund_at_stripe(stripe_emulator, live_app_url, bought, 500)
        obj = {**refund_of(bought), "amount_refunded": 500, "refunded": False}
        event_id = f"evt_replay_{uuid.uuid4().hex[:12]}"
        first = event("charge.refunded", obj, event_id=event_id)
        assert deliver(bought.client, first, sign(first)).status == 200
        after_first = money_state(bought)
        assert after_first["refunded"] == 500
        assert after_first["seconds"] == 6000 - 1200  # a fifth of the minutes went back
        again = deliver(bought.client, first, sign(first))
        assert again.status == 200 and again.body.get("duplicate") is True, again.body
        bigger = event("charge.refunded", {**obj, "amount_refunded": 2500}, event_id=event_id)
        assert deliver(bought.client, bigger, sign(bigger)).status == 200
        assert money_state(bought) == after_first

    def test_concurrent_deliveries_of_one_event_apply_once(self, bought: Bought,
                                                           fast_app_url: str,
                                                           stripe_emulator: str,
                                                           live_app_url: str) -> None:
        """Stripe may deliver an event twice at the same time: eight threads, one effect."""
        state = money_state(bought)
        refund_at_stripe(stripe_emulator, live_app_url, bought, 100)
        obj = {**refund_of(bought), "amount_refunded": state["refunded"] + 100,
               "refunded": False}
        payload = event("charge.refunded", obj)
        header = sign(payload)
        statuses: list[int] = []
        barrier = threading.Barrier(8)

        def post() -> None:
            barrier.wait()
            try:
                answer = requests.post(f"{fast_app_url}/v1/stripe/webhook", data=payload,
                                       headers={"Stripe-Signature": header,
                                                "Content-Type": "application/json"},
                                       timeout=30)
            except requests.ConnectionError:
                return  # never arrived (the dev server's listen backlog): Stripe would retry
            statuses.append(answer.status_code)

        threads = [threading.Thread(target=post) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses and all(status < 500 for status in statuses), statuses
        assert 200 in statuses, statuses
        after = money_state(bought)
        assert after["refunded"] == state["refunded"] + 100
        assert after["seconds"] == state["seconds"] - 240  # 1/25 of 6,000 s, once
        from tests.ledger_support import assert_ledger_consistent

        assert_ledger_consistent()


class TestUnknownAndMalformed:
    def test_unknown_type_is_200_and_writes_nothing(self, bought: Bought) -> None:
        before = whole_table(without_event_markers=True)
        for event_type in ("customer.created", "invoice.paid", "x" * 300, ""):
            payload = event(event_type, {"id": "obj_1"})
            answer = deliver(bought.client, payload, sign(payload))
            assert answer.status in (200, 400), (event_type, answer.body)
            if event_type == "customer.created":
                assert answer.status == 200 and answer.body["handled"] is False
            assert not marker_of(payload)
        assert whole_table(without_event_markers=True) == before

    @pytest.mark.parametrize("payload", [
        b"", b"not json", b"[]", b'"event"', b"{}", b'{"id": "evt_1"}',
        b'{"id": 5, "type": "charge.refunded", "data": {}}',
        b'{"id": "evt_1", "type": ["charge.refunded"], "data": {}}',
        b'{"id": "evt_1", "type": "charge.refunded", "data": "object"}',
        b"\xff\xfe\x00 binary",
    ], ids=["empty", "not_json", "list", "string", "empty_object", "no_type", "int_id",
            "list_type", "string_data", "binary"])
    def test_malformed_but_signed_body_is_400_and_writes_nothing(self, bought: Bought,
                                                                 payload: bytes) -> None:
        before = whole_table(without_event_markers=True)
        answer = deliver(bought.client, payload, sign(payload))
        assert answer.status == 400, answer.body
        assert whole_table(without_event_markers=True) == before
        assert not marker_of(payload)

    @pytest.mark.parametrize(("event_type", "obj"), [
        ("charge.refunded", {}),
        ("charge.refunded", {"id": "ch_x", "payment_intent": None, "amount_refunded": 2500}),
        ("charge.refunded", {"id": "ch_x", "payment_intent": "pi_unknown",
                             "amount_refunded": 2500}),
        ("charge.refunded", {"id": "ch_x", "payment_intent": {"id": "pi_unknown"},
                             "amount_refunded": 1}),
        ("payment_intent.succeeded", {}),
        ("payment_intent.succeeded", {"id": "pi_unknown", "object": "payment_intent",
                                      "amount": 100, "status": "succeeded", "metadata": {}}),
        ("payment_intent.payment_failed", {"id": "pi_unknown", "object": "payment_intent"}),
        ("charge.dispute.created", {"id": "dp_x", "payment_intent": "pi_unknown"}),
        ("account.updated", {}),
        ("account.updated", {"id": "acct_unknown", "object": "account"}),
        ("payout.failed", {"id": "po_x", "object": "payout"}),
        ("payout.paid", {}),
        ("transfer.created", {}),
        ("transfer.reversed", {"id": "tr_unknown", "object": "transfer"}),
        ("charge.refunded", []),
    ], ids=lambda value: value if isinstance(value, str) else None)
    def test_known_type_about_nothing_of_ours_has_no_effect(
            self, bought: Bought, event_type: str, obj: Any) -> None:
        """Signed events whose object is empty, foreign or unknown: a 2xx/4xx, no money, and
        nothing written but the event's own processed marker."""
        from tests.ledger_support import assert_ledger_consistent

        state, before = money_state(bought), whole_table(without_event_markers=True)
        payload = event(event_type, obj)
        answer = deliver(bought.client, payload, sign(payload))
        assert answer.status < 500, answer.body
        assert money_state(bought) == state
        assert whole_table(without_event_markers=True) == before
        assert_ledger_consistent()

    @pytest.mark.parametrize("amount_refunded", [
        "lots", -2500, 2.5, 2500.0, None, [1], True, "2500"],
        ids=["text", "negative", "float", "whole_float", "null", "list", "bool",
             "numeric_text"])
    def test_refund_with_a_malformed_amount_is_refused_without_effect(
            self, untouched: Bought, amount_refunded: Any) -> None:
        """A signed refund of OUR purchase whose amount is not a non-negative integer (SPEC:
        no float ever touches money). On a purchase of its own: on a shared one that earlier
        tests had refunded, a small amount is below what was refunded and is a no-op anyway,
        so the float case passed only because of the order the tests ran in."""
        payload = event("charge.refunded", {**refund_of(untouched),
                                            "amount_refunded": amount_refunded})
        answer = deliver(untouched.client, payload, sign(payload))
        assert answer.status < 500, answer.body
        assert money_state(untouched) == UNTOUCHED

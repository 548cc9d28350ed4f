"""What the emulator serves has Stripe's top-level fields with Stripe's JSON types.

The reference is Stripe's own example of each object (``fixtures3.json``): the shared copy at
``../shared/stripe/fixtures3.json`` when present, which must also equal the subset vendored in
``devstack/stripe_fixtures.json`` that the emulator builds its objects from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe

from devstack.stripe_wire import FIXTURES_PATH
from tests.devstack.conftest import AUTH

SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "stripe" / "fixtures3.json"
VENDORED = json.loads(FIXTURES_PATH.read_text())["resources"]
REFERENCE = (json.loads(SHARED_FIXTURES.read_text())["resources"]
             if SHARED_FIXTURES.exists() else VENDORED)

# Fields Stripe's API reference documents as nullable although its example object shows a
# value; the emulator leaves them null when there is nothing to put there (an account created
# without an email, a customer without an address, a charge without a receipt page).
NULLABLE = {
    "account": {"email"},
    "customer": {"address", "currency", "discount", "preferred_locales", "shipping"},
    "payment_intent": {"automatic_payment_methods", "canceled_at", "last_payment_error",
                       "next_action", "payment_method_configuration_details", "processing",
                       "shipping", "transfer_data"},
    "charge": {"description", "payment_method_details", "receipt_url", "shipping", "source",
               "transfer_data"},
}
Helper = Callable[..., requests.Response]


def assert_stripe_shape(kind: str, obj: dict[str, Any]) -> None:
    """Every top-level field of Stripe's ``kind`` example is present with the same JSON type
    (a field that is null in the example may hold any type; extra fields are allowed)."""
    example = REFERENCE[kind]
    assert obj.get("object") == example.get("object", obj.get("object")), kind
    missing = sorted(set(example) - set(obj))
    assert not missing, f"{kind} lacks {missing}"
    wrong = {
        key: (type(example[key]).__name__, type(obj[key]).__name__)
        for key in example
        if example[key] is not None
        and not (obj[key] is None and key in NULLABLE.get(kind, set()))
        and type(obj[key]) is not type(example[key])
    }
    assert not wrong, f"{kind} fields with other JSON types (expected, got): {wrong}"


def _get(url: str, **headers: str) -> dict[str, Any]:
    response = requests.get(url, headers={**AUTH, **headers}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _post(url: str, **form: Any) -> dict[str, Any]:
    response = requests.post(url, data=form, headers=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.skipif(not SHARED_FIXTURES.exists(), reason="shared fixtures not checked out")
def test_vendored_fixtures_are_stripes_unchanged() -> None:
    for kind, example in VENDORED.items():
        assert example == REFERENCE[kind], kind


def test_every_connect_object_kind_has_stripes_shape(
        emulator: str, client: stripe.StripeClient, helper: Helper,
        events: Callable[..., list[dict[str, Any]]]) -> None:
    served: dict[str, list[dict[str, Any]]] = {}
    account = _post(f"{emulator}/v1/accounts", type="express", email="shape@example.com",
                    **{"capabilities[transfers][requested]": "true"})
    served["account"] = [account]
    served["account_link"] = [_post(f"{emulator}/v1/account_links", account=account["id"],
                                    type="account_onboarding", refresh_url="http://x/r",
                                    return_url="http://x/ok")]
    served["account"].append(
        _post(f"{emulator}/v1/test_helpers/accounts/{account['id']}/complete_onboarding"))
    served["account"].append(_get(f"{emulator}/v1/accounts/{account['id']}"))
    served["login_link"] = [_post(f"{emulator}/v1/accounts/{account['id']}/login_links")]
    served["balance"] = [
        _post(f"{emulator}/v1/test_helpers/balance/add_available", amount="5000"),
        _get(f"{emulator}/v1/balance"),
    ]
    transfer = _post(f"{emulator}/v1/transfers", amount="3000", currency="usd",
                     destination=account["id"])
    served["transfer"] = [transfer, _get(f"{emulator}/v1/transfers/{transfer['id']}")]
    served["balance"].append(_get(f"{emulator}/v1/balance", **{"Stripe-Account": account["id"]}))
    served["payout"] = [
        _post(f"{emulator}/v1/test_helpers/accounts/{account['id']}/fail_payout"),
        _post(f"{emulator}/v1/test_helpers/accounts/{account['id']}/pay_out"),
    ]
    served["payout"] += _get(f"{emulator}/v1/payouts",
                             **{"Stripe-Account": account["id"]})["data"]
    served["event"] = events()
    assert {e["type"] for e in served["event"]} >= {
        "account.updated", "transfer.created", "payout.failed", "payout.paid"}
    for event in served["event"]:
        served.setdefault(event["data"]["object"]["object"], []).append(event["data"]["object"])

    for kind in ("account", "account_link", "login_link", "transfer", "payout", "balance",
                 "event"):
        assert served[kind], kind
        for obj in served[kind]:
            assert_stripe_shape(kind, obj)
    for bank in served["account"][-1]["external_accounts"]["data"]:
        assert_stripe_shape("bank_account", bank)


def test_payment_objects_from_localstripe_have_stripes_shape(
        emulator: str, client: stripe.StripeClient,
        events: Callable[..., list[dict[str, Any]]]) -> None:
    customer = client.v1.customers.create(params={"email": "shape@example.com"})
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    intent = client.v1.payment_intents.create(params={
        "amount": 1500, "currency": "usd", "customer": customer.id, "payment_method": pm.id,
        "confirm": True, "off_session": True})
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})

    assert_stripe_shape("customer", _get(f"{emulator}/v1/customers/{customer.id}"))
    assert_stripe_shape("payment_method", _get(f"{emulator}/v1/payment_methods/{pm.id}"))
    assert_stripe_shape("payment_intent", _get(f"{emulator}/v1/payment_intents/{intent.id}"))
    assert_stripe_shape("charge", _get(f"{emulator}/v1/charges/{intent.latest_charge}"))
    assert_stripe_shape("refund", _get(f"{emulator}/v1/refunds/{refund.id}"))
    for event in events():
        assert_stripe_shape("event", event)
        assert_stripe_shape(event["data"]["object"]["object"], event["data"]["object"])

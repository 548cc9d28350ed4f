"""DynamoDB's bad days over HTTP: throttling or failing storage is a 503 with ``Retry-After``.

SPEC §3: 503 ``temporarily_unavailable`` with ``Retry-After`` when DynamoDB throttles or
cannot be reached after retries, never a 500; §5: nothing is written meanwhile.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.payments.support import signed_event
from tests.helpers import AgencyFixture, Answer, call, create_agency


def table_snapshot() -> list[tuple[str, str, str]]:
    """Every item of the table (test-only scan), comparable before and after."""
    import json

    from chalicelib.store.base import TableItem

    return sorted((item.PK, item.SK, json.dumps(item.serialize(), sort_keys=True, default=str))
                  for item in TableItem.scan())


def representative_requests(client: Any, agency: AgencyFixture) -> dict[str, Answer]:
    """A read, money POSTs, the usage route, the webhook route and the health check."""
    sid, token = agency.primary_id, agency.owner_token
    payload, signature = signed_event("payment_intent.succeeded", {
        "id": "pi_faults", "object": "payment_intent", "amount": 1000, "currency": "usd",
        "status": "succeeded", "metadata": {}})
    return {
        "wallet": call(client, "GET", f"/v1/subaccounts/{sid}/wallet", token=token),
        "adjustment": call(client, "POST", "/v1/platform/adjustments", platform=True, body={
            "subaccount_id": sid, "asset": "premium_minutes", "amount": "10",
            "reason": "goodwill"}),
        "purchase": call(client, "POST", f"/v1/subaccounts/{sid}/purchases", token=token,
                         body={"tier": "premium", "minutes": "10"},
                         headers={"Idempotency-Key": "faults-purchase"}),
        "usage": call(client, "POST", "/v1/platform/usage", platform=True, body={"records": [{
            "call_id": "faults-call", "subaccount_id": sid, "tier": "premium",
            "duration_seconds": 60, "direction": "outbound", "status": "completed",
            "started_at": "2026-03-01T10:00:00Z"}]}),
        "webhook": call(client, "POST", "/v1/stripe/webhook", raw=payload,
                        headers={"Stripe-Signature": signature}),
        "health": call(client, "GET", "/v1/health"),
    }


class TestStorageFaultsAnswer503:
    @pytest.mark.parametrize("fault", ["throttle", "internal_error"])
    def test_dynamodb_throttling_on_every_call_answers_503_with_retry_after_and_writes_nothing(
            self, app_client, dynamodb_faults, fault: str) -> None:
        agency = create_agency(app_client)
        granted = call(app_client, "POST", "/v1/platform/adjustments", platform=True, body={
            "subaccount_id": agency.primary_id, "asset": "premium_minutes", "amount": "100",
            "reason": "seed"})
        assert granted.status == 201, granted.body
        before = table_snapshot()

        dynamodb_faults.set(**{fault: 1.0})
        answers = representative_requests(app_client, agency)
        dynamodb_faults.off()

        for route, answer in answers.items():
            assert answer.status == 503, (route, answer.status, answer.body)
            assert answer.error_code == "temporarily_unavailable", (route, answer.body)
            assert answer.headers.get("Retry-After") in {"1", "2"}, (route, answer.headers)
        assert table_snapshot() == before

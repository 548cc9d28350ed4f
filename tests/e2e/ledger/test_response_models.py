"""Every answer of the ledger routes is exactly its declared response model (the OpenAPI
document's success schema): no field missing, none added, margin-free shapes included."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from chalicelib.api.platform import AdjustmentOut, CallAuthorizationOut, UsageOut
from chalicelib.api.transfers import MoveOut, MovesOut, QuoteOut
from chalicelib.api.wallets import WalletActivityOut, WalletOut
from tests.helpers import call, create_agency
from tests.ledger_support import make_subaccount


def exactly(model: type[BaseModel], body: Any) -> None:
    """``body`` validates against ``model`` and carries exactly the fields it sets."""
    parsed = model.model_validate(body)
    assert parsed.model_dump(mode="json", by_alias=True, exclude_unset=True) == body


def usage(sid: str, call_id: str, seconds: int, tier: str = "basic") -> dict[str, Any]:
    return {"call_id": call_id, "subaccount_id": sid, "tier": tier,
            "duration_seconds": seconds, "direction": "outbound", "status": "completed",
            "started_at": "2026-11-20T10:00:00Z"}


class TestLedgerAnswersMatchTheirModels:
    def test_wallet_activity_moves_usage_adjustments_and_authorizations(self, app_client
                                                                        ) -> None:
        agency = create_agency(app_client)
        token = agency.owner_token
        target = make_subaccount(agency.agency_id, premium="0.20")
        granted = call(app_client, "POST", "/v1/platform/adjustments", platform=True, body={
            "subaccount_id": agency.primary_id, "asset": "basic_minutes", "amount": "10",
            "reason": "seed"})
        assert granted.status == 201, granted.body
        exactly(AdjustmentOut, granted.body)
        kp = call(app_client, "POST", "/v1/platform/adjustments", platform=True, body={
            "subaccount_id": agency.primary_id, "asset": "kp_credits", "amount": "3",
            "reason": "seed"})
        exactly(AdjustmentOut, kp.body)

        exactly(WalletOut, call(app_client, "GET", f"/v1/subaccounts/{agency.primary_id}/wallet",
                                token=token).body)
        for asset, amount in (("basic_minutes", "1"), ("kp_credits", 1)):
            quote = call(app_client, "POST", "/v1/transfers/quotes", token=token, body={
                "from_subaccount_id": agency.primary_id, "to_subaccount_id": target,
                "asset": asset, "amount": amount})
            assert quote.status == 201, quote.body
            exactly(QuoteOut, quote.body)
            moved = call(app_client, "POST", "/v1/transfers", token=token,
                         body={"quote_id": quote.body["quote_id"]})
            assert moved.status == 201, moved.body
            exactly(MoveOut, moved.body)
        exactly(MovesOut, call(app_client, "GET", "/v1/transfers?limit=1", token=token).body)

        exactly(CallAuthorizationOut, call(app_client, "POST", "/v1/platform/calls/authorize",
                                       platform=True, body={"subaccount_id": target,
                                                            "tier": "basic"}).body)
        held = call(app_client, "POST", "/v1/platform/calls/authorize", platform=True, body={
            "subaccount_id": agency.primary_id, "tier": "basic", "call_id": "held-1",
            "hold_seconds": 60})
        assert "hold" in held.body
        exactly(CallAuthorizationOut, held.body)
        ingested = call(app_client, "POST", "/v1/platform/usage", platform=True, body={
            "records": [usage(agency.primary_id, "held-1", 30), usage(agency.primary_id, "c2", 5),
                        usage(agency.primary_id, "c2", 5), usage("sub_missing", "c3", 5),
                        {"call_id": 7}]})
        assert [r["status"] for r in ingested.body["results"]] == [
            "recorded", "recorded", "duplicate", "rejected", "rejected"]
        exactly(UsageOut, ingested.body)

        activity = call(app_client, "GET",
                        f"/v1/subaccounts/{agency.primary_id}/activity?limit=2", token=token)
        assert activity.body["next_cursor"]
        exactly(WalletActivityOut, activity.body)

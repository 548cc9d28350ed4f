"""Wallets, platform adjustments, move minutes and usage, end to end through HTTP."""

from __future__ import annotations

from tests.helpers import call, create_agency
from tests.ledger_support import assert_ledger_consistent, make_subaccount


def grant(client, sid: str, asset: str, amount: str, key: str | None = None):
    headers = {"Idempotency-Key": key} if key else None
    return call(client, "POST", "/v1/platform/adjustments", platform=True, headers=headers,
                body={"subaccount_id": sid, "asset": asset, "amount": amount,
                      "reason": "test grant"})


class TestWallet:
    def test_new_subaccount_wallet_is_empty_with_its_prices(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id, premium="0.20")
        wallet = call(app_client, "GET", f"/v1/subaccounts/{sid}/wallet",
                      token=agency.owner_token)
        assert wallet.status == 200
        assert wallet.body["premium_minutes"] == "0.00"
        assert wallet.body["premium_seconds"] == 0
        assert wallet.body["prices"]["premium"] == "0.20"

    def test_another_agencys_subaccount_is_404(self, app_client) -> None:
        mine, theirs = create_agency(app_client), create_agency(app_client)
        sid = make_subaccount(theirs.agency_id)
        answer = call(app_client, "GET", f"/v1/subaccounts/{sid}/wallet", token=mine.owner_token)
        assert answer.status == 404


class TestAdjustments:
    def test_grant_credits_minutes_and_values_the_wallet(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id, premium="0.20")
        answer = grant(app_client, sid, "premium_minutes", "1.5")
        assert answer.status == 201
        assert answer.body["amount_units"] == 90
        wallet = call(app_client, "GET", f"/v1/subaccounts/{sid}/wallet",
                      token=agency.owner_token).body
        assert wallet["premium_seconds"] == 90
        assert wallet["premium_minutes"] == "1.50"
        assert wallet["wallet_balance_usd"] == "0.30"
        assert_ledger_consistent()

    def test_fraction_of_a_second_and_floats_are_refused_without_writing(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        assert grant(app_client, sid, "premium_minutes", "0.01").status == 422
        as_float = call(app_client, "POST", "/v1/platform/adjustments", platform=True, body={
            "subaccount_id": sid, "asset": "premium_minutes", "amount": 1.5, "reason": "x"})
        assert as_float.status == 422
        wallet = call(app_client, "GET", f"/v1/subaccounts/{sid}/wallet",
                      token=agency.owner_token).body
        assert wallet["premium_seconds"] == 0

    def test_correction_below_zero_is_409_and_writes_nothing(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        grant(app_client, sid, "basic_minutes", "10")
        answer = grant(app_client, sid, "basic_minutes", "-11")
        assert answer.status == 409
        assert answer.error_code == "insufficient_balance"
        wallet = call(app_client, "GET", f"/v1/subaccounts/{sid}/wallet",
                      token=agency.owner_token).body
        assert wallet["basic_seconds"] == 600

    def test_same_idempotency_key_replays_and_different_body_is_422(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        first = grant(app_client, sid, "kp_credits", "5", key="grant-1")
        again = grant(app_client, sid, "kp_credits", "5", key="grant-1")
        other = grant(app_client, sid, "kp_credits", "6", key="grant-1")
        assert first.status == again.status == 201
        assert first.body == again.body
        assert other.status == 422
        wallet = call(app_client, "GET", f"/v1/subaccounts/{sid}/wallet",
                      token=agency.owner_token).body
        assert wallet["kp_credits"] == 5


class TestMoveMinutes:
    def test_2000_premium_minutes_from_16_cents_to_20_cents_arrive_as_1600(self, app_client
                                                                         ) -> None:
        agency = create_agency(app_client)
        target = make_subaccount(agency.agency_id, premium="0.20")
        grant(app_client, agency.primary_id, "premium_minutes", "2000")
        quote = call(app_client, "POST", "/v1/transfers/quotes", token=agency.owner_token, body={
            "from_subaccount_id": agency.primary_id, "to_subaccount_id": target,
            "asset": "premium_minutes", "amount": "2000"})
        assert quote.status == 201
        assert quote.body["amount_received"] == "1600.00"
        assert quote.body["from_price"] == "0.16"
        assert quote.body["to_price"] == "0.20"
        assert quote.body["value_usd"] == "320.00"
        moved = call(app_client, "POST", "/v1/transfers", token=agency.owner_token,
                     body={"quote_id": quote.body["quote_id"]})
        assert moved.status == 201
        assert moved.body["received_seconds"] == 1600 * 60
        again = call(app_client, "POST", "/v1/transfers", token=agency.owner_token,
                     body={"quote_id": quote.body["quote_id"]})
        assert again.status == 409
        assert again.error_code == "quote_used"
        wallet = call(app_client, "GET", f"/v1/subaccounts/{target}/wallet",
                      token=agency.owner_token).body
        assert wallet["premium_minutes"] == "1600.00"
        primary = call(app_client, "GET", f"/v1/subaccounts/{agency.primary_id}/wallet",
                       token=agency.owner_token).body
        assert primary["premium_seconds"] == 0
        assert_ledger_consistent()

    def test_quote_goes_stale_when_the_senders_balance_changes(self, app_client) -> None:
        agency = create_agency(app_client)
        target = make_subaccount(agency.agency_id)
        grant(app_client, agency.primary_id, "basic_minutes", "100")
        quote = call(app_client, "POST", "/v1/transfers/quotes", token=agency.owner_token, body={
            "from_subaccount_id": agency.primary_id, "to_subaccount_id": target,
            "asset": "basic_minutes", "amount": "10"}).body
        grant(app_client, agency.primary_id, "basic_minutes", "1")
        answer = call(app_client, "POST", "/v1/transfers", token=agency.owner_token,
                      body={"quote_id": quote["quote_id"]})
        assert answer.status == 409
        assert answer.error_code == "quote_stale"
        wallet = call(app_client, "GET", f"/v1/subaccounts/{target}/wallet",
                      token=agency.owner_token).body
        assert wallet["basic_seconds"] == 0

    def test_kp_credits_move_one_to_one_and_overdraft_quote_is_409(self, app_client) -> None:
        agency = create_agency(app_client)
        target = make_subaccount(agency.agency_id)
        grant(app_client, agency.primary_id, "kp_credits", "7")
        too_much = call(app_client, "POST", "/v1/transfers/quotes", token=agency.owner_token,
                        body={"from_subaccount_id": agency.primary_id,
                              "to_subaccount_id": target, "asset": "kp_credits", "amount": 8})
        assert too_much.status == 409
        quote = call(app_client, "POST", "/v1/transfers/quotes", token=agency.owner_token, body={
            "from_subaccount_id": agency.primary_id, "to_subaccount_id": target,
            "asset": "kp_credits", "amount": 7}).body
        assert quote["amount_received"] == "7"
        assert call(app_client, "POST", "/v1/transfers", token=agency.owner_token,
                    body={"quote_id": quote["quote_id"]}).status == 201
        listed = call(app_client, "GET", "/v1/transfers", token=agency.owner_token).body
        assert [t["quote_id"] for t in listed["transfers"]] == [quote["quote_id"]]
        assert_ledger_consistent()

    def test_another_agencys_quote_is_404(self, app_client) -> None:
        mine, theirs = create_agency(app_client), create_agency(app_client)
        target = make_subaccount(theirs.agency_id)
        grant(app_client, theirs.primary_id, "kp_credits", "1")
        quote = call(app_client, "POST", "/v1/transfers/quotes", token=theirs.owner_token, body={
            "from_subaccount_id": theirs.primary_id, "to_subaccount_id": target,
            "asset": "kp_credits", "amount": 1}).body
        answer = call(app_client, "POST", "/v1/transfers", token=mine.owner_token,
                      body={"quote_id": quote["quote_id"]})
        assert answer.status == 404


class TestUsage:
    def record(self, sid: str, call_id: str, seconds: int, tier: str = "premium") -> dict:
        return {"call_id": call_id, "subaccount_id": sid, "tier": tier,
                "duration_seconds": seconds, "direction": "outbound", "status": "completed",
                "started_at": "2026-11-20T10:00:00Z"}

    def test_usage_debits_once_per_call_and_records_shortfall(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        grant(app_client, sid, "premium_minutes", "2")
        answer = call(app_client, "POST", "/v1/platform/usage", platform=True, body={"records": [
            self.record(sid, "c1", 100), self.record(sid, "c1", 100),
            self.record(sid, "c2", 100), self.record("sub_missing", "c3", 5)]})
        assert answer.status == 200
        results = answer.body["results"]
        assert results[0] == {"call_id": "c1", "status": "recorded", "debited_seconds": 100,
                              "shortfall_seconds": 0}
        assert results[1]["status"] == "duplicate"
        assert results[2]["debited_seconds"] == 20
        assert results[2]["shortfall_seconds"] == 80
        assert results[3]["status"] == "rejected"
        wallet = call(app_client, "GET", f"/v1/subaccounts/{sid}/wallet",
                      token=agency.owner_token).body
        assert wallet["premium_seconds"] == 0
        assert_ledger_consistent()

    def test_more_than_100_records_is_422(self, app_client) -> None:
        agency = create_agency(app_client)
        records = [self.record(agency.primary_id, f"c{i}", 1) for i in range(101)]
        answer = call(app_client, "POST", "/v1/platform/usage", platform=True,
                      body={"records": records})
        assert answer.status == 422

    def test_authorize_refuses_an_empty_balance(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        empty = call(app_client, "POST", "/v1/platform/calls/authorize", platform=True,
                     body={"subaccount_id": sid, "tier": "basic"})
        assert empty.body["allowed"] is False
        assert empty.body["reason"] == "insufficient_balance"
        grant(app_client, sid, "basic_minutes", "1")
        ok = call(app_client, "POST", "/v1/platform/calls/authorize", platform=True,
                  body={"subaccount_id": sid, "tier": "basic"})
        assert ok.body == {"allowed": True, "reason": "ok", "available_seconds": 60}


class TestCallHolds:
    def authorize(self, client, sid: str, call_id: str, seconds: int):
        return call(client, "POST", "/v1/platform/calls/authorize", platform=True, body={
            "subaccount_id": sid, "tier": "basic", "call_id": call_id, "hold_seconds": seconds})

    def usage(self, client, sid: str, call_id: str, seconds: int):
        return call(client, "POST", "/v1/platform/usage", platform=True, body={"records": [{
            "call_id": call_id, "subaccount_id": sid, "tier": "basic",
            "duration_seconds": seconds, "direction": "outbound", "status": "completed",
            "started_at": "2026-11-20T10:00:00Z"}]}).body["results"][0]

    def basic_seconds(self, client, agency, sid: str) -> int:
        return call(client, "GET", f"/v1/subaccounts/{sid}/wallet",
                    token=agency.owner_token).body["basic_seconds"]

    def test_hold_reserves_and_usage_settles_the_real_duration(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        grant(app_client, sid, "basic_minutes", "10")
        held = self.authorize(app_client, sid, "h1", 300)
        assert held.body["allowed"] is True
        assert held.body["hold"]["seconds"] == 300
        assert held.body["available_seconds"] == 300
        assert self.basic_seconds(app_client, agency, sid) == 300
        settled = self.usage(app_client, sid, "h1", 120)
        assert settled["debited_seconds"] == 120
        assert self.basic_seconds(app_client, agency, sid) == 480
        assert_ledger_consistent()

    def test_call_longer_than_its_hold_spends_the_rest_of_the_wallet(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        grant(app_client, sid, "basic_minutes", "5")
        self.authorize(app_client, sid, "h2", 60)
        settled = self.usage(app_client, sid, "h2", 400)
        assert settled["debited_seconds"] == 300
        assert settled["shortfall_seconds"] == 100
        assert self.basic_seconds(app_client, agency, sid) == 0
        assert_ledger_consistent()

    def test_unsettled_hold_is_released_by_the_sweep(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = make_subaccount(agency.agency_id)
        grant(app_client, sid, "basic_minutes", "2")
        self.authorize(app_client, sid, "h3", 100)
        early = call(app_client, "POST", "/v1/platform/jobs/call-holds/runs", platform=True,
                     body={"as_of": "2000-01-01T00:00:00Z"})
        assert early.body["succeeded"] == 0
        late = call(app_client, "POST", "/v1/platform/jobs/call-holds/runs", platform=True,
                    body={"as_of": "2999-01-01T00:00:00Z"})
        assert late.body["succeeded"] == 1
        assert self.basic_seconds(app_client, agency, sid) == 120
        assert_ledger_consistent()

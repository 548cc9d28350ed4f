"""SPEC "Move minutes": a move never creates platform supply, through HTTP."""

from __future__ import annotations

from chalicelib.domain.ledger import Asset, wallet
from chalicelib.store.ledger import read_balance
from tests.helpers import call, create_agency
from tests.ledger_support import assert_ledger_consistent, ledger_sums, make_subaccount


def grant(client, sid: str, asset: str, amount: str) -> None:
    answer = call(client, "POST", "/v1/platform/adjustments", platform=True,
                  body={"subaccount_id": sid, "asset": asset, "amount": amount,
                        "reason": "test grant"})
    assert answer.status == 201, answer.body


def quote(client, agency, source: str, target: str, amount: str,
          asset: str = "premium_minutes"):
    answer = call(client, "POST", "/v1/transfers/quotes", token=agency.owner_token, body={
        "from_subaccount_id": source, "to_subaccount_id": target, "asset": asset,
        "amount": amount})
    assert answer.status == 201, answer.body
    return answer.body


def confirm(client, agency, quote_id: str):
    answer = call(client, "POST", "/v1/transfers", token=agency.owner_token,
                  body={"quote_id": quote_id})
    assert answer.status == 201, answer.body
    return answer.body


def wallets_total(agency_id: str, sids: list[str], asset: str) -> int:
    return sum(read_balance(agency_id, wallet(sid), asset).balance for sid in sids)


class TestMoveRule:
    def test_move_toward_a_lower_price_mints_no_minutes(self, app_client) -> None:
        agency = create_agency(app_client)
        client = make_subaccount(agency.agency_id, premium="0.20")
        grant(app_client, client, "premium_minutes", "100")
        quoted = quote(app_client, agency, client, agency.primary_id, "100")
        # SPEC: min(6000, floor(6000 × 0.20 / 0.16)) = 6000: 1:1, never 125 minutes
        assert quoted["amount_received"] == "100.00"
        assert quoted["received_seconds"] == 6000
        moved = confirm(app_client, agency, quoted["quote_id"])
        assert moved["received_seconds"] == 6000
        assert read_balance(agency.agency_id, wallet(agency.primary_id),
                            Asset.PREMIUM_MINUTES).balance == 6000
        assert read_balance(agency.agency_id, wallet(client),
                            Asset.PREMIUM_MINUTES).balance == 0
        # no supply was created: the wallets hold what was granted, nothing more
        assert wallets_total(agency.agency_id, [client, agency.primary_id],
                             Asset.PREMIUM_MINUTES) == 6000
        assert_ledger_consistent()

    def test_move_between_equal_prices_arrives_one_to_one(self, app_client) -> None:
        agency = create_agency(app_client)
        a = make_subaccount(agency.agency_id, basic="0.12")
        b = make_subaccount(agency.agency_id, basic="0.12")
        grant(app_client, a, "basic_minutes", "7.5")
        quoted = quote(app_client, agency, a, b, "7.5", asset="basic_minutes")
        assert quoted["received_seconds"] == 450
        confirm(app_client, agency, quoted["quote_id"])
        assert read_balance(agency.agency_id, wallet(b), Asset.BASIC_MINUTES).balance == 450

    def test_move_toward_a_higher_price_books_the_difference_to_the_agency_conversion_account(
            self, app_client) -> None:
        agency = create_agency(app_client)
        first = make_subaccount(agency.agency_id, premium="0.20")
        second = make_subaccount(agency.agency_id, premium="0.20")
        grant(app_client, agency.primary_id, "premium_minutes", "200")
        # 100 minutes at 0.16 to 0.20: floor(6000 × 0.16 / 0.20) = 4800 s arrive, 1200 s kept
        for target in (first, second):
            quoted = quote(app_client, agency, agency.primary_id, target, "100")
            assert quoted["received_seconds"] == 4800
            assert quoted["value_usd"] == "16.00"
            confirm(app_client, agency, quoted["quote_id"])
        # one conversion account per agency holds both differences (never lost)
        assert read_balance(agency.agency_id, "conversion",
                            Asset.PREMIUM_MINUTES).balance == 2400
        assert wallets_total(agency.agency_id, [agency.primary_id, first, second],
                             Asset.PREMIUM_MINUTES) == 9600
        per_asset, _, _ = ledger_sums()
        assert per_asset[Asset.PREMIUM_MINUTES] == 0
        assert_ledger_consistent()

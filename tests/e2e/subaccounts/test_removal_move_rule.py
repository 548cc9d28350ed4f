"""SPEC: a removal's transfer of minutes follows the move rule (no supply is created)."""

from __future__ import annotations

from tests.e2e.subaccounts.support import balances_of, grant, ledger_totals, new_subaccount
from tests.helpers import call, create_agency


class TestRemovalMoveRule:
    def test_removal_toward_a_lower_price_mints_no_minutes(self, app_client) -> None:
        agency = create_agency(app_client)
        sub = new_subaccount(app_client, agency, prices={"basic": "0.25", "premium": "0.20"})
        grant(agency.agency_id, sub["id"], "basic_minutes", 600)
        grant(agency.agency_id, sub["id"], "premium_minutes", 6000)
        preview = call(app_client, "GET", f"/v1/subaccounts/{sub['id']}/removal",
                       token=agency.owner_token)
        assert preview.status == 200, preview.body
        to_primary = {d["id"]: d for d in preview.body["eligible_destinations"]}[
            agency.primary_id]
        # primary prices are the base costs (0.10, 0.16): lower, so 1:1
        assert to_primary["would_receive"] == {"basic_seconds": 600, "premium_seconds": 6000}
        removed = call(app_client, "POST", f"/v1/subaccounts/{sub['id']}/removal",
                       token=agency.owner_token,
                       body={"minutes_destination_id": agency.primary_id})
        assert removed.status == 200, removed.body
        assert removed.body["moved"]["basic_seconds_received"] == 600
        assert removed.body["moved"]["premium_seconds_received"] == 6000
        primary = balances_of(agency.agency_id, agency.primary_id)
        assert primary["basic_minutes"] == 600 and primary["premium_minutes"] == 6000
        assert all(total == 0 for total in ledger_totals(agency.agency_id).values())

    def test_removal_toward_a_higher_price_keeps_the_value_in_the_conversion_account(
            self, app_client) -> None:
        agency = create_agency(app_client)
        sub = new_subaccount(app_client, agency, prices={"basic": "0.25", "premium": "0.30"})
        other = new_subaccount(app_client, agency, prices={"basic": "0.50", "premium": "0.30"})
        grant(agency.agency_id, sub["id"], "basic_minutes", 601)
        removed = call(app_client, "POST", f"/v1/subaccounts/{sub['id']}/removal",
                       token=agency.owner_token, body={"minutes_destination_id": other["id"]})
        assert removed.status == 200, removed.body
        # floor(601 × 0.25 / 0.50) = 300
        assert removed.body["moved"]["basic_seconds_received"] == 300
        from chalicelib.store.ledger import read_balance

        assert read_balance(agency.agency_id, "conversion", "basic_minutes").balance == 301

"""A sub-account with a charge in flight cannot be removed: the charge would land on a
removed wallet (found by the 8-client concurrency test)."""

from __future__ import annotations

from chalicelib.store import keys
from chalicelib.store.accounts import Subaccount
from tests.helpers import call, create_agency


class TestRemovalWaitsForCharges:
    def test_in_flight_purchase_blocks_removal_until_settled(self, app_client) -> None:
        agency = create_agency(app_client)
        created = call(app_client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
            "name": "Client", "login_email": f"c@{agency.agency_id}.example.com",
            "prices": {"basic": "0.12", "premium": "0.20"}, "subscription_start": "2026-01-31"})
        sid = created.body["id"]
        item = Subaccount(keys.agency_pk(agency.agency_id), keys.subaccount_sk(sid))
        item.update(actions=[Subaccount.pending_purchase_ids.add({"pur_in_flight"})])
        body = {"minutes_destination_id": agency.primary_id}
        blocked = call(app_client, "POST", f"/v1/subaccounts/{sid}/removal",
                       token=agency.owner_token, body=body)
        assert blocked.status == 409
        assert blocked.error_code == "purchase_in_progress"
        assert call(app_client, "GET", f"/v1/subaccounts/{sid}",
                    token=agency.owner_token).status == 200
        item.update(actions=[Subaccount.pending_purchase_ids.delete({"pur_in_flight"})])
        removed = call(app_client, "POST", f"/v1/subaccounts/{sid}/removal",
                       token=agency.owner_token, body=body)
        assert removed.status == 200
        assert call(app_client, "GET", f"/v1/subaccounts/{sid}",
                    token=agency.owner_token).status == 404

"""Creating, listing, reading and editing sub-accounts over HTTP."""

from __future__ import annotations

from tests.e2e.subaccounts.support import PRICES, grant, make_user, new_subaccount, slots_used
from tests.helpers import call, create_agency


class TestCreateSubaccount:
    def test_owner_creates_a_sub_account_with_prices_wallet_and_login_invitation(
            self, app_client) -> None:
        agency = create_agency(app_client)
        answer = call(app_client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
            "name": "Bright Dental", "login_email": "Front@Bright.example.com",
            "prices": {"basic": "0.25", "premium": 1}, "subscription_start": "2026-02-15"})
        assert answer.status == 201, answer.body
        body = answer.body
        assert body["name"] == "Bright Dental"
        assert body["login_email"] == "front@bright.example.com"
        assert body["prices"] == {"basic": "0.25", "premium": "1.00"}
        assert body["is_primary"] is False
        assert body["status"] == "active"
        assert body["banner"] == {"suspended": False, "note": None, "since": None}
        assert body["wallet"]["basic_seconds"] == 0
        assert body["wallet"]["wallet_balance_usd"] == "0.00"
        assert slots_used(agency.agency_id) == 1
        outbox = call(app_client, "GET", "/v1/platform/outbox?to=front@bright.example.com",
                      platform=True)
        assert len(outbox.body["messages"]) == 1
        assert "accept-invite?token=" in outbox.body["messages"][0]["body"]
        pending = call(app_client, "GET", "/v1/invitations", token=agency.owner_token)
        assert pending.status == 200
        invitations = pending.body.get("invitations", [])
        login = [i for i in invitations if i["email"] == "front@bright.example.com"]
        assert login and login[0]["role"] == "subaccount_admin"
        assert login[0]["subaccount_ids"] == [body["id"]]

    def test_subscription_start_defaults_to_today(self, app_client) -> None:
        from chalicelib.api.render import today_utc

        agency = create_agency(app_client)
        body = new_subaccount(app_client, agency, subscription_start=None)
        assert body["subscription_start"] == today_utc().isoformat()

    def test_price_below_base_cost_is_422(self, app_client) -> None:
        agency = create_agency(app_client)
        answer = call(app_client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
            "name": "Cheap", "login_email": "cheap@x.example.com",
            "prices": {"basic": "0.099999", "premium": "0.20"}})
        assert answer.status == 422
        assert answer.error_code == "price_below_base_cost"
        assert slots_used(agency.agency_id) == 0

    def test_bad_prices_are_422(self, app_client) -> None:
        agency = create_agency(app_client)
        for prices in ({"basic": "0.1234567", "premium": "0.2"}, {"basic": 0.2, "premium": "1"},
                       {"basic": "abc", "premium": "1"}, {"basic": "0.2"}):
            answer = call(app_client, "POST", "/v1/subaccounts", token=agency.owner_token,
                          body={"name": "X", "login_email": "x@x.example.com", "prices": prices})
            assert answer.status == 422, prices

    def test_login_email_taken_anywhere_is_409_and_nothing_is_written(self, app_client) -> None:
        agency = create_agency(app_client)
        other = create_agency(app_client)
        answer = call(app_client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
            "name": "Dup", "login_email": other.owner_email, "prices": PRICES})
        assert answer.status == 409
        assert answer.error_code == "email_taken"
        assert slots_used(agency.agency_id) == 0
        listing = call(app_client, "GET", "/v1/subaccounts", token=agency.owner_token)
        assert [s["is_primary"] for s in listing.body["subaccounts"]] == [True]

    def test_only_owner_and_admin_create(self, app_client) -> None:
        agency = create_agency(app_client)
        sub = new_subaccount(app_client, agency)
        body = {"name": "N", "login_email": "n@n.example.com", "prices": PRICES}
        admin = make_user(agency.agency_id, "agency_admin")
        assert call(app_client, "POST", "/v1/subaccounts", token=admin, body=body).status == 201
        for role, ids in (("agency_member", None), ("subaccount_admin", (sub["id"],)),
                          ("subaccount_member", (sub["id"],))):
            token = make_user(agency.agency_id, role, subaccount_ids=ids)
            answer = call(app_client, "POST", "/v1/subaccounts", token=token,
                          body={**body, "login_email": f"{role}@n.example.com"})
            assert answer.status == 403, role


class TestListAndGet:
    def test_list_shows_only_what_the_caller_may_see_with_balances(self, app_client) -> None:
        agency = create_agency(app_client)
        first = new_subaccount(app_client, agency, name="First")
        second = new_subaccount(app_client, agency, name="Second")
        grant(agency.agency_id, first["id"], "basic_minutes", 90)
        grant(agency.agency_id, first["id"], "premium_minutes", 60)
        grant(agency.agency_id, first["id"], "kp_credits", 5)

        owner = call(app_client, "GET", "/v1/subaccounts", token=agency.owner_token)
        assert owner.status == 200
        by_id = {s["id"]: s for s in owner.body["subaccounts"]}
        assert set(by_id) == {agency.primary_id, first["id"], second["id"]}
        wallet = by_id[first["id"]]["wallet"]
        assert wallet["basic_minutes"] == "1.50"
        assert wallet["basic_seconds"] == 90
        assert wallet["premium_seconds"] == 60
        assert wallet["kp_credits"] == 5
        # 1.5 min × 0.25 + 1 min × 0.30 = 0.675
        assert wallet["wallet_balance_usd"] == "0.675"

        sub_admin = make_user(agency.agency_id, "subaccount_admin", subaccount_ids=(first["id"],))
        mine = call(app_client, "GET", "/v1/subaccounts", token=sub_admin)
        assert [s["id"] for s in mine.body["subaccounts"]] == [first["id"]]
        member = make_user(agency.agency_id, "agency_member", subaccount_ids=(second["id"],))
        seen = {s["id"] for s in call(app_client, "GET", "/v1/subaccounts",
                                      token=member).body["subaccounts"]}
        assert seen == {agency.primary_id, second["id"]}

    def test_list_paginates(self, app_client) -> None:
        agency = create_agency(app_client)
        for _ in range(3):
            new_subaccount(app_client, agency)
        seen: list[str] = []
        cursor = None
        for _ in range(5):
            path = "/v1/subaccounts?limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = call(app_client, "GET", path, token=agency.owner_token).body
            seen += [s["id"] for s in page["subaccounts"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == 4

    def test_ids_outside_reach_are_404(self, app_client) -> None:
        agency = create_agency(app_client)
        other = create_agency(app_client)
        first = new_subaccount(app_client, agency)
        second = new_subaccount(app_client, agency)
        assert call(app_client, "GET", f"/v1/subaccounts/{first['id']}",
                    token=other.owner_token).status == 404
        sub_admin = make_user(agency.agency_id, "subaccount_admin", subaccount_ids=(first["id"],))
        assert call(app_client, "GET", f"/v1/subaccounts/{second['id']}",
                    token=sub_admin).status == 404
        assert call(app_client, "GET", f"/v1/subaccounts/{agency.primary_id}",
                    token=sub_admin).status == 404
        got = call(app_client, "GET", f"/v1/subaccounts/{first['id']}", token=sub_admin)
        assert got.status == 200
        assert got.body["wallet"]["wallet_balance_usd"] == "0.00"


class TestPatchSubaccount:
    def test_price_change_bumps_price_version_and_is_audited(self, app_client) -> None:
        from chalicelib.services.access import get_subaccount

        agency = create_agency(app_client)
        sub = new_subaccount(app_client, agency)
        answer = call(app_client, "PATCH", f"/v1/subaccounts/{sub['id']}",
                      token=agency.owner_token, body={"prices": {"premium": "0.45"},
                                                      "name": "Renamed"})
        assert answer.status == 200, answer.body
        assert answer.body["prices"] == {"basic": "0.25", "premium": "0.45"}
        assert answer.body["name"] == "Renamed"
        assert get_subaccount(agency.agency_id, sub["id"]).price_version == 2
        log = call(app_client, "GET", "/v1/audit-log?action=subaccount.prices_changed",
                   token=agency.owner_token)
        assert log.body["events"][0]["before"]["prices"] == {"basic": "0.25",
                                                             "premium": "0.30"}
        assert log.body["events"][0]["after"]["prices"]["premium"] == "0.45"

    def test_price_below_base_and_primary_prices_are_refused(self, app_client) -> None:
        agency = create_agency(app_client)
        sub = new_subaccount(app_client, agency)
        low = call(app_client, "PATCH", f"/v1/subaccounts/{sub['id']}",
                   token=agency.owner_token, body={"prices": {"basic": "0.05"}})
        assert low.status == 422
        assert low.error_code == "price_below_base_cost"
        primary = call(app_client, "PATCH", f"/v1/subaccounts/{agency.primary_id}",
                       token=agency.owner_token, body={"prices": {"basic": "0.50"}})
        assert primary.status == 409
        assert primary.error_code == "primary_subaccount"
        renamed = call(app_client, "PATCH", f"/v1/subaccounts/{agency.primary_id}",
                       token=agency.owner_token, body={"name": "Our own account"})
        assert renamed.status == 200
        assert renamed.body["prices"] == {"basic": "0.10", "premium": "0.16"}

    def test_sub_account_users_and_members_may_not_patch(self, app_client) -> None:
        agency = create_agency(app_client)
        sub = new_subaccount(app_client, agency)
        for role in ("agency_member", "subaccount_admin"):
            token = make_user(agency.agency_id, role, subaccount_ids=(sub["id"],))
            answer = call(app_client, "PATCH", f"/v1/subaccounts/{sub['id']}", token=token,
                          body={"name": "Nope"})
            assert answer.status == 403, role

    def test_login_email_change_moves_the_claim_and_the_pending_invitation(
            self, app_client) -> None:
        agency = create_agency(app_client)
        sub = new_subaccount(app_client, agency, email="old-login@c.example.com")
        answer = call(app_client, "PATCH", f"/v1/subaccounts/{sub['id']}",
                      token=agency.owner_token, body={"login_email": "new-login@c.example.com"})
        assert answer.status == 200, answer.body
        assert answer.body["login_email"] == "new-login@c.example.com"
        # the old address is free again: another sub-account can use it
        again = new_subaccount(app_client, agency, email="old-login@c.example.com")
        assert again["login_email"] == "old-login@c.example.com"
        # the new one is taken
        clash = call(app_client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
            "name": "Clash", "login_email": "new-login@c.example.com", "prices": PRICES})
        assert clash.error_code == "email_taken"
        # the invitation went to the new address; its link works and logs in as sub admin
        mails = call(app_client, "GET", "/v1/platform/outbox?to=new-login@c.example.com",
                     platform=True).body["messages"]
        assert mails
        token = mails[0]["body"].split("token=")[1].split()[0]
        accepted = call(app_client, "POST", "/v1/auth/invitations/accept",
                        body={"token": token, "password": "client-password-1"})
        assert accepted.status == 200, accepted.body
        assert accepted.body["user"]["email"] == "new-login@c.example.com"
        assert accepted.body["user"]["subaccount_ids"] == [sub["id"]]

    def test_login_email_change_after_acceptance_updates_the_user(self, app_client) -> None:
        agency = create_agency(app_client)
        sub = new_subaccount(app_client, agency, email="first@d.example.com")
        mails = call(app_client, "GET", "/v1/platform/outbox?to=first@d.example.com",
                     platform=True).body["messages"]
        token = mails[0]["body"].split("token=")[1].split()[0]
        assert call(app_client, "POST", "/v1/auth/invitations/accept",
                    body={"token": token, "password": "client-password-1"}).status == 200
        answer = call(app_client, "PATCH", f"/v1/subaccounts/{sub['id']}",
                      token=agency.owner_token, body={"login_email": "second@d.example.com"})
        assert answer.status == 200, answer.body
        login = call(app_client, "POST", "/v1/auth/login",
                     body={"email": "second@d.example.com", "password": "client-password-1"})
        assert login.status == 200
        assert call(app_client, "POST", "/v1/auth/login",
                    body={"email": "first@d.example.com",
                          "password": "client-password-1"}).status == 401

"""Two-step removal: preview, then one ledger transaction that moves everything out."""

from __future__ import annotations

from typing import Any

from tests.e2e.subaccounts.support import (
    balances_of,
    grant,
    ledger_totals,
    make_user,
    new_subaccount,
    resource,
    slots_used,
)
from tests.helpers import AgencyFixture, call, create_agency


def _funded(client: Any) -> tuple[AgencyFixture, dict]:
    agency = create_agency(client)
    sub = new_subaccount(client, agency, prices={"basic": "0.25", "premium": "0.30"})
    grant(agency.agency_id, sub["id"], "basic_minutes", 600)
    grant(agency.agency_id, sub["id"], "premium_minutes", 125)
    grant(agency.agency_id, sub["id"], "kp_credits", 7)
    return agency, sub


def _remove(client: Any, agency: AgencyFixture, sid: str, destination: str,
            headers: dict[str, str] | None = None) -> Any:
    return call(client, "POST", f"/v1/subaccounts/{sid}/removal", token=agency.owner_token,
                body={"minutes_destination_id": destination}, headers=headers)


class TestRemovalPreview:
    def test_preview_lists_balances_numbers_automations_and_destinations(
            self, app_client) -> None:
        agency, sub = _funded(app_client)
        other = new_subaccount(app_client, agency, name="Other",
                               prices={"basic": "0.50", "premium": "0.30"})
        gone = new_subaccount(app_client, agency, name="Gone")
        assert _remove(app_client, agency, gone["id"], agency.primary_id).status == 200
        sid = sub["id"]
        owner = agency.owner_token
        call(app_client, "POST", f"/v1/subaccounts/{sid}/phone-numbers", token=owner,
             body={"number": "+442071838750"})
        call(app_client, "POST", f"/v1/subaccounts/{sid}/automations", token=owner,
             body={"name": "Missed-call text back"})

        preview = call(app_client, "GET", f"/v1/subaccounts/{sid}/removal", token=owner)
        assert preview.status == 200, preview.body
        body = preview.body
        assert body["subaccount_id"] == sid
        assert (body["basic_seconds"], body["premium_seconds"], body["kp_credits"]) == (
            600, 125, 7)
        assert body["basic_minutes"] == "10.00"
        assert body["premium_minutes"] == "2.08"
        assert [n["number"] for n in body["phone_numbers"]] == ["+442071838750"]
        assert [a["name"] for a in body["automations"]] == ["Missed-call text back"]
        destinations = {d["id"]: d for d in body["eligible_destinations"]}
        assert set(destinations) == {agency.primary_id, other["id"]}
        assert destinations[agency.primary_id]["is_primary"] is True
        # toward the primary's lower prices (base costs) seconds arrive 1:1 (SPEC move rule)
        assert destinations[agency.primary_id]["would_receive"] == {
            "basic_seconds": 600, "premium_seconds": 125}
        assert destinations[other["id"]]["would_receive"] == {
            "basic_seconds": 300, "premium_seconds": 125}

    def test_preview_is_for_owner_and_admin_only_and_never_for_the_primary(
            self, app_client) -> None:
        agency, sub = _funded(app_client)
        for role in ("agency_member", "subaccount_admin"):
            token = make_user(agency.agency_id, role, subaccount_ids=(sub["id"],))
            assert call(app_client, "GET", f"/v1/subaccounts/{sub['id']}/removal",
                        token=token).status == 403
        primary = call(app_client, "GET", f"/v1/subaccounts/{agency.primary_id}/removal",
                       token=agency.owner_token)
        assert primary.status == 409
        assert primary.error_code == "primary_subaccount"


class TestRemoval:
    def test_removal_moves_exact_balances_and_conserves_every_asset(self, app_client) -> None:
        agency, sub = _funded(app_client)
        aid, sid = agency.agency_id, sub["id"]
        primary_before = balances_of(aid, agency.primary_id)
        slots_before = slots_used(aid)

        answer = _remove(app_client, agency, sid, agency.primary_id)
        assert answer.status == 200, answer.body
        assert answer.body["removed"] is True
        assert answer.body["destination_id"] == agency.primary_id
        assert answer.body["moved"] == {
            "basic_seconds_sent": 600, "basic_seconds_received": 600,
            "premium_seconds_sent": 125, "premium_seconds_received": 125,
            "kp_credits": 7}

        assert balances_of(aid, sid) == {"basic_minutes": 0, "premium_minutes": 0,
                                         "kp_credits": 0}
        primary = balances_of(aid, agency.primary_id)
        assert primary.get("basic_minutes", 0) - primary_before.get("basic_minutes", 0) == 600
        assert primary.get("premium_minutes", 0) - primary_before.get(
            "premium_minutes", 0) == 125
        assert primary.get("kp_credits", 0) - primary_before.get("kp_credits", 0) == 7
        assert all(total == 0 for total in ledger_totals(aid).values()), ledger_totals(aid)
        # toward a lower price: 1:1, no supply created (SPEC move rule)
        assert slots_used(aid) == slots_before - 1

        assert call(app_client, "GET", f"/v1/subaccounts/{sid}",
                    token=agency.owner_token).status == 404
        listing = call(app_client, "GET", "/v1/subaccounts", token=agency.owner_token)
        assert sid not in {s["id"] for s in listing.body["subaccounts"]}
        # the ledger history stays
        from chalicelib.domain.ledger import wallet
        from chalicelib.store import keys
        from chalicelib.store.ledger import LedgerEntry, get_transaction

        entries = list(LedgerEntry.query(keys.account_pk(aid, wallet(sid))))
        assert len(entries) == 6  # three grants, three removal debits
        assert get_transaction(aid, f"removal:{sid}") is not None

    def test_removal_to_another_sub_account_uses_both_prices(self, app_client) -> None:
        agency, sub = _funded(app_client)
        other = new_subaccount(app_client, agency, prices={"basic": "0.50", "premium": "0.30"})
        answer = _remove(app_client, agency, sub["id"], other["id"])
        assert answer.status == 200, answer.body
        assert answer.body["moved"]["basic_seconds_received"] == 300
        assert answer.body["moved"]["premium_seconds_received"] == 125
        assert balances_of(agency.agency_id, other["id"]) == {
            "basic_minutes": 300, "premium_minutes": 125}
        # KP credits always go back to the primary
        assert balances_of(agency.agency_id, agency.primary_id)["kp_credits"] == 7
        assert all(total == 0 for total in ledger_totals(agency.agency_id).values())

    def test_removal_stops_resources_and_frees_the_login(self, app_client) -> None:
        agency, sub = _funded(app_client)
        aid, sid, owner = agency.agency_id, sub["id"], agency.owner_token
        login_email = sub["login_email"]
        mails = call(app_client, "GET", f"/v1/platform/outbox?to={login_email}",
                     platform=True).body["messages"]
        token = mails[0]["body"].split("token=")[1].split()[0]
        accepted = call(app_client, "POST", "/v1/auth/invitations/accept",
                        body={"token": token, "password": "client-password-1"})
        assert accepted.status == 200
        client_token = accepted.body["access_token"]
        made = {}
        for kind, body in (("campaigns", {"name": "c"}), ("agents", {"name": "a"}),
                           ("automations", {"name": "w"}),
                           ("phone-numbers", {"number": "+14155550123"})):
            made[kind] = call(app_client, "POST", f"/v1/subaccounts/{sid}/{kind}", token=owner,
                              body=body).body["id"]
        assert call(app_client, "POST", f"/v1/subaccounts/{sid}/suspend", token=owner,
                    body={}).status == 200

        assert _remove(app_client, agency, sid, agency.primary_id).status == 200
        assert resource(aid, sid, "campaigns", made["campaigns"]).status == "paused"
        assert resource(aid, sid, "agents", made["agents"]).status == "inactive"
        assert resource(aid, sid, "automations", made["automations"]).status == "disabled"
        assert resource(aid, sid, "phone-numbers", made["phone-numbers"]).status == "released"
        # the login user is gone and its email is free for a new sub-account
        assert call(app_client, "GET", "/v1/me", token=client_token).status == 401
        again = new_subaccount(app_client, agency, email=login_email)
        assert again["login_email"] == login_email
        assert call(app_client, "GET", f"/v1/subaccounts/{sid}/campaigns",
                    token=owner).status == 404

    def test_removal_revokes_a_pending_login_invitation(self, app_client) -> None:
        agency, sub = _funded(app_client)
        mails = call(app_client, "GET", f"/v1/platform/outbox?to={sub['login_email']}",
                     platform=True).body["messages"]
        token = mails[0]["body"].split("token=")[1].split()[0]
        assert _remove(app_client, agency, sub["id"], agency.primary_id).status == 200
        accept = call(app_client, "POST", "/v1/auth/invitations/accept",
                      body={"token": token, "password": "client-password-1"})
        assert accept.status == 404
        pending = call(app_client, "GET", "/v1/invitations", token=agency.owner_token)
        assert pending.body["invitations"] == []

    def test_retry_is_safe(self, app_client) -> None:
        agency, sub = _funded(app_client)
        key = {"Idempotency-Key": "remove-once-1"}
        first = _remove(app_client, agency, sub["id"], agency.primary_id, headers=key)
        assert first.status == 200
        replay = _remove(app_client, agency, sub["id"], agency.primary_id, headers=key)
        assert replay.status == 200
        assert replay.body == first.body
        plain = _remove(app_client, agency, sub["id"], agency.primary_id)
        assert plain.status == 404
        assert balances_of(agency.agency_id, agency.primary_id)["basic_minutes"] == 600
        assert all(total == 0 for total in ledger_totals(agency.agency_id).values())

    def test_a_balance_change_between_read_and_commit_is_re_read_not_left_as_dust(
            self, app_client, monkeypatch) -> None:
        import chalicelib.services.removals as service

        agency, sub = _funded(app_client)
        real = service.read_balances
        calls = {"n": 0}

        def stale_then_real(agency_id: str, account: str) -> Any:
            calls["n"] += 1
            view = real(agency_id, account)
            if calls["n"] == 1:  # money arrives right after the first read
                grant(agency.agency_id, sub["id"], "basic_minutes", 60)
                grant(agency.agency_id, sub["id"], "kp_credits", 0 + 3)
            return view

        monkeypatch.setattr(service, "read_balances", stale_then_real)
        answer = _remove(app_client, agency, sub["id"], agency.primary_id)
        assert answer.status == 200, answer.body
        assert calls["n"] == 2
        assert answer.body["moved"]["basic_seconds_sent"] == 660
        assert answer.body["moved"]["kp_credits"] == 10
        assert balances_of(agency.agency_id, sub["id"]) == {
            "basic_minutes": 0, "premium_minutes": 0, "kp_credits": 0}
        assert all(total == 0 for total in ledger_totals(agency.agency_id).values())

    def test_an_empty_sub_account_is_removed_without_a_ledger_transaction(
            self, app_client) -> None:
        agency = create_agency(app_client)
        sub = new_subaccount(app_client, agency)
        answer = _remove(app_client, agency, sub["id"], agency.primary_id)
        assert answer.status == 200, answer.body
        assert answer.body["moved"]["basic_seconds_sent"] == 0
        assert answer.body["transaction_id"] is None

    def test_refusals(self, app_client) -> None:
        agency, sub = _funded(app_client)
        sid = sub["id"]
        primary = _remove(app_client, agency, agency.primary_id, sid)
        assert primary.status == 409
        assert primary.error_code == "primary_subaccount"
        for destination in (sid, "sub_nope", ""):
            answer = _remove(app_client, agency, sid, destination)
            assert answer.status == 422, destination
        other_agency = create_agency(app_client)
        foreign = _remove(app_client, agency, sid, other_agency.primary_id)
        assert foreign.status == 422
        assert foreign.error_code == "invalid_destination"
        gone = new_subaccount(app_client, agency)
        assert _remove(app_client, agency, gone["id"], agency.primary_id).status == 200
        assert _remove(app_client, agency, sid, gone["id"]).status == 422
        admin = make_user(agency.agency_id, "agency_admin")
        sub_admin = make_user(agency.agency_id, "subaccount_admin", subaccount_ids=(sid,))
        assert call(app_client, "POST", f"/v1/subaccounts/{sid}/removal", token=sub_admin,
                    body={"minutes_destination_id": agency.primary_id}).status == 403
        # nothing moved by the refusals
        assert balances_of(agency.agency_id, sid)["basic_minutes"] == 600
        ok = call(app_client, "POST", f"/v1/subaccounts/{sid}/removal", token=admin,
                  body={"minutes_destination_id": agency.primary_id})
        assert ok.status == 200

"""The audit log: each admin action recorded with actor, time, before/after; filters; pages."""

from __future__ import annotations

from tests.e2e.subaccounts.support import make_user, new_subaccount
from tests.helpers import call, create_agency


class TestAuditLog:
    def test_each_sub_account_action_leaves_an_entry(self, app_client) -> None:
        agency = create_agency(app_client)
        owner = agency.owner_token
        sub = new_subaccount(app_client, agency)
        sid = sub["id"]
        call(app_client, "PATCH", f"/v1/subaccounts/{sid}", token=owner,
             body={"prices": {"basic": "0.40"}})
        call(app_client, "PATCH", f"/v1/subaccounts/{sid}", token=owner, body={"name": "New"})
        call(app_client, "POST", f"/v1/subaccounts/{sid}/suspend", token=owner,
             body={"note": "late"})
        call(app_client, "POST", f"/v1/subaccounts/{sid}/restore", token=owner)
        call(app_client, "POST", f"/v1/subaccounts/{sid}/removal", token=owner,
             body={"minutes_destination_id": agency.primary_id})

        log = call(app_client, "GET", f"/v1/audit-log?subaccount_id={sid}", token=owner)
        assert log.status == 200, log.body
        events = log.body["events"]
        actions = [e["action"] for e in events]
        assert actions == ["subaccount.removed", "subaccount.restored", "subaccount.suspended",
                           "subaccount.updated", "subaccount.prices_changed",
                           "subaccount.created"]
        assert all(e["actor_user_id"] == agency.owner_id for e in events)
        assert all(e["at"] for e in events)
        by_action = {e["action"]: e for e in events}
        assert by_action["subaccount.updated"]["before"] == {"name": sub["name"]}
        assert by_action["subaccount.updated"]["after"] == {"name": "New"}
        assert by_action["subaccount.suspended"]["after"]["note"] == "late"
        assert by_action["subaccount.restored"]["before"]["note"] == "late"
        assert by_action["subaccount.removed"]["after"]["minutes_destination_id"] == (
            agency.primary_id)
        # the login user's invitation is audited too (by the identity area), same actor
        invitations = call(app_client, "GET", "/v1/audit-log?action=invitation.created",
                           token=owner).body["events"]
        assert len(invitations) == 1

    def test_filters_and_pages(self, app_client) -> None:
        agency = create_agency(app_client)
        owner = agency.owner_token
        admin = make_user(agency.agency_id, "agency_admin")
        for _ in range(3):
            new_subaccount(app_client, agency)
        by_admin = call(app_client, "POST", "/v1/subaccounts", token=admin, body={
            "name": "By admin", "login_email": "byadmin@x.example.com",
            "prices": {"basic": "0.2", "premium": "0.2"}}).body

        created = call(app_client, "GET", "/v1/audit-log?action=subaccount.created",
                       token=owner).body["events"]
        assert len(created) == 4
        assert created[0]["subaccount_id"] == by_admin["id"]  # newest first
        admin_id = created[0]["actor_user_id"]
        mine = call(app_client, "GET", f"/v1/audit-log?actor={admin_id}",
                    token=owner).body["events"]
        assert {e["action"] for e in mine} == {"subaccount.created", "invitation.created"}

        seen: list[str] = []
        cursor = None
        for _ in range(10):
            path = "/v1/audit-log?action=subaccount.created&limit=3" + (
                f"&cursor={cursor}" if cursor else "")
            page = call(app_client, "GET", path, token=owner).body
            seen += [e["id"] for e in page["events"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == 4

        from chalicelib.api.render import today_utc

        today = today_utc().isoformat()
        assert len(call(app_client, "GET",
                        f"/v1/audit-log?action=subaccount.created&from={today}&to={today}",
                        token=owner).body["events"]) == 4
        assert call(app_client, "GET", "/v1/audit-log?from=2020-01-01&to=2020-01-31",
                    token=owner).body["events"] == []
        assert call(app_client, "GET", "/v1/audit-log?from=2026-02-01&to=2026-01-01",
                    token=owner).status == 422
        assert call(app_client, "GET", "/v1/audit-log?from=yesterday",
                    token=owner).status == 422
        assert call(app_client, "GET", "/v1/audit-log?cursor=garbage",
                    token=owner).status == 400  # SPEC: a changed cursor → 400

    def test_only_owner_and_admin_read_it_and_only_their_agency(self, app_client) -> None:
        agency = create_agency(app_client)
        other = create_agency(app_client)
        new_subaccount(app_client, other)
        sub = new_subaccount(app_client, agency)
        assert call(app_client, "GET", "/v1/audit-log",
                    token=make_user(agency.agency_id, "agency_admin")).status == 200
        for role in ("agency_member", "subaccount_admin", "subaccount_member"):
            token = make_user(agency.agency_id, role, subaccount_ids=(sub["id"],))
            assert call(app_client, "GET", "/v1/audit-log", token=token).status == 403, role
        events = call(app_client, "GET", "/v1/audit-log", token=agency.owner_token).body["events"]
        assert {e["subaccount_id"] for e in events if e["subaccount_id"]} == {sub["id"]}

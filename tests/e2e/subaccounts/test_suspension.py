"""Suspend and restore: 423 on every write by sub-account users, reads still work, symmetry."""

from __future__ import annotations

from typing import Any

from tests.e2e.subaccounts.support import grant, make_user, new_subaccount, resource
from tests.helpers import AgencyFixture, call, create_agency

KINDS = {"campaigns": {"name": "Spring promo"}, "agents": {"name": "Front desk"},
         "automations": {"name": "GHL booking trigger"},
         "phone-numbers": {"number": "+14155550123"}}


def _create(client: Any, token: str, sid: str, kind: str, body: dict[str, Any]) -> dict:
    answer = call(client, "POST", f"/v1/subaccounts/{sid}/{kind}", token=token, body=body)
    assert answer.status == 201, answer.body
    return answer.body


def _world(client: Any) -> tuple[AgencyFixture, dict, str, str]:
    agency = create_agency(client)
    sub = new_subaccount(client, agency)
    admin = make_user(agency.agency_id, "subaccount_admin", subaccount_ids=(sub["id"],))
    member = make_user(agency.agency_id, "subaccount_member", subaccount_ids=(sub["id"],))
    return agency, sub, admin, member


def _registered(client: Any, method: str, path: str) -> bool:
    from app import app

    entry = app.routes.get(path)
    return bool(entry) and method in entry


class TestSuspend:
    def test_suspend_records_the_banner_and_pauses_exactly_the_running_resources(
            self, app_client) -> None:
        agency, sub, admin, _ = _world(app_client)
        sid = sub["id"]
        running = _create(app_client, admin, sid, "campaigns", {"name": "Running"})
        by_hand = _create(app_client, admin, sid, "campaigns", {"name": "Paused by hand"})
        call(app_client, "PATCH", f"/v1/subaccounts/{sid}/campaigns/{by_hand['id']}",
             token=admin, body={"status": "paused"})
        agent = _create(app_client, admin, sid, "agents", {"name": "Inbound"})
        automation = _create(app_client, admin, sid, "automations", {"name": "Workflow"})
        number = _create(app_client, admin, sid, "phone-numbers", {"number": "+14155550123"})

        answer = call(app_client, "POST", f"/v1/subaccounts/{sid}/suspend",
                      token=agency.owner_token, body={"note": "Invoice 42 is overdue"})
        assert answer.status == 200, answer.body
        assert answer.body["status"] == "suspended"
        assert answer.body["banner"]["suspended"] is True
        assert answer.body["banner"]["note"] == "Invoice 42 is overdue"
        assert answer.body["banner"]["since"]

        aid = agency.agency_id
        assert resource(aid, sid, "campaigns", running["id"]).status == "paused"
        assert resource(aid, sid, "campaigns", by_hand["id"]).status == "paused"
        assert resource(aid, sid, "agents", agent["id"]).status == "inactive"
        assert resource(aid, sid, "automations", automation["id"]).status == "disabled"
        assert resource(aid, sid, "phone-numbers", number["id"]).status == "active"

        # What the suspension paused is marked on each resource (SPEC), nothing else is.
        from chalicelib.store.resources import all_resources

        marked = sorted((item.type, item.resource_id) for item in all_resources(aid, sid)
                        if item.suspension_mark)
        assert marked == sorted([("campaign", running["id"]), ("agent", agent["id"]),
                                 ("automation", automation["id"])])
        notes = call(app_client, "GET", "/v1/notifications", token=agency.owner_token)
        if notes.status == 200:  # the notifications route belongs to another area
            items = notes.body.get("notifications", [])
            assert any(n["type"] == "subaccount_suspended" for n in items)

    def test_every_write_by_sub_account_users_is_423_and_reads_still_work(
            self, app_client) -> None:
        agency, sub, admin, member = _world(app_client)
        sid = sub["id"]
        existing = {kind: _create(app_client, admin, sid, kind, body)
                    for kind, body in KINDS.items()}
        grant(agency.agency_id, sid, "basic_minutes", 600)
        assert call(app_client, "POST", f"/v1/subaccounts/{sid}/suspend",
                    token=agency.owner_token, body={"note": "Pay up"}).status == 200

        writes: list[tuple[str, str, dict | None]] = []
        for kind, body in KINDS.items():
            base = f"/v1/subaccounts/{sid}/{kind}"
            rid = existing[kind]["id"]
            new_body = {"number": "+14155550199"} if kind == "phone-numbers" else body
            status = {"campaigns": "active", "agents": "active", "automations": "enabled",
                      "phone-numbers": "active"}[kind]
            writes += [("POST", base, new_body), ("PATCH", f"{base}/{rid}", {"status": status}),
                       ("DELETE", f"{base}/{rid}", None)]
        # Payment routes of another area, when they are registered.
        optional = [
            ("POST", "/v1/subaccounts/{subaccount_id}/purchases",
             {"tier": "basic", "minutes": 10}),
            ("POST", "/v1/subaccounts/{subaccount_id}/payment-methods",
             {"payment_method": "pm_card_visa"}),
            ("PUT", "/v1/subaccounts/{subaccount_id}/auto-recharge",
             {"tier": "basic", "threshold_minutes": 10, "recharge_minutes": 100,
              "enabled": True}),
        ]
        others = [(method, template.replace("{subaccount_id}", sid), body)
                  for method, template, body in optional
                  if _registered(app_client, method, template)]
        writes += others

        for method, path, body in writes:
            answer = call(app_client, method, path, token=admin, body=body)
            if answer.status == 500 and (method, path, body) in others:
                continue  # another area's route whose service is not there yet
            assert answer.status == 423, (method, path, answer.body)
            assert answer.error_code == "subaccount_suspended"
            assert answer.body["error"]["details"]["note"] == "Pay up"
        # the member was read-only anyway: 403 (forbidden before suspension matters)
        answer = call(app_client, "POST", f"/v1/subaccounts/{sid}/campaigns", token=member,
                      body={"name": "x"})
        assert answer.status == 403
        # nothing was written
        listing = call(app_client, "GET", f"/v1/subaccounts/{sid}/campaigns", token=admin)
        assert [c["id"] for c in listing.body["campaigns"]] == [existing["campaigns"]["id"]]

        for token in (admin, member):
            got = call(app_client, "GET", f"/v1/subaccounts/{sid}", token=token)
            assert got.status == 200
            assert got.body["banner"]["suspended"] is True
            assert got.body["banner"]["note"] == "Pay up"
            for kind in KINDS:
                assert call(app_client, "GET", f"/v1/subaccounts/{sid}/{kind}",
                            token=token).status == 200
            if _registered(app_client, "GET", "/v1/subaccounts/{subaccount_id}/wallet"):
                wallet = call(app_client, "GET", f"/v1/subaccounts/{sid}/wallet", token=token)
                assert wallet.status == 200
                assert wallet.body["basic_seconds"] == 600

        authorize = call(app_client, "POST", "/v1/platform/calls/authorize", platform=True,
                         body={"subaccount_id": sid, "tier": "basic"})
        assert authorize.status == 200
        assert authorize.body["allowed"] is False

        # agency staff still manage the sub-account's resources while it is suspended
        created = call(app_client, "POST", f"/v1/subaccounts/{sid}/campaigns",
                       token=agency.owner_token, body={"name": "Staff campaign"})
        assert created.status == 201

    def test_refusals(self, app_client) -> None:
        agency, sub, admin, _ = _world(app_client)
        sid = sub["id"]
        assert call(app_client, "POST", f"/v1/subaccounts/{sid}/suspend", token=admin,
                    body={}).status == 403
        long_note = call(app_client, "POST", f"/v1/subaccounts/{sid}/suspend",
                         token=agency.owner_token, body={"note": "x" * 151})
        assert long_note.status == 422
        primary = call(app_client, "POST", f"/v1/subaccounts/{agency.primary_id}/suspend",
                       token=agency.owner_token, body={})
        assert primary.status == 409
        assert primary.error_code == "primary_subaccount"
        ok = call(app_client, "POST", f"/v1/subaccounts/{sid}/suspend",
                  token=agency.owner_token, body={"note": "x" * 150})
        assert ok.status == 200
        twice = call(app_client, "POST", f"/v1/subaccounts/{sid}/suspend",
                     token=agency.owner_token, body={})
        assert twice.status == 409
        restore_admin = call(app_client, "POST", f"/v1/subaccounts/{sid}/restore", token=admin)
        assert restore_admin.status == 403
        assert call(app_client, "POST", f"/v1/subaccounts/{sid}/restore",
                    token=agency.owner_token).status == 200
        not_suspended = call(app_client, "POST", f"/v1/subaccounts/{sid}/restore",
                             token=agency.owner_token)
        assert not_suspended.status == 409
        assert not_suspended.error_code == "not_suspended"


class TestRestore:
    def test_restore_reactivates_exactly_what_the_suspension_paused(self, app_client) -> None:
        agency, sub, admin, _ = _world(app_client)
        sid, aid = sub["id"], agency.agency_id
        running = _create(app_client, admin, sid, "campaigns", {"name": "Running"})
        by_hand = _create(app_client, admin, sid, "campaigns", {"name": "Paused before"})
        call(app_client, "PATCH", f"/v1/subaccounts/{sid}/campaigns/{by_hand['id']}",
             token=admin, body={"status": "paused"})
        off_agent = _create(app_client, admin, sid, "agents", {"name": "Off"})
        call(app_client, "PATCH", f"/v1/subaccounts/{sid}/agents/{off_agent['id']}",
             token=admin, body={"status": "inactive"})
        agent = _create(app_client, admin, sid, "agents", {"name": "On"})
        automation = _create(app_client, admin, sid, "automations", {"name": "Flow"})
        doomed = _create(app_client, admin, sid, "automations", {"name": "Deleted meanwhile"})
        staff_restarted = _create(app_client, admin, sid, "campaigns", {"name": "Restarted"})

        assert call(app_client, "POST", f"/v1/subaccounts/{sid}/suspend",
                    token=agency.owner_token, body={}).status == 200
        owner = agency.owner_token
        # during the suspension agency staff delete one paused thing, restart another, and
        # pause one more by hand (not paused by the suspension: stays paused after restore)
        assert call(app_client, "DELETE", f"/v1/subaccounts/{sid}/automations/{doomed['id']}",
                    token=owner).status == 204
        assert call(app_client, "PATCH",
                    f"/v1/subaccounts/{sid}/campaigns/{staff_restarted['id']}",
                    token=owner, body={"status": "active"}).status == 200
        late = call(app_client, "POST", f"/v1/subaccounts/{sid}/campaigns", token=owner,
                    body={"name": "Created while suspended"}).body
        call(app_client, "PATCH", f"/v1/subaccounts/{sid}/campaigns/{late['id']}", token=owner,
             body={"status": "paused"})

        restored = call(app_client, "POST", f"/v1/subaccounts/{sid}/restore", token=owner)
        assert restored.status == 200, restored.body
        assert restored.body["status"] == "active"
        assert restored.body["banner"] == {"suspended": False, "note": None, "since": None}

        assert resource(aid, sid, "campaigns", running["id"]).status == "active"
        assert resource(aid, sid, "campaigns", by_hand["id"]).status == "paused"
        assert resource(aid, sid, "agents", off_agent["id"]).status == "inactive"
        assert resource(aid, sid, "agents", agent["id"]).status == "active"
        assert resource(aid, sid, "automations", automation["id"]).status == "enabled"
        assert resource(aid, sid, "automations", doomed["id"]) is None
        assert resource(aid, sid, "campaigns", staff_restarted["id"]).status == "active"
        assert resource(aid, sid, "campaigns", late["id"]).status == "paused"
        # sub-account users write again
        assert call(app_client, "POST", f"/v1/subaccounts/{sid}/campaigns", token=admin,
                    body={"name": "Back"}).status == 201

    def test_more_resources_than_one_transaction_holds(self, app_client) -> None:
        from chalicelib.services.resources import RESOURCE_TYPES
        from chalicelib.store import keys
        from chalicelib.store.base import utcnow
        from chalicelib.store.resources import Resource, all_resources

        agency, sub, _, _ = _world(app_client)
        sid, aid = sub["id"], agency.agency_id
        with Resource.batch_write() as batch:
            for n in range(110):
                batch.save(Resource(keys.resource_pk(aid, sid),
                                    keys.resource_sk("campaign", f"cmp_bulk{n:03d}"),
                                    agency_id=aid, subaccount_id=sid,
                                    resource_id=f"cmp_bulk{n:03d}", type="campaign",
                                    name=f"Bulk {n}", status="active", created_at=utcnow()))
        assert RESOURCE_TYPES["campaigns"].running == "active"
        assert call(app_client, "POST", f"/v1/subaccounts/{sid}/suspend",
                    token=agency.owner_token, body={}).status == 200
        assert {r.status for r in all_resources(aid, sid)} == {"paused"}
        assert call(app_client, "POST", f"/v1/subaccounts/{sid}/restore",
                    token=agency.owner_token).status == 200
        assert {r.status for r in all_resources(aid, sid)} == {"active"}

"""Campaigns, agents, automations and phone numbers: CRUD and the role matrix."""

from __future__ import annotations

import pytest

from tests.e2e.subaccounts.support import make_user, new_subaccount
from tests.helpers import call, create_agency

STATUSES = {"campaigns": ("active", "paused"), "agents": ("active", "inactive"),
            "automations": ("enabled", "disabled")}


class TestResourceCrud:
    @pytest.mark.parametrize("kind", ["campaigns", "agents", "automations"])
    def test_create_list_patch_delete(self, app_client, kind: str) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)["id"]
        owner = agency.owner_token
        base = f"/v1/subaccounts/{sid}/{kind}"
        created = call(app_client, "POST", base, token=owner, body={"name": "Thing"})
        assert created.status == 201
        assert created.body["name"] == "Thing"
        assert created.body["status"] == STATUSES[kind][0]
        rid = created.body["id"]
        listing = call(app_client, "GET", base, token=owner)
        assert [r["id"] for r in listing.body[kind]] == [rid]
        patched = call(app_client, "PATCH", f"{base}/{rid}", token=owner,
                       body={"status": STATUSES[kind][1]})
        assert patched.status == 200
        assert patched.body["status"] == STATUSES[kind][1]
        wrong = call(app_client, "PATCH", f"{base}/{rid}", token=owner, body={"status": "gone"})
        assert wrong.status == 422
        assert wrong.error_code == "invalid_status"
        assert call(app_client, "DELETE", f"{base}/{rid}", token=owner).status == 204
        assert call(app_client, "DELETE", f"{base}/{rid}", token=owner).status == 404
        assert call(app_client, "PATCH", f"{base}/{rid}", token=owner,
                    body={"status": STATUSES[kind][0]}).status == 404
        assert call(app_client, "GET", base, token=owner).body[kind] == []

    def test_phone_numbers_are_e164_validated_and_unique_per_sub_account(
            self, app_client) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)["id"]
        owner = agency.owner_token
        base = f"/v1/subaccounts/{sid}/phone-numbers"
        created = call(app_client, "POST", base, token=owner, body={"number": "+14155550123"})
        assert created.status == 201, created.body
        assert created.body["number"] == "+14155550123"
        assert created.body["status"] == "active"
        again = call(app_client, "POST", base, token=owner, body={"number": "+14155550123"})
        assert again.status == 409
        for bad in ("4155550123", "+1415555012", "+99912345678", "+1 415 555 0123", "hello",
                    "+14155550123x"):
            answer = call(app_client, "POST", base, token=owner, body={"number": bad})
            assert answer.status == 422, bad
            assert answer.error_code == "invalid_phone_number"
        assert call(app_client, "POST", base, token=owner, body={"name": "x"}).status == 422

    def test_a_number_is_held_by_one_sub_account_of_the_agency_at_a_time(
            self, app_client) -> None:
        agency, other_agency = create_agency(app_client), create_agency(app_client)
        a, b = (new_subaccount(app_client, agency)["id"] for _ in range(2))
        owner, number = agency.owner_token, {"number": "+14155550188"}

        def add(sid: str, token: str = owner):
            return call(app_client, "POST", f"/v1/subaccounts/{sid}/phone-numbers",
                        token=token, body=number)

        on_a = add(a)
        assert on_a.status == 201, on_a.body
        taken = add(b)
        assert (taken.status, taken.error_code) == (409, "phone_number_in_use")
        assert a not in str(taken.body)  # which sub-account holds it is not said
        assert call(app_client, "GET", f"/v1/subaccounts/{b}/phone-numbers",
                    token=owner).body["phone_numbers"] == []
        # Another agency is another tenant: its own claim, no oracle on ours.
        elsewhere = new_subaccount(app_client, other_agency)["id"]
        assert add(elsewhere, other_agency.owner_token).status == 201

        # Deleting it from A gives it back; B takes it; removing B gives it back again.
        deleted = call(app_client, "DELETE", f"/v1/subaccounts/{a}/phone-numbers/"
                       f"{on_a.body['id']}", token=owner)
        assert deleted.status in (200, 204), deleted.body
        assert add(b).status == 201
        assert add(a).error_code == "phone_number_in_use"
        removed = call(app_client, "POST", f"/v1/subaccounts/{b}/removal", token=owner,
                       body={"minutes_destination_id": agency.primary_id})
        assert removed.status == 200, removed.body
        assert add(a).status == 201

    def test_a_claim_left_by_a_cut_short_removal_is_taken_over(self, app_client) -> None:
        """A removal that crashed between its chunks released the number but not its claim:
        the next sub-account that adds the number takes the stale claim over."""
        from chalicelib.services.resources import RELEASED
        from chalicelib.store import keys
        from chalicelib.store.resources import PhoneNumberClaim, Resource, resource_key

        agency = create_agency(app_client)
        a, b = (new_subaccount(app_client, agency)["id"] for _ in range(2))
        owner, number = agency.owner_token, "+14155550199"
        added = call(app_client, "POST", f"/v1/subaccounts/{b}/phone-numbers", token=owner,
                     body={"number": number})
        assert added.status == 201, added.body
        resource_key(agency.agency_id, b, "phone_number", added.body["id"]).update(
            actions=[Resource.status.set(RELEASED)])  # the first chunk ran, the claim's did not
        taken = call(app_client, "POST", f"/v1/subaccounts/{a}/phone-numbers", token=owner,
                     body={"number": number})
        assert taken.status == 201, taken.body
        claim = PhoneNumberClaim.get(keys.agency_pk(agency.agency_id),
                                     keys.phone_claim_sk(number), consistent_read=True)
        assert claim.subaccount_id == a

    def test_bad_bodies_are_422_and_unknown_ids_404(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)["id"]
        owner = agency.owner_token
        base = f"/v1/subaccounts/{sid}/campaigns"
        assert call(app_client, "POST", base, token=owner, body={}).status == 422
        assert call(app_client, "POST", base, token=owner,
                    body={"name": "x", "extra": 1}).status == 422
        assert call(app_client, "POST", base, token=owner, body={"name": ""}).status == 422
        assert call(app_client, "POST", "/v1/subaccounts/sub_nope/campaigns", token=owner,
                    body={"name": "x"}).status == 404
        assert call(app_client, "PATCH", f"{base}/{'x' * 80}", token=owner,
                    body={"status": "active"}).status == 404

    def test_list_paginates(self, app_client) -> None:
        agency = create_agency(app_client)
        sid = new_subaccount(app_client, agency)["id"]
        base = f"/v1/subaccounts/{sid}/agents"
        for n in range(5):
            call(app_client, "POST", base, token=agency.owner_token, body={"name": f"a{n}"})
        first = call(app_client, "GET", f"{base}?limit=3", token=agency.owner_token).body
        assert len(first["agents"]) == 3 and first["next_cursor"]
        second = call(app_client, "GET", f"{base}?limit=3&cursor={first['next_cursor']}",
                      token=agency.owner_token).body
        assert len(second["agents"]) == 2
        assert not {a["id"] for a in first["agents"]} & {a["id"] for a in second["agents"]}


class TestResourceRoleMatrix:
    def test_who_may_read_and_write(self, app_client) -> None:
        agency = create_agency(app_client)
        other = create_agency(app_client)
        granted = new_subaccount(app_client, agency)["id"]
        not_granted = new_subaccount(app_client, agency)["id"]
        aid = agency.agency_id
        roles = {
            "owner": agency.owner_token,
            "agency_admin": make_user(aid, "agency_admin"),
            "agency_member": make_user(aid, "agency_member", subaccount_ids=(granted,)),
            "subaccount_admin": make_user(aid, "subaccount_admin", subaccount_ids=(granted,)),
            "subaccount_member": make_user(aid, "subaccount_member", subaccount_ids=(granted,)),
            "other_agency": other.owner_token,
        }
        # (read, write) expected statuses on the granted sub-account
        expected = {
            "owner": (200, 201), "agency_admin": (200, 201), "agency_member": (200, 201),
            "subaccount_admin": (200, 201), "subaccount_member": (200, 403),
            "other_agency": (404, 404),
        }
        for role, token in roles.items():
            for kind, body in (("campaigns", {"name": "c"}),
                               ("phone-numbers", {"number": f"+1415555{len(role):04d}"})):
                base = f"/v1/subaccounts/{granted}/{kind}"
                read = call(app_client, "GET", base, token=token).status
                write = call(app_client, "POST", base, token=token, body=body).status
                assert (read, write) == expected[role], (role, kind, read, write)
        # outside a user's access: 404 for both, never 403
        for role in ("agency_member", "subaccount_admin", "subaccount_member"):
            base = f"/v1/subaccounts/{not_granted}/campaigns"
            assert call(app_client, "GET", base, token=roles[role]).status == 404
            assert call(app_client, "POST", base, token=roles[role],
                        body={"name": "x"}).status == 404
        # sub-account roles never use the primary; agency members do
        primary = f"/v1/subaccounts/{agency.primary_id}/campaigns"
        assert call(app_client, "GET", primary, token=roles["subaccount_admin"]).status == 404
        assert call(app_client, "POST", primary, token=roles["agency_member"],
                    body={"name": "ours"}).status == 201
        # the member's PATCH and DELETE are refused too
        rid = call(app_client, "POST", f"/v1/subaccounts/{granted}/campaigns",
                   token=roles["owner"], body={"name": "x"}).body["id"]
        item = f"/v1/subaccounts/{granted}/campaigns/{rid}"
        assert call(app_client, "PATCH", item, token=roles["subaccount_member"],
                    body={"status": "paused"}).status == 403
        assert call(app_client, "DELETE", item, token=roles["subaccount_member"]).status == 403
        assert call(app_client, "PATCH", item, token=roles["other_agency"],
                    body={"status": "paused"}).status == 404

"""The plan cap holds under concurrency: a counter item in the create transaction."""

from __future__ import annotations

import threading

from chalicelib.domain.errors import Conflict
from tests.e2e.subaccounts.support import new_subaccount, slots_used
from tests.helpers import call, create_agency


def _owner_principal(agency_id: str, owner_id: str):
    from chalicelib.services.sessions import principal_of
    from chalicelib.store import keys
    from chalicelib.store.accounts import User

    return principal_of(User.get(keys.agency_pk(agency_id), keys.user_sk(owner_id)))


def _occupy_slots(agency_id: str, used: int) -> None:
    """Set the slot counter directly (creating that many sub-accounts would only be slower)."""
    from chalicelib.store import keys
    from chalicelib.store.accounts import SlotCounter

    SlotCounter(keys.agency_pk(agency_id), keys.SLOTS_SK, used=used).save()


class TestPlanCap:
    def test_two_concurrent_creates_at_cap_minus_one_exactly_one_wins(self, app_client) -> None:
        from chalicelib.services.subaccounts import create_subaccount

        agency = create_agency(app_client, plan="agency_lite")  # cap 10
        principal = _owner_principal(agency.agency_id, agency.owner_id)
        create_subaccount(principal, name="Client", login_email="c@lite.example.com",
                          prices={"basic": "0.2", "premium": "0.3"}, subscription_start=None)
        _occupy_slots(agency.agency_id, 9)  # as if 8 more existed: the counter is the cap

        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def create(n: int) -> None:
            barrier.wait()
            try:
                create_subaccount(principal, name=f"Racer {n}",
                                  login_email=f"racer{n}@lite.example.com",
                                  prices={"basic": "0.2", "premium": "0.3"},
                                  subscription_start=None)
                outcomes.append("created")
            except Conflict as exc:
                outcomes.append(exc.code)

        threads = [threading.Thread(target=create, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["created", "plan_limit_reached"]
        assert slots_used(agency.agency_id) == 10
        listing = call(app_client, "GET", "/v1/subaccounts?limit=100", token=agency.owner_token)
        racers = [s for s in listing.body["subaccounts"] if s["name"].startswith("Racer")]
        assert len(racers) == 1

    def test_at_cap_the_api_answers_409_and_removal_frees_the_slot(self, app_client) -> None:
        agency = create_agency(app_client, plan="agency_lite")
        subs = [new_subaccount(app_client, agency)]
        _occupy_slots(agency.agency_id, 10)
        full = call(app_client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
            "name": "Eleventh", "login_email": "eleventh@lite.example.com",
            "prices": {"basic": "0.2", "premium": "0.3"}})
        assert full.status == 409
        assert full.error_code == "plan_limit_reached"
        removed = call(app_client, "POST", f"/v1/subaccounts/{subs[0]['id']}/removal",
                       token=agency.owner_token,
                       body={"minutes_destination_id": agency.primary_id})
        assert removed.status == 200, removed.body
        assert slots_used(agency.agency_id) == 9
        again = call(app_client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
            "name": "Eleventh", "login_email": "eleventh@lite.example.com",
            "prices": {"basic": "0.2", "premium": "0.3"}})
        assert again.status == 201

    def test_uncapped_plans_have_no_limit_check(self, app_client) -> None:
        agency = create_agency(app_client, plan="agency_unlimited")
        for _ in range(3):
            new_subaccount(app_client, agency)
        assert slots_used(agency.agency_id) == 3


class TestPlanChangeRace:
    def test_a_create_that_read_the_old_plan_loses_to_a_downgrade(self, app_client,
                                                                  monkeypatch) -> None:
        """The create read agency_pro (cap 50); a downgrade to agency_lite (cap 10) commits
        before the create does: the create must not push the slots past the new cap."""
        from chalicelib.services import subaccounts
        from chalicelib.services.access import get_agency

        agency = create_agency(app_client, plan="agency_pro")
        _occupy_slots(agency.agency_id, 10)  # exactly the lite cap
        stale = get_agency(agency.agency_id)  # what the create read: agency_pro
        downgraded = call(app_client, "PATCH", "/v1/agency", token=agency.owner_token,
                          body={"plan": "agency_lite"})
        assert downgraded.status == 200, downgraded.body
        monkeypatch.setattr(subaccounts, "get_agency", lambda _agency_id: stale)
        principal = _owner_principal(agency.agency_id, agency.owner_id)
        try:
            subaccounts.create_subaccount(principal, name="Late", login_email="late@x.example.com",
                                          prices={"basic": "0.2", "premium": "0.3"},
                                          subscription_start=None)
            outcome = "created"
        except Conflict as exc:
            outcome = exc.code
        assert outcome == "concurrent_update"
        assert slots_used(agency.agency_id) == 10
        monkeypatch.undo()
        retried = call(app_client, "POST", "/v1/subaccounts", token=agency.owner_token, body={
            "name": "Late", "login_email": "late@x.example.com",
            "prices": {"basic": "0.2", "premium": "0.3"}})
        assert (retried.status, retried.error_code) == (409, "plan_limit_reached")

"""Suspension at any size (SPEC "Sub-account lifecycle"): tested with 10,000 resources.

The status flips in one write (blocking is immediate); what the suspension paused is marked
on each resource; resources are paused and re-activated in batches that the
``subaccount-suspensions`` job finishes when the request is interrupted. A restore that
arrives while a suspension's batches are unfinished, and a suspend / restore / suspend
sequence, end with every resource in the state SPEC says.

An interrupted request is simulated at the botocore boundary: after a given number of
``TransactWriteItems`` the "Lambda dies" (an exception no handler catches), so nothing after
that point of the request runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.subaccounts.support import make_user, new_subaccount
from tests.helpers import AgencyFixture, call, create_agency

#: type → (running status, stopped status), as SPEC names them.
PAIRS = {"campaign": ("active", "paused"), "agent": ("active", "inactive"),
         "automation": ("enabled", "disabled")}


class LambdaKilled(BaseException):
    """The request's process died (a timeout or a crash): nothing after it runs."""


@contextlib.contextmanager
def dies_after(monkeypatch: pytest.MonkeyPatch, transactions: int) -> Iterator[None]:
    """The next request dies when it sends its ``transactions + 1``-th TransactWriteItems."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    sent = {"count": 0}

    def dying(self: BaseClient, operation_name: str, api_params: dict) -> Any:
        if operation_name == "TransactWriteItems":
            if sent["count"] >= transactions:
                raise LambdaKilled
            sent["count"] += 1
        return original(self, operation_name, api_params)

    with monkeypatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", dying)
        yield


def bulk_resources(agency_id: str, subaccount_id: str, counts: dict[tuple[str, str], int]
                   ) -> dict[str, tuple[str, str]]:
    """Write resources straight through the store (25 per BatchWriteItem):
    ``{(type, status): count}``; returns rid → (type, status written)."""
    from chalicelib.store import keys
    from chalicelib.store.base import utcnow
    from chalicelib.store.resources import Resource

    written: dict[str, tuple[str, str]] = {}
    now = utcnow() - timedelta(minutes=1)
    with Resource.batch_write() as batch:
        for (kind, status), count in counts.items():
            for n in range(count):
                rid = f"{kind[:3]}_{status}_{n:05d}"
                number = f"+1415{n:07d}" if kind == "phone_number" else None
                batch.save(Resource(keys.resource_pk(agency_id, subaccount_id),
                                    keys.resource_sk(kind, rid), agency_id=agency_id,
                                    subaccount_id=subaccount_id, resource_id=rid, type=kind,
                                    name=None if number else f"{kind} {n}", number=number,
                                    status=status, created_at=now))
                written[rid] = (kind, status)
    return written


def stored(agency_id: str, subaccount_id: str) -> dict[str, Any]:
    """Every resource as stored, by id."""
    from chalicelib.store.resources import all_resources

    return {item.resource_id: item for item in all_resources(agency_id, subaccount_id)}


def run_job(client: Any) -> dict[str, Any]:
    as_of = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = call(client, "POST", "/v1/platform/jobs/subaccount-suspensions/runs",
                  platform=True, body={"as_of": as_of})
    assert answer.status == 200, answer.body
    return answer.body


def suspend(client: Any, agency: AgencyFixture, sid: str) -> Any:
    return call(client, "POST", f"/v1/subaccounts/{sid}/suspend", token=agency.owner_token,
                body={"note": "Invoice overdue"})


def restore(client: Any, agency: AgencyFixture, sid: str) -> Any:
    return call(client, "POST", f"/v1/subaccounts/{sid}/restore", token=agency.owner_token)


def status_of(client: Any, agency: AgencyFixture, sid: str) -> str:
    answer = call(client, "GET", f"/v1/subaccounts/{sid}", token=agency.owner_token)
    assert answer.status == 200, answer.body
    return answer.body["status"]


def assert_suspended_state(items: dict[str, Any], written: dict[str, tuple[str, str]]) -> None:
    """What ran is paused and marked; what was stopped already, or never runs, is untouched
    and unmarked."""
    for rid, (kind, status) in written.items():
        item = items[rid]
        if kind in PAIRS and status == PAIRS[kind][0]:
            assert item.status == PAIRS[kind][1], (rid, item.status)
            assert item.suspension_mark, rid
        else:
            assert item.status == status, (rid, item.status)
            assert not item.suspension_mark, rid


def assert_restored_state(items: dict[str, Any], written: dict[str, tuple[str, str]]) -> None:
    """Every resource is back in the status it had before the suspension, unmarked."""
    for rid, (_, status) in written.items():
        assert items[rid].status == status, (rid, items[rid].status)
        assert not items[rid].suspension_mark, rid


def world(client: Any) -> tuple[AgencyFixture, str, str]:
    agency = create_agency(client)
    sid = new_subaccount(client, agency)["id"]
    admin = make_user(agency.agency_id, "subaccount_admin", subaccount_ids=(sid,))
    return agency, sid, admin


SMALL = {("campaign", "active"): 150, ("agent", "active"): 150, ("automation", "enabled"): 150,
         ("campaign", "paused"): 20, ("phone_number", "active"): 10}


class TestSuspensionOfTenThousandResources:
    # 18,000 conditional updates: moto spends ~3-12 ms on each (its expression parser), so
    # this runs for minutes on a loaded 2-core machine, where DynamoDB takes seconds.
    @pytest.mark.timeout(900)
    def test_suspension_of_10000_resources_pauses_marks_and_restores_exactly_those(
            self, app_client, monkeypatch) -> None:
        agency, sid, admin = world(app_client)
        aid = agency.agency_id
        written = bulk_resources(aid, sid, {
            ("campaign", "active"): 3000, ("agent", "active"): 3000,
            ("automation", "enabled"): 3000, ("campaign", "paused"): 500,
            ("phone_number", "active"): 500})
        assert len(written) == 10_000

        answer = suspend(app_client, agency, sid)
        assert answer.status == 200, answer.body
        assert answer.body["status"] == "suspended"
        assert answer.body["banner"]["suspended"] is True
        assert answer.body["banner"]["note"] == "Invoice overdue"
        blocked = call(app_client, "POST", f"/v1/subaccounts/{sid}/campaigns", token=admin,
                       body={"name": "Sneaky"})
        assert blocked.status == 423
        # A request pauses for a bounded time (20 s), then answers and leaves the rest to the
        # job: on a real table 10,000 take a few seconds, on a loaded emulator maybe more.
        run_job(app_client)
        assert_suspended_state(stored(aid, sid), written)

        # A restore whose request dies after its status flip and a few batches...
        # (3: the flip and two batches, well inside the request's 20 s even on a busy host.)
        with dies_after(monkeypatch, 3), pytest.raises(LambdaKilled):
            restore(app_client, agency, sid)
        assert status_of(app_client, agency, sid) == "active"
        halfway = stored(aid, sid)
        assert any(item.suspension_mark for item in halfway.values())
        # ...is finished by the job: exactly what the suspension paused is active again.
        summary = run_job(app_client)
        assert summary["succeeded"] >= 1
        assert_restored_state(stored(aid, sid), written)


class TestInterruptedRuns:
    def test_an_interrupted_suspension_blocks_at_once_and_the_job_finishes_it(
            self, app_client, monkeypatch) -> None:
        agency, sid, admin = world(app_client)
        aid = agency.agency_id
        written = bulk_resources(aid, sid, SMALL)

        with dies_after(monkeypatch, 2), pytest.raises(LambdaKilled):
            suspend(app_client, agency, sid)
        # The flip is one write: the sub-account is suspended, its users' writes are 423.
        assert status_of(app_client, agency, sid) == "suspended"
        blocked = call(app_client, "POST", f"/v1/subaccounts/{sid}/agents", token=admin,
                       body={"name": "Sneaky"})
        assert blocked.status == 423
        halfway = stored(aid, sid)
        running = [rid for rid, (kind, status) in written.items()
                   if kind in PAIRS and status == PAIRS[kind][0]]
        assert any(halfway[rid].status != PAIRS[written[rid][0]][1] for rid in running)

        run_job(app_client)
        assert_suspended_state(stored(aid, sid), written)
        # Nothing is left due: a second run finds no work.
        assert run_job(app_client)["processed"] == 0

        assert restore(app_client, agency, sid).status == 200
        assert_restored_state(stored(aid, sid), written)

    def test_a_restore_during_an_unfinished_suspension_leaves_everything_active(
            self, app_client, monkeypatch) -> None:
        agency, sid, _ = world(app_client)
        aid = agency.agency_id
        written = bulk_resources(aid, sid, SMALL)

        with dies_after(monkeypatch, 2), pytest.raises(LambdaKilled):
            suspend(app_client, agency, sid)
        answer = restore(app_client, agency, sid)
        assert answer.status == 200, answer.body
        assert answer.body["status"] == "active"
        assert_restored_state(stored(aid, sid), written)
        # The suspension's unfinished batches are not resumed by the job afterwards.
        run_job(app_client)
        assert_restored_state(stored(aid, sid), written)

    def test_suspend_restore_suspend_leaves_every_resource_in_the_right_state(
            self, app_client, monkeypatch) -> None:
        agency, sid, _ = world(app_client)
        aid = agency.agency_id
        written = bulk_resources(aid, sid, SMALL)

        assert suspend(app_client, agency, sid).status == 200
        with dies_after(monkeypatch, 2), pytest.raises(LambdaKilled):
            restore(app_client, agency, sid)  # half re-activated
        again = suspend(app_client, agency, sid)
        assert again.status == 200, again.body
        assert_suspended_state(stored(aid, sid), written)
        # The interrupted restore's job run must not re-activate anything now.
        run_job(app_client)
        assert_suspended_state(stored(aid, sid), written)

        assert restore(app_client, agency, sid).status == 200
        assert_restored_state(stored(aid, sid), written)

    def test_the_job_leaves_alone_what_staff_switched_back_on_during_the_suspension(
            self, app_client, monkeypatch) -> None:
        agency, sid, _ = world(app_client)
        aid = agency.agency_id
        written = bulk_resources(aid, sid, SMALL)

        with dies_after(monkeypatch, 2), pytest.raises(LambdaKilled):
            suspend(app_client, agency, sid)
        paused_already, kind = next((rid, item.type) for rid, item in stored(aid, sid).items()
                                    if item.suspension_mark)
        route = {"campaign": "campaigns", "agent": "agents", "automation": "automations"}[kind]
        switched = call(app_client, "PATCH", f"/v1/subaccounts/{sid}/{route}/{paused_already}",
                        token=agency.owner_token, body={"status": PAIRS[kind][0]})
        assert switched.status == 200, switched.body

        run_job(app_client)
        items = stored(aid, sid)
        assert items[paused_already].status == PAIRS[kind][0]  # the staff's choice stands
        assert not items[paused_already].suspension_mark
        assert restore(app_client, agency, sid).status == 200
        assert_restored_state(stored(aid, sid), written)

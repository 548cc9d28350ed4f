"""Issue 18, defect 12: login throttling per source IP as well as per email.

Decision (README "Login throttling"): 20 failed sign-ins from one source IP within 15
minutes → 429 with ``Retry-After`` for every sign-in from that IP until the window passes,
whatever the email; successes do not count (an office of many users behind one NAT signs in
all day) and do not wipe the failures of others either. The per-email limit (5) still holds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.identity.support import Clock
from tests.helpers import call, create_agency


@pytest.fixture
def source_ip(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Choose the source IP the local gateway reports (``requestContext.identity``)."""
    from chalice.local import LambdaEventConverter

    def use(address: str) -> None:
        monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", address)

    return use


def attempt(client: Any, email: str, password: str) -> Any:
    return call(client, "POST", "/v1/auth/login", body={"email": email, "password": password})


def test_twenty_failures_from_one_ip_lock_it_for_every_email(app_client: Any, source_ip: Any,
                                                             monkeypatch: Any) -> None:
    clock = Clock(monkeypatch)
    agency = create_agency(app_client)
    source_ip("203.0.113.7")
    for n in range(20):  # one failure per email: no email reaches its own limit
        assert attempt(app_client, f"guess{n}@victims.example.com", "wrong-pass").status == 401
    locked = attempt(app_client, agency.owner_email, agency.owner_password)
    assert (locked.status, locked.error_code) == (429, "too_many_requests"), locked.body
    wait = locked.body["error"]["details"]["retry_after_seconds"]
    assert 0 < wait <= 900 and locked.headers["Retry-After"] == str(wait)
    source_ip("198.51.100.4")  # another address is not affected
    assert attempt(app_client, agency.owner_email, agency.owner_password).status == 200
    source_ip("203.0.113.7")
    clock.advance(timedelta(minutes=15, seconds=1))
    assert attempt(app_client, agency.owner_email, agency.owner_password).status == 200


def test_an_office_behind_one_nat_signs_in_all_day(app_client: Any, source_ip: Any) -> None:
    source_ip("192.0.2.10")
    agencies = [create_agency(app_client) for _ in range(5)]
    for _ in range(6):  # 30 good sign-ins and a few typos from one address
        for agency in agencies:
            assert attempt(app_client, agency.owner_email, agency.owner_password).status == 200
    for agency in agencies[:3]:
        assert attempt(app_client, agency.owner_email, "typo-password").status == 401
    assert attempt(app_client, agencies[4].owner_email, agencies[4].owner_password).status == 200


def test_a_success_does_not_wipe_the_failures_of_others(app_client: Any,
                                                        source_ip: Any) -> None:
    agency = create_agency(app_client)
    source_ip("203.0.113.99")
    for n in range(19):
        assert attempt(app_client, f"spray{n}@victims.example.com", "wrong-pass").status == 401
    assert attempt(app_client, agency.owner_email, agency.owner_password).status == 200
    assert attempt(app_client, "spray-last@victims.example.com", "wrong-pass").status == 401
    assert attempt(app_client, "spray-more@victims.example.com", "wrong-pass").status == 429

"""The mixed workload generator: through the public API only, deterministic, and counted on
the simulated days (the app's clock follows them)."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.workload import CALL_STATUSES, random_agency, run_workload
from tests.conftest import TEST_ENV, reset_table
from tests.helpers import call, login

KEY = TEST_ENV["PLATFORM_API_KEY"]


def _specs(count: int, start: date, seed: int) -> list[Any]:
    """Random agencies with enough calls a day that every status shows up."""
    rng = random.Random(seed)
    return [dataclasses.replace(random_agency(rng, i, start, f"t{seed}"), calls_per_day=(9, 12))
            for i in range(count)]


def test_every_step_is_counted_on_its_simulated_day(app_client: Any, stripe_emulator: str
                                                    ) -> None:
    today = datetime.now(UTC).date()
    start = today - timedelta(days=10)
    days = [start + timedelta(days=n) for n in range(3)]

    result = run_workload(app_client, stripe_emulator, KEY, agencies=_specs(2, start, 5),
                          days=3, seed=5, start=start)

    assert result.unexpected == []
    assert result.counts["create agency 201"] == 2
    assert result.counts["purchase 201"] > 0 and result.counts["usage 200"] > 0
    assert all(result.counts[f"job {job} 200"] == 3 for job in ("auto-allocation",
                                                                "payout-sweep"))
    statuses: dict[str, int] = dict.fromkeys(CALL_STATUSES, 0)
    for agency in result.agencies:
        token = login(app_client, agency.spec.owner_email, agency.spec.owner_password)
        report = call(app_client, "GET", f"/v1/reports/subaccounts?from={start - timedelta(1)}"
                      f"&to={today}", token=token)
        assert report.status == 200, report.body
        daily: dict[str, dict[str, Any]] = {}
        for row in report.body["subaccounts"]:
            for entry in row["daily"]:
                day = daily.setdefault(entry["date"], {"calls": 0, "purchases": Decimal(0)})
                day["calls"] += entry["calls"]
                day["purchases"] += Decimal(entry["purchases_usd"])
        # Calls carry started_at on their day; purchases are counted when the app's clock
        # says they happened: both on the simulated days only, none today.
        assert {d for d, v in daily.items() if v["calls"]} == {d.isoformat() for d in days}
        purchase_days = {d for d, v in daily.items() if v["purchases"]}
        assert start.isoformat() in purchase_days  # the opening purchases
        assert purchase_days <= {d.isoformat() for d in days}
        for status, count in report.body["totals"]["calls"]["by_status"].items():
            statuses[status] += count
        seconds = report.body["totals"]["seconds_used"]
        assert seconds["basic"] > 0 and seconds["premium"] > 0
    assert all(statuses[status] > 0 for status in CALL_STATUSES), statuses


def test_the_same_seed_makes_the_same_requests(app_client: Any, stripe_emulator: str) -> None:
    start = datetime.now(UTC).date() - timedelta(days=5)

    def once() -> Any:
        reset_table()
        return run_workload(app_client, stripe_emulator, KEY, agencies=1, days=1, seed=9,
                            start=start)

    def requests_made(result: Any) -> dict[str, int]:
        # Polling for the Connect webhook repeats as long as the delivery takes: not a choice.
        return {k: n for k, n in result.counts.items() if not k.startswith("connect status")}

    first, second = once(), once()

    assert first.unexpected == [] and second.unexpected == []
    assert requests_made(first) == requests_made(second)
    assert [a.spec for a in first.agencies] == [a.spec for a in second.agencies]

"""The local scheduler finds the app's schedules and fires them when EventBridge would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice import Chalice, Cron, Rate
from chalice.app import Blueprint

from devstack import scheduler
from tests.devstack.conftest import QuietHandler, http_server

START = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)  # a Wednesday


def _app(calls: list[tuple[str, Any]]) -> Chalice:
    app = Chalice(app_name="sched-test")

    @app.schedule(Rate(5, unit=Rate.MINUTES))
    def auto_allocation(event: Any) -> str:
        calls.append(("auto_allocation", event))
        return "allocated"

    @app.schedule(Cron(0, 3, "*", "*", "?", "*"))
    def plan_renewal(event: Any) -> None:
        calls.append(("plan_renewal", event))

    jobs = Blueprint(__name__)

    @jobs.schedule("cron(30 6 ? * MON-FRI *)", name="payout_sweep")
    def sweep(event: Any) -> None:
        calls.append(("payout_sweep", event))
        raise RuntimeError("a failing job must not stop the scheduler")

    app.register_blueprint(jobs)
    return app


class TestExpressions:
    @pytest.mark.parametrize(("aws", "after", "expected"), [
        ("cron(0 3 * * ? *)", START, datetime(2026, 11, 26, 3, 0, tzinfo=UTC)),
        ("cron(15 10 ? * 6L 2026-2027)", START, datetime(2026, 11, 27, 10, 15, tzinfo=UTC)),
        ("cron(0 0 1 * ? *)", START, datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
        # AWS numbers weekdays from Sunday = 1: "2" is Monday.
        ("cron(0 8 ? * 2 *)", START, datetime(2026, 11, 30, 8, 0, tzinfo=UTC)),
        ("cron(0 8 ? * 2#1 *)", START, datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),
        ("cron(0/20 * * * ? *)", START, datetime(2026, 11, 25, 12, 20, tzinfo=UTC)),
        ("cron(0 0 1 1 ? 2025)", START, None),
        ("rate(1 day)", START, START + timedelta(days=1)),
        ("rate(10 minutes)", START + timedelta(minutes=25), START + timedelta(minutes=30)),
    ])
    def test_next_fire_time_matches_eventbridge(self, aws: str, after: datetime,
                                                expected: datetime | None) -> None:
        assert scheduler.parse_schedule(aws, anchor=START).next_after(after) == expected

    def test_chalice_expression_objects_are_understood(self) -> None:
        schedule = scheduler.parse_schedule(Cron(0, 3, "*", "*", "?", "*"), anchor=START)
        assert schedule.next_after(START) == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)

    @pytest.mark.parametrize("bad", ["cron(0 3 * * *)", "rate(5 weeks)", "every day",
                                     "cron(0 0 LW * ? *)"])
    def test_unsupported_expressions_fail_loudly(self, bad: str) -> None:
        with pytest.raises(ValueError):
            scheduler.parse_schedule(bad, anchor=START)


class TestDiscoveryAndFiring:
    def test_finds_app_and_blueprint_schedules(self) -> None:
        jobs = scheduler.discover_jobs(_app([]), anchor=START)
        assert {job.name: job.expression for job in jobs} == {
            "auto_allocation": "rate(5 minutes)",
            "plan_renewal": "cron(0 3 * * ? *)",
            "payout_sweep": "cron(30 6 ? * MON-FRI *)",
        }

    def test_fires_due_handlers_with_a_scheduled_event_and_survives_failures(self) -> None:
        calls: list[tuple[str, Any]] = []
        lines: list[str] = []
        local = scheduler.LocalScheduler("sched-test", scheduler.discover_jobs(_app(calls), START),
                                         "us-east-1", start=START, log=lines.append)

        assert local.run_due(START + timedelta(minutes=4)) == []
        ran = local.run_due(datetime(2026, 11, 26, 6, 30, tzinfo=UTC))

        assert sorted(ran) == [("auto_allocation", True), ("payout_sweep", False),
                               ("plan_renewal", True)]
        event = dict(calls)["auto_allocation"]
        assert (event.detail_type, event.source, event.region) == (
            "Scheduled Event", "aws.events", "us-east-1")
        assert event.time == "2026-11-25T12:05:30Z"  # the slot that was due, not "now"
        assert event.resources == [
            "arn:aws:events:us-east-1:123456789012:rule/sched-test-local-auto_allocation"]
        assert any("payout_sweep" in line and "FAILED" in line for line in lines)
        assert local.next_fire["plan_renewal"] == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


@pytest.fixture
def platform_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in for the app's platform route; records what it receives."""
    received: list[dict[str, Any]] = []

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append({"path": self.path, "auth": self.headers["Authorization"],
                             "body": body})
            answer = json.dumps({"job": self.path.split("/")[-2], "as_of": body["as_of"],
                                 "processed": 3, "succeeded": 3, "failed": 0, "skipped": 0})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer.encode())

    with http_server(Handler) as base_url:
        yield base_url, received


class TestRunCommand:
    def test_run_posts_to_the_platform_route_and_prints_the_answer(
            self, platform_api: tuple[str, list[dict[str, Any]]],
            capsys: pytest.CaptureFixture[str]) -> None:
        api, received = platform_api

        code = scheduler.main(["run", "payout-sweep", "--as-of", "2026-12-01T00:00:00Z",
                               "--api", api, "--key", "local-platform-key"])

        assert code == 0
        assert received == [{"path": "/v1/platform/jobs/payout-sweep/runs",
                             "auth": "Bearer local-platform-key",
                             "body": {"as_of": "2026-12-01T00:00:00Z"}}]
        assert json.loads(capsys.readouterr().out)["processed"] == 3

    def test_unknown_jobs_and_bad_dates_are_refused_before_any_call(self) -> None:
        with pytest.raises(SystemExit):
            scheduler.main(["run", "payroll", "--api", "http://127.0.0.1:9"])
        with pytest.raises(SystemExit):
            scheduler.main(["run", "reconciliation", "--as-of", "yesterday"])

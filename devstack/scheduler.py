"""Local stand-in for EventBridge schedules: fires the app's ``@app.schedule`` handlers.

``python -m devstack.scheduler serve`` imports ``app`` from the project, finds every scheduled
handler (Chalice keeps them as ``ScheduledEventConfig`` event sources whose
``schedule_expression`` is a ``Rate``, a ``Cron`` or a string), works out each next fire time
the way EventBridge would (UTC; ``rate(...)`` counted from start-up, AWS six-field
``cron(...)`` converted for ``croniter``), and calls the handler with a CloudWatch scheduled
event at that time, in-process, exactly as Lambda would call it.

``python -m devstack.scheduler run <job> --as-of 2026-12-01T00:00:00Z`` runs one job now, as if
the clock read ``as_of``, through the platform route ``POST /v1/platform/jobs/{job}/runs`` of
the running API, and prints the JSON answer. ``list`` shows the jobs and their next fire time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import signal
import sys
import threading
import traceback
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from croniter import croniter

from devstack.defaults import APP_ENV_DEFAULTS, JOB_NAMES, api_base_url, child_env

LOCAL_RUNTIME_MS = 900_000
AWS_ACCOUNT = "123456789012"  # what chalice's own test events use
RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


class Schedule(Protocol):
    """When a job fires next."""

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire time strictly after ``moment`` (``None``: never again)."""


@dataclass(frozen=True)
class RateSchedule:
    """``rate(N unit)``: every ``interval``, counted from ``anchor`` (rule creation in AWS)."""

    interval: timedelta
    anchor: datetime

    def next_after(self, moment: datetime) -> datetime:
        """The first ``anchor + k * interval`` (k >= 1) after ``moment``."""
        steps = max(1, math.floor((moment - self.anchor) / self.interval) + 1)
        return self.anchor + steps * self.interval


@dataclass(frozen=True)
class CronSchedule:
    """AWS ``cron(min hour dom month dow year)`` as a five-field croniter expression plus a
    year filter (croniter has no year field)."""

    expression: str
    years: frozenset[int] | None = None

    def next_after(self, moment: datetime) -> datetime | None:
        """The next matching minute after ``moment``, in UTC."""
        it = croniter(self.expression, moment)
        for _ in range(10_000):
            candidate: datetime = it.get_next(datetime)
            if self.years is None or candidate.year in self.years:
                return candidate
            if candidate.year > max(self.years):
                return None
        return None


def _shift_aws_day_of_week(field: str) -> str:
    """AWS numbers weekdays 1-7 from Sunday; cron 0-6. Names (MON-FRI) need no change."""
    if field in ("*", "?"):
        return "*"
    if field == "L" or "LW" in field:
        raise ValueError(f"unsupported AWS day-of-week {field!r}")
    last = re.fullmatch(r"(\d)L", field)
    if last:  # AWS "6L" (last Friday) is croniter's "L5"
        return f"L{int(last.group(1)) - 1}"
    # Shift weekday numbers, not the step after "/" nor the occurrence after "#".
    return re.sub(r"(?<![#/\d])(\d+)", lambda m: str(int(m.group(1)) - 1), field)


def _years(field: str) -> frozenset[int] | None:
    if field in ("*", "?"):
        return None
    years: set[int] = set()
    for part in field.split(","):
        low, _, high = part.partition("-")
        years.update(range(int(low), int(high or low) + 1))
    return frozenset(years)


def aws_cron_to_croniter(body: str) -> CronSchedule:
    """Convert the inside of an AWS ``cron(...)`` (six fields) to a ``CronSchedule``."""
    fields = body.split()
    if len(fields) != 6:
        raise ValueError(f"AWS cron needs 6 fields (min hour dom month dow year): {body!r}")
    minute, hour, dom, month, dow, year = fields
    if dom == "LW":
        raise ValueError("AWS cron 'LW' (last weekday of the month) is not supported locally")
    dom = "*" if dom == "?" else dom
    expression = " ".join([minute, hour, dom, month, _shift_aws_day_of_week(dow)])
    croniter(expression)  # validate now, not at the first fire time
    return CronSchedule(expression, _years(year))


def parse_schedule(expression: Any, anchor: datetime) -> Schedule:
    """A ``Schedule`` from a Chalice ``Rate``/``Cron`` object or an AWS expression string."""
    text = expression.to_string() if hasattr(expression, "to_string") else str(expression)
    text = text.strip()
    rate = re.fullmatch(r"rate\(\s*(\d+)\s+(minute|hour|day)s?\s*\)", text, re.IGNORECASE)
    if rate:
        seconds = int(rate.group(1)) * RATE_UNITS[rate.group(2).lower()]
        return RateSchedule(timedelta(seconds=seconds), anchor)
    cron = re.fullmatch(r"cron\((.*)\)", text, re.IGNORECASE)
    if cron:
        return aws_cron_to_croniter(cron.group(1))
    raise ValueError(f"not an AWS schedule expression: {text!r}")


@dataclass
class ScheduledJob:
    """One ``@app.schedule`` handler and when it fires."""

    name: str
    expression: str
    handler: Callable[[dict[str, Any], Any], Any]
    schedule: Schedule


def discover_jobs(app: Any, anchor: datetime | None = None) -> list[ScheduledJob]:
    """Every scheduled handler registered on a Chalice ``app`` (blueprints included)."""
    anchor = anchor or datetime.now(UTC)
    jobs = []
    for source in getattr(app, "event_sources", []):
        expression = getattr(source, "schedule_expression", None)
        if expression is None:
            continue
        text = expression.to_string() if hasattr(expression, "to_string") else str(expression)
        jobs.append(ScheduledJob(source.name, text, app.handler_map[source.name],
                                 parse_schedule(expression, anchor)))
    return jobs


def scheduled_event(app_name: str, job_name: str, when: datetime, region: str) -> dict[str, Any]:
    """The event EventBridge sends a scheduled Lambda (what ``CloudWatchEvent`` parses)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": AWS_ACCOUNT,
        "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{AWS_ACCOUNT}:rule/{app_name}-local-{job_name}"],
        "detail": {},
    }


class LocalScheduler:
    """Fires jobs at their times; ``run_due`` is the testable step, ``run_forever`` the loop."""

    def __init__(self, app_name: str, jobs: list[ScheduledJob], region: str,
                 start: datetime | None = None,
                 log: Callable[[str], None] = lambda line: print(line, flush=True)) -> None:
        """Next fire times are computed from ``start`` (default: now, UTC)."""
        self.app_name = app_name
        self.jobs = jobs
        self.region = region
        self.log = log
        start = start or datetime.now(UTC)
        self.next_fire: dict[str, datetime | None] = {
            job.name: job.schedule.next_after(start) for job in jobs}

    def run_due(self, moment: datetime) -> list[tuple[str, bool]]:
        """Call every job due at ``moment``; returns (name, succeeded) per call made."""
        from chalice.local import LambdaContext

        ran = []
        for job in self.jobs:
            fire_at = self.next_fire[job.name]
            if fire_at is None or fire_at > moment:
                continue
            self.next_fire[job.name] = job.schedule.next_after(moment)
            event = scheduled_event(self.app_name, job.name, fire_at, self.region)
            # The deployed sweeps get 15 minutes (.chalice/config.json); so does a local run.
            context = LambdaContext(f"{self.app_name}-local-{job.name}", memory_size=512,
                                    max_runtime_ms=LOCAL_RUNTIME_MS)
            try:
                result = job.handler(event, context)
                self.log(f"scheduler: {job.name} fired for {event['time']}: ok {result!r}")
                ran.append((job.name, True))
            except Exception:  # like Lambda: log the failure, keep the schedule going
                self.log(f"scheduler: {job.name} fired for {event['time']}: FAILED\n"
                         + traceback.format_exc())
                ran.append((job.name, False))
        return ran

    def run_forever(self, stop: threading.Event) -> None:
        """Fire jobs as they come due until ``stop`` is set (checked every half second)."""
        while not stop.is_set():
            self.run_due(datetime.now(UTC))
            pending = [t for t in self.next_fire.values() if t is not None]
            wait = (min(pending) - datetime.now(UTC)).total_seconds() if pending else 1
            stop.wait(min(max(wait, 0.05), 0.5))


def load_app(project_dir: Path) -> Any:
    """Import ``app.app`` from ``project_dir`` (as ``chalice local`` does), with the local
    stack's environment defaults filled in for whatever the caller did not set."""
    os.environ.update(child_env())
    sys.path.insert(0, str(project_dir))
    return importlib.import_module("app").app


def parse_as_of(value: str) -> str:
    """Validate an ISO 8601 instant (``Z`` allowed); returned unchanged for the API."""
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {value!r}") from None
    return value


def run_job_via_api(api: str, key: str, job: str, as_of: str) -> tuple[int, Any]:
    """``POST {api}/v1/platform/jobs/{job}/runs {"as_of": ...}``; returns (status, JSON)."""
    request = urllib.request.Request(
        f"{api.rstrip('/')}/v1/platform/jobs/{job}/runs",
        data=json.dumps({"as_of": as_of}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw or b"null")
    except json.JSONDecodeError:
        return status, raw.decode(errors="replace")


def _serve(project_dir: Path) -> int:
    try:
        app = load_app(project_dir)
    except Exception:
        # chalice local reports the same import error; staying up keeps the cause in one place.
        print("scheduler: could not import app.py; no jobs will fire\n" + traceback.format_exc(),
              flush=True)
        jobs, app_name = [], "app"
    else:
        jobs, app_name = discover_jobs(app), app.app_name
    region = os.environ.get("AWS_DEFAULT_REGION", APP_ENV_DEFAULTS["AWS_DEFAULT_REGION"])
    scheduler = LocalScheduler(app_name, jobs, region)
    for job in jobs:
        print(f"scheduler: {job.name} {job.expression} next {scheduler.next_fire[job.name]}",
              flush=True)
    if not jobs:
        print("scheduler: no @app.schedule handlers found", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    scheduler.run_forever(stop)
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (``serve``, ``list``, ``run``)."""
    parser = argparse.ArgumentParser(prog="python -m devstack.scheduler",
                                     description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "list"):
        sub = commands.add_parser(name)
        sub.add_argument("--project-dir", type=Path, default=Path.cwd())
    run = commands.add_parser("run", help="run one job now through the platform API")
    run.add_argument("job", choices=JOB_NAMES)
    run.add_argument("--as-of", type=parse_as_of,
                     default=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    run.add_argument("--api", default=os.environ.get("API_BASE_URL") or api_base_url())
    run.add_argument("--key", default=os.environ.get("PLATFORM_API_KEY")
                     or APP_ENV_DEFAULTS["PLATFORM_API_KEY"])
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args.project_dir.resolve())
    if args.command == "list":
        app = load_app(args.project_dir.resolve())
        now = datetime.now(UTC)
        for job in discover_jobs(app, now):
            print(f"{job.name}\t{job.expression}\tnext {job.schedule.next_after(now)}")
        return 0
    try:
        status, body = run_job_via_api(args.api, args.key, args.job, args.as_of)
    except (urllib.error.URLError, OSError) as exc:
        print(f"cannot reach the API at {args.api}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2))
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())

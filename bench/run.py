"""``make bench``: one run, one table.

Per operation (through ``chalice.test.Client`` on the real app, DynamoDB on moto over HTTP,
Stripe on the local emulator): DynamoDB calls by API, Stripe calls, median and p95 ms, and the
ratio to a bare Chalice route doing one GetItem on the same table. Then the payout and
auto-allocation sweeps at 10,000 agencies (100 due) and at 100 agencies (100 due), the writes
per partition key of a mixed workload over 50 agencies (``bench.hot_keys``), the cold start of
``import app``, and the ``chalice package`` zip. Targets are checked at the end, and
everything is written to ``bench/results.json``.

    python -m bench.run [--reps 200] [--usage-reps 30] [--ops login,quote] [--no-sweeps] ...
    python -m bench.run --only hot-keys [--hot-agencies 50] [--hot-days 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.env import ROOT, free_port, point_stripe_at, prepare_environment, reset_table

RESULTS = ROOT / "bench" / "results.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=200, help="timed repetitions per operation")
    parser.add_argument("--usage-reps", type=int, default=30,
                        help="repetitions of the usage batch (each is 100 calls)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before timing")
    parser.add_argument("--ops", default="", help="comma-separated operation names (default all)")
    parser.add_argument("--agencies", type=int, default=10_000)
    parser.add_argument("--small-agencies", type=int, default=100)
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--no-stripe", action="store_true", help="no emulator (skips purchase, "
                        "sweeps)")
    parser.add_argument("--no-sweeps", action="store_true")
    parser.add_argument("--no-cold-start", action="store_true")
    parser.add_argument("--no-package", action="store_true")
    parser.add_argument("--hot-agencies", type=int, default=50,
                        help="agencies of the mixed workload whose writes per key are counted")
    parser.add_argument("--hot-days", type=int, default=3, help="simulated days of it")
    parser.add_argument("--hot-seed", type=int, default=7, help="its random seed")
    parser.add_argument("--no-hot-keys", action="store_true")
    parser.add_argument("--only", choices=["hot-keys"],
                        help="run just this step (the other sections of --json are kept)")
    parser.add_argument("--json", default=str(RESULTS), help="where to write the results")
    args = parser.parse_args(argv)
    if args.only == "hot-keys":
        args.no_sweeps = args.no_cold_start = args.no_package = True
        args.no_hot_keys = False
    return args


@contextlib.contextmanager
def live_app(app: Any) -> Iterator[str]:
    """The app on a real port (chalice local's server) so emulator webhooks reach it."""
    import requests
    from chalice.config import Config
    from chalice.local import (
        ChaliceRequestHandler,
        CustomLocalChalice,
        LocalDevServer,
        create_local_server,
    )

    # One access-log line per webhook delivery would bury the table.
    ChaliceRequestHandler.log_message = lambda *args, **kwargs: None  # type: ignore[method-assign]
    port = free_port()
    config = Config.create(chalice_stage="test", app_name="agency-accounts", chalice_app=app,
                           project_dir=str(ROOT))
    # chalice turns the app's class into its local subclass; doing it twice in one process
    # (a test session's own live app, then ours) is an inheritance cycle. Once is enough, and
    # the class is put back afterwards for whoever serves the app next.
    original_class = app.__class__
    server = (LocalDevServer(app, config, "127.0.0.1", port)
              if isinstance(app, CustomLocalChalice)
              else create_local_server(app, config, "127.0.0.1", port))
    # The inner HTTP server: LocalDevServer.serve_forever would print "Serving on …".
    thread = threading.Thread(target=getattr(server, "server", server).serve_forever,
                              daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{url}/v1/health", timeout=5)
            break
        except requests.RequestException:  # not listening yet, or slow on a loaded machine
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.shutdown()
        app.__class__ = original_class


@contextlib.contextmanager
def stripe_emulator(app: Any, enabled: bool) -> Iterator[str | None]:
    """The emulator, with webhooks to the live app, and the gateway pointed at it."""
    if not enabled:
        yield None
        return
    from devstack.stripe_emulator import running_stripe_emulator

    with live_app(app) as url, running_stripe_emulator(
            free_port(), f"{url}/v1/stripe/webhook", os.environ["STRIPE_WEBHOOK_SECRET"]) as base:
        previous = os.environ["STRIPE_API_BASE"]
        point_stripe_at(base)
        try:
            yield base
        finally:
            point_stripe_at(previous)


def run_operations(args: argparse.Namespace, app: Any, stripe_on: bool
                   ) -> tuple[list[Any], Any, list[str], list[dict[str, Any]]]:
    """Every operation row and the floor."""
    from chalice.test import Client

    from bench import ops
    from bench.measure import measure
    from bench.moto_state import saved_table

    wanted = [n.strip() for n in args.ops.split(",") if n.strip()] or list(ops.OPERATION_NAMES)
    unknown = set(wanted) - set(ops.OPERATION_NAMES)
    if unknown:
        raise SystemExit(f"unknown operations {sorted(unknown)}; known: {ops.OPERATION_NAMES}")
    usage_minutes = 60 * max(args.usage_reps + args.warmup, 1) + 1000
    rows = []
    with Client(app, stage_name="test", project_dir=ops.project_dir()) as client:
        world = ops.build_world(client, app, os.environ["PLATFORM_API_KEY"], stripe=stripe_on,
                                usage_minutes=usage_minutes)
        world.restore = saved_table(os.environ["TABLE_NAME"])
        floor_rows = []
        floor = ops.floor_app(world.agency_id)
        with Client(floor, stage_name="test", project_dir=ops.project_dir()) as floor_client:
            floor_world = ops.World(floor_client, floor, world.platform_key,
                                    restore=world.restore)
            floor_rows.append(measure(ops.floor_operation(), floor_world, args.reps,
                                      args.warmup))
            for op in ops.OPERATIONS:
                if op.name not in wanted:
                    continue
                reps = args.usage_reps if op.name.startswith("usage batch") else args.reps
                started = time.perf_counter()
                row = measure(op, world, reps, args.warmup)
                print(f"  {op.name}: {row.status} ({time.perf_counter() - started:.1f}s)",
                      file=sys.stderr)
                rows.append(row)
            # The floor again at the end: machine load drifts, so both halves count.
            floor_rows.append(measure(ops.floor_operation(), floor_world, args.reps,
                                      args.warmup))
        world.restore = None
        growth = ops.probe_growth(world)
    floor_row = floor_rows[0]
    samples = [s for r in floor_rows for s in r.samples]
    if all(r.measured for r in floor_rows):
        from bench.measure import percentile

        floor_row.reps = len(samples)
        floor_row.samples = samples
        floor_row.median_ms = statistics.median(samples)
        floor_row.p95_ms = percentile(samples, 95)
        floor_row.ratio = 1.0
        for row in rows:
            if row.measured and row.median_ms is not None:
                row.ratio = row.median_ms / floor_row.median_ms
    return rows, floor_row, world.notes, growth


def run_sweeps(args: argparse.Namespace, app: Any, stripe_on: bool) -> list[Any]:
    """Both sweeps at both sizes."""
    from chalice.test import Client

    from bench import ops, sweeps

    results = []
    sizes = [(args.agencies, args.due), (args.small_agencies, min(args.due, args.small_agencies))]
    for job in sweeps.JOBS:
        reason = sweeps.missing_for(app, job) or (
            None if stripe_on else "n/a (needs the Stripe emulator)")
        if reason is None:
            try:
                reset_table()
                with Client(app, stage_name="test", project_dir=ops.project_dir()) as client:
                    world = ops.World(client, app, os.environ["PLATFORM_API_KEY"])
                    template = sweeps.build_template(world, job)
            except ops.SetupFailed as exc:
                reason = f"n/a (setup failed: {exc})"
        for agencies, due in sizes:
            if reason is not None:
                results.append(sweeps.SweepResult(job, agencies, due, status=reason))
                continue
            started = time.perf_counter()
            row = sweeps.measure_sweep(template, agencies, due, reset_table)
            print(f"  {job} at {agencies}: {row.status} ({time.perf_counter() - started:.1f}s)",
                  file=sys.stderr)
            results.append(row)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run everything, print the table and the targets, write the JSON."""
    args = parse_args(argv)
    started = time.perf_counter()
    env = prepare_environment()
    from bench.moto_state import cheaper_transaction_rollback

    if env.owns_server:  # never patch the moto of a harness that lent us its server
        cheaper_transaction_rollback()
    reset_table()
    from app import app
    from bench import instrument, report

    instrument.install()
    cold = package = hot = None
    rows, floor, notes, growth = [], None, [], []
    try:
        with stripe_emulator(app, not args.no_stripe) as stripe_base:
            stripe_on = stripe_base is not None
            if args.only is None:
                print("operations…", file=sys.stderr)
                rows, floor, notes, growth = run_operations(args, app, stripe_on)
            sweep_rows = []
            if not args.no_sweeps:
                print("sweeps…", file=sys.stderr)
                sweep_rows = run_sweeps(args, app, stripe_on)
            if not args.no_hot_keys:
                print("hot keys…", file=sys.stderr)
                from bench import hot_keys

                hot = hot_keys.measure(app, stripe_base, os.environ["PLATFORM_API_KEY"],
                                       agencies=args.hot_agencies, days=args.hot_days,
                                       seed=args.hot_seed)
    finally:
        env.stop()
    if not args.no_cold_start:
        print("cold start…", file=sys.stderr)
        from bench.footprint import measure_cold_start

        cold = measure_cold_start(args.cold_runs)
    if not args.no_package:
        print("chalice package…", file=sys.stderr)
        from bench.footprint import measure_package

        package = measure_package()

    checks = [] if args.only else report.check_targets(
        rows, sweep_rows, cold, package, growth)
    if hot is not None:
        checks.append(report.check_hot_keys(hot))
    closing = (report.closing_note(checks, rows, sweep_rows, cold, package)
               + report.growth_notes(growth) + notes)
    lines = ["", f"BENCHMARK  (moto DynamoDB over HTTP, Stripe emulator "
                 f"{'on' if stripe_on else 'off'}; {os.cpu_count()} CPUs, "
                 f"load {os.getloadavg()[0]:.1f})", ""]
    if floor is not None:
        lines += report.render_ops(rows, floor)
        lines += ["", "×floor = median / median of a bare Chalice route doing 1 GetItem "
                      "(same client, same table). Money POSTs send an Idempotency-Key.", ""]
        lines += [*report.render_growth(growth), ""]
    if sweep_rows:
        lines += [*report.render_sweeps(sweep_rows), ""]
    if cold is not None:
        lines.append(f"cold start: import app {cold.app_ms:.0f} ms vs import chalice, pynamodb, "
                     f"stripe {cold.dependencies_ms:.0f} ms → ratio {cold.ratio:.2f} "
                     f"(median of {cold.runs} fresh interpreters)")
    if hot is not None:
        from bench.hot_keys import render as render_hot_keys

        lines += ["", *render_hot_keys(hot)]
    if package is not None:
        lines.append("chalice package --stage dev: " + (
            f"deployment.zip {package.megabytes:.2f} MB" if package.zip_bytes is not None
            else package.status) + (f" ({package.note})" if package.note else ""))
    lines += ["", "TARGETS"]
    width = max(len(c.target) for c in checks)
    lines += [f"  {c.verdict:<11} {c.target:<{width}}  {c.detail}" for c in checks]
    lines += ["", "CLOSING NOTE", *([f"  - {n}" for n in closing] or ["  nothing missed"])]
    elapsed = time.perf_counter() - started
    lines += ["", f"({elapsed:.0f}s; results written to {args.json})"]
    print("\n".join(lines))
    meta = {"when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "python": platform.python_version(), "cpus": os.cpu_count(),
            "load_average": round(os.getloadavg()[0], 2), "reps": args.reps,
            "usage_reps": args.usage_reps, "warmup": args.warmup, "stripe": stripe_on,
            "seconds": round(elapsed, 1)}
    data = report.results_json(rows, floor, sweep_rows, cold, package, checks, closing, meta,
                               hot)
    data["growth_probe"] = growth
    if args.only:
        data = merged_results(Path(args.json), data, checks, closing)
    Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    return 0


def merged_results(path: Path, data: dict[str, Any], checks: list[Any], closing: list[str]
                   ) -> dict[str, Any]:
    """One step's results written into the last full run's file: its section and its
    targets replaced, everything else kept."""
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        return data
    mine = {check.target for check in checks}
    previous["hot_keys"] = data["hot_keys"]
    previous["targets"] = [t for t in previous.get("targets", []) if t["target"] not in mine] + [
        check.as_json() for check in checks]
    previous["closing_note"] = [n for n in previous.get("closing_note", [])
                                if not any(n.startswith(target) for target in mine)] + closing
    previous.setdefault("meta", {})["hot_keys_run"] = data["meta"]
    return previous


if __name__ == "__main__":
    sys.exit(main())

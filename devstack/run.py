"""``make run``: the whole local stack in the foreground (``python -m devstack.run``).

Starts, in order, each in its own process group with its output in ``.devstack/<name>.log``:

1. DynamoDB: moto's server with the ``devstack.moto_dynamodb`` fixes, on ``DYNAMODB_PORT``
   (8001), then the app's table via ``chalicelib.store.table.create_table()``
   (``devstack.bootstrap_table``); the Stripe emulator boots meanwhile;
2. the Stripe emulator on ``STRIPE_EMULATOR_PORT`` (8420; localstripe inside it on
   ``LOCALSTRIPE_PORT``, 8421), delivering signed events to the app's webhook route (Connect
   events signed with ``STRIPE_CONNECT_WEBHOOK_SECRET``, the others ``STRIPE_WEBHOOK_SECRET``);
3. ``chalice local --no-autoreload --stage local`` on ``API_PORT`` (8000);
4. the demo agency: 30 days of history (``python -m devstack.seed --history``, the app
   imported with a simulated clock; its output in ``.devstack/seed-history.log``), then its
   logins through the API;
5. the local scheduler (``devstack.scheduler serve``), firing the ``@app.schedule`` handlers
   (after the seed, so that no hourly job meets the history half-written);

then prints the logins and, once ``/v1/health`` answers 200, the line ``ready``; from then on
it prints the JSON log lines of the API and the scheduler (one per request, job run and
webhook event, with its ``correlation_id``), as CloudWatch would receive them. Ctrl-C or
SIGTERM stops every process group it started; if a child dies, it says which (with the end of
its log) and stops everything with exit code 1.
The environment of every child is ``devstack.defaults.child_env()``: the local defaults, each
overridable from the parent environment.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from devstack.defaults import HOST, PORT_DEFAULTS, api_base_url, child_env, port
from devstack.proc import port_open, stop_process_group, wait_for_http
from devstack.seed import print_logins, seed

REPO_ROOT = Path(__file__).resolve().parents[1]
CHALICE_CLI = "import sys; from chalice.cli import main; sys.argv[0] = 'chalice'; sys.exit(main())"


class Shutdown(Exception):
    """SIGINT or SIGTERM arrived: stop everything."""


class StartupFailed(Exception):
    """A step of the start-up failed (the message says which)."""


def say(line: str) -> None:
    """Supervisor output: one line, flushed (``smoke.sh`` waits for ``ready`` in a file)."""
    print(line, flush=True)


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the supervisor itself is killed -9, so even
    then no server is left listening (Linux ``PR_SET_PDEATHSIG``; best effort elsewhere)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


@dataclass
class Child:
    """A process the supervisor started."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path


class JsonLineEcho:
    """Prints to our output the JSON log lines (one per request, job run and webhook event,
    as in CloudWatch) that the API and the scheduler write to their logs."""

    def __init__(self, logs: list[Path]) -> None:
        self.offsets = {log: 0 for log in logs}

    def pump(self) -> None:
        """Print the complete JSON lines written since the last call."""
        for log, offset in self.offsets.items():
            if not log.exists():
                continue
            with open(log, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
            complete = data.rfind(b"\n") + 1
            self.offsets[log] = offset + complete
            for line in data[:complete].decode(errors="replace").splitlines():
                if line.startswith('{"level"'):
                    print(line, flush=True)


class Supervisor:
    """Starts children in their own process groups and stops them all, whatever happens."""

    def __init__(self, project_dir: Path, env: dict[str, str], state_dir: Path) -> None:
        """Children run in ``project_dir`` with ``env``; logs and state go to ``state_dir``."""
        self.project_dir = project_dir
        self.env = env
        self.state_dir = state_dir
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str]) -> Child:
        """Start ``argv`` as ``name`` in a new session (so its whole group can be killed)."""
        log = self.state_dir / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, cwd=self.project_dir, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, preexec_fn=_die_with_parent)
        child = Child(name, proc, log)
        self.children.append(child)
        self.write_state()
        return child

    def dead_child(self) -> Child | None:
        """The first child that exited, if any."""
        return next((c for c in self.children if c.proc.poll() is not None), None)

    def wait_until(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        """Poll ``ready`` until true; fail if it takes ``timeout`` or a child dies meanwhile."""
        deadline = time.monotonic() + timeout
        while not ready():
            dead = self.dead_child()
            if dead is not None:
                raise StartupFailed(self.death_notice(dead, f"while waiting for {what}"))
            if time.monotonic() > deadline:
                raise StartupFailed(f"{what} not ready after {timeout:.0f}s")
            time.sleep(0.2)

    def death_notice(self, child: Child, when: str = "") -> str:
        """Which child died, its exit code, and the end of its log."""
        tail = child.log.read_text(errors="replace").splitlines()[-25:]
        return (f"{child.name} exited with code {child.proc.returncode} {when}".strip()
                + f"; last lines of {child.log}:\n    " + "\n    ".join(tail))

    def stop_all(self) -> None:
        """Stop children in reverse start order: SIGTERM to the group, SIGKILL if needed."""
        for child in reversed(self.children):
            if child.proc.poll() is None:
                stop_process_group(child.proc)
            else:  # the leader is gone, but a forked helper may still hold the group
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / "state.json").unlink()

    def write_state(self) -> None:
        """``.devstack/state.json``: who runs where (for humans and scripts)."""
        state = {
            "supervisor_pid": os.getpid(),
            "children": {c.name: {"pid": c.proc.pid, "log": str(c.log)} for c in self.children},
            "ports": {name: port(name, self.env) for name in PORT_DEFAULTS},
        }
        (self.state_dir / "state.json").write_text(json.dumps(state, indent=2) + "\n")


def _raise_shutdown(signum: int, frame: FrameType | None) -> None:
    raise Shutdown(signal.Signals(signum).name)


def seed_stack(project_dir: Path, env: dict[str, str]) -> None:
    """The demo agency: its 30 days of history (a process of its own, the app imported with
    a simulated clock), then its logins over HTTP. Failures are warnings."""
    started = time.monotonic()
    history = subprocess.run([sys.executable, "-m", "devstack.seed", "--history"],
                             cwd=project_dir, env=env, capture_output=True, text=True,
                             timeout=300)
    # The app's own JSON log lines go to the log file; the seed's lines are shown.
    (project_dir / ".devstack" / "seed-history.log").write_text(history.stdout + history.stderr)
    shown = [line for line in history.stdout.splitlines() if line.startswith("seed")]
    for line in shown:
        say(f"devstack: {line}")
    if history.returncode != 0 and not shown:
        say(f"devstack: seed: WARNING history: exit code {history.returncode}: "
            + " | ".join(history.stderr.strip().splitlines()[-3:]))
    say(f"devstack: seed: history took {time.monotonic() - started:.1f}s")
    report = seed(api_base_url(env), env["PLATFORM_API_KEY"],
                  log=lambda line: say(f"devstack: {line}"))
    for item in report.created:
        say(f"devstack: seeded {item}")


def run_stack(project_dir: Path, env: dict[str, str], *, do_seed: bool = True,
              ready_timeout: float = 120.0) -> int:
    """Start the stack, print ``ready``, supervise until a signal or a child's death."""
    py = sys.executable
    state_dir = project_dir / ".devstack"
    state_dir.mkdir(exist_ok=True)
    ports = {name: port(name, env) for name in PORT_DEFAULTS}
    busy = [f"{name}={number}" for name, number in ports.items() if port_open(number)]
    if busy:
        say(f"devstack: port(s) already in use: {', '.join(busy)} "
            "(another `make run`? override with the env vars of the same names)")
        return 2
    api, stripe_base = api_base_url(env), env["STRIPE_API_BASE"]
    supervisor = Supervisor(project_dir, env, state_dir)
    signal.signal(signal.SIGINT, _raise_shutdown)
    signal.signal(signal.SIGTERM, _raise_shutdown)
    exit_code = 0
    try:
        say(f"devstack: logs in {state_dir}/")
        supervisor.start("dynamodb", [py, "-m", "devstack.dynamodb_server", "-H", HOST,
                                      "-p", str(ports["DYNAMODB_PORT"])])
        # The emulator does not need DynamoDB: it boots while the table is being created.
        supervisor.start("stripe-emulator", [
            py, "-m", "devstack.stripe_emulator", "--port", str(ports["STRIPE_EMULATOR_PORT"]),
            "--localstripe-port", str(ports["LOCALSTRIPE_PORT"]),
            "--webhook-url", env["STRIPE_WEBHOOK_URL"],
            "--webhook-secret", env["STRIPE_WEBHOOK_SECRET"],
            "--connect-webhook-secret", env["STRIPE_CONNECT_WEBHOOK_SECRET"]])
        supervisor.wait_until("DynamoDB (moto)", lambda: port_open(ports["DYNAMODB_PORT"]), 30)
        say(f"devstack: DynamoDB on {env['AWS_ENDPOINT_URL_DYNAMODB']}")
        table = subprocess.run([py, "-m", "devstack.bootstrap_table"], cwd=project_dir, env=env,
                               capture_output=True, text=True, timeout=120)
        for line in (table.stdout + table.stderr).strip().splitlines():
            say(f"devstack: {line}")
        if table.returncode != 0:
            raise StartupFailed(f"creating table {env['TABLE_NAME']} failed")
        supervisor.wait_until("the Stripe emulator",
                              lambda: wait_for_http(f"{stripe_base}/_devstack/health", 0.5), 30)
        say(f"devstack: Stripe emulator on {stripe_base} (webhooks -> {env['STRIPE_WEBHOOK_URL']})")
        supervisor.start("chalice-local", [
            py, "-c", CHALICE_CLI, "--project-dir", str(project_dir), "local",
            "--no-autoreload", "--stage", "local", "--host", HOST,
            "--port", str(ports["API_PORT"])])
        supervisor.wait_until(f"{api}/v1/health",
                              lambda: wait_for_http(f"{api}/v1/health", 0.5), ready_timeout)
        say(f"devstack: API on {api}")
        if do_seed:
            # Before the scheduler: its hourly jobs must not meet the history half-written.
            seed_stack(project_dir, env)
        supervisor.start("scheduler", [py, "-m", "devstack.scheduler", "serve",
                                       "--project-dir", str(project_dir)])
        web_server = project_dir / "web" / "serve.py"
        if web_server.exists():
            supervisor.start("web", [py, str(web_server), "--host", HOST,
                                     "--port", str(ports["WEB_PORT"]), "--api-base", api])
            supervisor.wait_until("the dashboard", lambda: port_open(ports["WEB_PORT"]), 30)
            say(f"devstack: dashboard on http://{HOST}:{ports['WEB_PORT']}/ "
                f"(API reference: http://{HOST}:{ports['WEB_PORT']}/docs)")
        print_logins(api, stripe_base, env["PLATFORM_API_KEY"], say)
        # The promise of `ready`: /v1/health answers 200 right now, not just earlier.
        supervisor.wait_until(f"{api}/v1/health",
                              lambda: wait_for_http(f"{api}/v1/health", 0.5), ready_timeout)
        say("ready")
        echo = JsonLineEcho([state_dir / "chalice-local.log", state_dir / "scheduler.log"])
        while True:
            echo.pump()
            dead = supervisor.dead_child()
            if dead is not None:
                say("devstack: " + supervisor.death_notice(dead) + "\ndevstack: stopping all")
                exit_code = 1
                break
            time.sleep(0.5)
    except Shutdown as why:
        say(f"devstack: {why} received, stopping")
    except (StartupFailed, subprocess.TimeoutExpired) as exc:
        say(f"devstack: start-up failed: {exc}")
        exit_code = 1
    finally:
        # Cleanup must not be cut short by a second Ctrl-C.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(port_open(p) for p in ports.values()):
            time.sleep(0.1)
        left = [f"{name}={number}" for name, number in ports.items() if port_open(number)]
        if left:
            say(f"devstack: WARNING still listening after stop: {', '.join(left)}")
            exit_code = exit_code or 1
        say("devstack: stopped")
    return exit_code


def main(argv: list[str] | None = None) -> int:
    """CLI entry point of ``make run``."""
    parser = argparse.ArgumentParser(prog="python -m devstack.run", description=__doc__)
    parser.add_argument("--project-dir", type=Path, default=REPO_ROOT,
                        help="the Chalice project (default: this repository)")
    parser.add_argument("--no-seed", action="store_true", help="skip the demo data")
    parser.add_argument("--ready-timeout", type=float,
                        default=float(os.environ.get("DEVSTACK_READY_TIMEOUT") or 120))
    args = parser.parse_args(argv)
    project_dir = args.project_dir.resolve()
    if not (project_dir / "app.py").is_file():
        say(f"devstack: {project_dir} has no app.py (use --project-dir)")
        return 2
    env = child_env()
    # Children import `devstack` (this repository) and the project's own modules.
    env["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys(filter(None, [str(REPO_ROOT), str(project_dir), env.get("PYTHONPATH")])))
    return run_stack(project_dir, env, do_seed=not args.no_seed,
                     ready_timeout=args.ready_timeout)


if __name__ == "__main__":
    sys.exit(main())

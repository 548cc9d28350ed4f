"""A mixed, deterministic workload driven through the app's public HTTP API.

Agencies are created through the platform route, each with an owner, a few client
sub-accounts with their own prices, saved cards (``pm_card_visa``, and one
``pm_card_chargeCustomerFail`` per agency) and opening minutes. Then, day by day: the daily
jobs (``POST /v1/platform/jobs/{name}/runs`` with ``as_of`` that day), then every agency's
business in its own slice of the day: calls of both tiers and every status (some authorized
with a hold first, all reported through ``POST /v1/platform/usage`` with ``started_at`` that
day), purchases (some declined), moves toward higher and lower prices, report reads. Agencies
that onboard Stripe Connect get their payouts paid out by the emulator's test helper; an
agency whose first card declines fixes it after the first failed auto-allocation, so the
next day's retry succeeds.

The app's "now" follows the simulated day: a ``SimulatedClock`` is swapped in through the
composition root (``chalicelib.bootstrap.override``), so purchases, moves and jobs are
counted on their day. Nothing here calls the app's internals: ``chalice.test.Client`` on
``app.app``, the platform routes, and the Stripe emulator's HTTP API only, so the workload
survives any restructuring of ``chalicelib``. Every choice comes from one
``random.Random(seed)``: the same seed makes the same requests in the same order (the app's
own ids differ from run to run).

Used by ``make bench`` (the hot-partition step, ``bench.hot_keys``) and by the local stack's
demo seed (``devstack.seed``: 30 days of history for the demo agency).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from bench.ops import Answer, call

#: SPEC "Reporting": call counts by status (``chalicelib.domain.reporting.CALL_STATUSES``).
CALL_STATUSES = ("completed", "no_answer", "busy", "failed", "canceled", "other")
STATUS_WEIGHTS = (55, 13, 9, 8, 9, 6)
TIERS = ("basic", "premium")
#: The jobs a day runs, in the order the scheduler's hourly runs would meet them.
DAILY_JOBS = ("plan-renewal", "auto-allocation", "payout-sweep", "call-holds", "reconciliation")
PLANS = ("agency_lite", "agency_pro", "agency_pro", "agency_unlimited", "partner_legacy")
GOOD_CARD = "pm_card_visa"
FAILING_CARD = "pm_card_chargeCustomerFail"  # attaches, then every charge is declined
STRIPE_KEY_HEADER = {"Authorization": "Bearer sk_test_local"}
JOB_HOUR = 0  # the daily jobs run at 00:30 UTC, before any agency's business
BUSINESS_START_HOUR, BUSINESS_HOURS = 6, 15  # agencies' slices share 06:00-21:00 UTC
OWNER_PASSWORD = "workload-owner-pass-1"


class SimulatedClock:
    """The app's clock during the workload: the simulated instant, never going backwards."""

    def __init__(self, start: datetime) -> None:
        """Start at ``start`` (aware)."""
        self._at = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The simulated instant (webhook threads read it too)."""
        with self._lock:
            return self._at

    def set(self, at: datetime) -> datetime:
        """Move to ``at``, or stay if that would go back in time; returns the instant."""
        with self._lock:
            self._at = max(self._at, at)
            return self._at


@dataclass(frozen=True)
class Mix:
    """How often each kind of business happens, per agency and day."""

    #: share of calls authorized with a hold before they start
    held_calls: float = 0.35
    #: chance of a purchase by one of the clients
    purchases: float = 0.35
    #: share of those purchases paid with the card that declines
    declined: float = 0.25
    #: how many moves, drawn from these
    moves: tuple[int, ...] = (0, 1, 1, 2)
    #: report, overview and wallet reads
    reads: bool = True


@dataclass(frozen=True)
class SubaccountSpec:
    """A client sub-account to create: its prices are the agency's markup."""

    name: str
    login_email: str
    prices: dict[str, str]
    subscription_start: date


@dataclass(frozen=True)
class AgencySpec:
    """An agency to create on the first day, and what it does besides daily business."""

    name: str
    owner_email: str
    plan: str
    subscription_start: date
    subaccounts: tuple[SubaccountSpec, ...]
    owner_password: str = OWNER_PASSWORD
    #: onboard Stripe Connect on the first day (payouts on its cycle dates)
    connect: bool = False
    #: index in ``subaccounts`` of the one with a monthly auto-allocation rule
    allocation_on: int | None = None
    #: the primary's first card declines every charge; fixed after the first failed
    #: auto-allocation, so the next day's retry succeeds
    primary_card_fails: bool = False
    #: minutes each client buys on the first day, per tier (its opening balance)
    opening_minutes: tuple[tuple[str, int], ...] = (("basic", 600), ("premium", 400))
    #: minutes the platform grants the primary on the first day, per tier
    primary_grant: tuple[tuple[str, int], ...] = (("basic", 500), ("premium", 300))
    #: calls per day (inclusive range)
    calls_per_day: tuple[int, int] = (2, 6)


@dataclass
class Subaccount:
    """A created sub-account and its cards."""

    id: str
    prices: dict[str, str]
    failing_card: str | None = None


@dataclass
class Agency:
    """A created agency, as the workload tracks it."""

    index: int
    spec: AgencySpec
    id: str = ""
    primary_id: str = ""
    token: str = ""
    clients: list[Subaccount] = field(default_factory=list)
    account_id: str | None = None
    primary_cards: list[str] = field(default_factory=list)
    card_needs_fixing: bool = False
    paid_out: set[str] = field(default_factory=set)

    @property
    def subaccount_ids(self) -> list[str]:
        """The primary first, then the clients."""
        return [self.primary_id, *(c.id for c in self.clients)]


@dataclass
class WorkloadResult:
    """What the workload did: requests by operation and answer, and anything unexpected."""

    agencies: list[Agency] = field(default_factory=list)
    days: list[date] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    #: wall seconds spent per operation (the emulators' time included)
    seconds_by_operation: Counter[str] = field(default_factory=Counter)
    job_runs: list[dict[str, Any]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        """HTTP requests made to the app."""
        return sum(n for key, n in self.counts.items() if not key.startswith("call "))

    def summary(self) -> dict[str, Any]:
        """For ``results.json`` and logs."""
        return {"agencies": len(self.agencies), "days": len(self.days),
                "requests": self.requests, "seconds": round(self.seconds, 1),
                "by_operation": dict(sorted(self.counts.items())),
                "seconds_by_operation": {op: round(s, 2) for op, s in
                                         self.seconds_by_operation.most_common()},
                "unexpected": self.unexpected[:20]}


class WorkloadFailed(RuntimeError):
    """A step the rest of the workload depends on got an answer it cannot go on from."""


def random_agency(rng: random.Random, index: int, start: date, tag: str) -> AgencySpec:
    """An agency of the mixed workload: 2-3 clients, prices marked up over the base cost,
    anchors spread over the month before ``start`` so cycle dates fall on every day."""
    domain = f"a{index:03d}.{tag}.example.com"
    clients = tuple(
        SubaccountSpec(
            name=f"Client {n + 1}", login_email=f"client{n + 1}@{domain}",
            prices={"basic": f"0.{rng.randint(11, 16)}", "premium": f"0.{rng.randint(18, 30)}"},
            subscription_start=start - timedelta(days=rng.randint(1, 30)))
        for n in range(rng.randint(2, 3)))
    return AgencySpec(
        name=f"Workload Agency {index:03d}", owner_email=f"owner@{domain}",
        plan=rng.choice(PLANS), subscription_start=start - timedelta(days=rng.randint(1, 30)),
        subaccounts=clients, connect=rng.random() < 0.5,
        allocation_on=rng.randrange(len(clients)) if rng.random() < 0.4 else None,
        primary_card_fails=rng.random() < 0.15)


class Workload:
    """Drives agencies through days; one instance per run (see ``run_workload``)."""

    def __init__(self, client: Any, stripe_base: str, platform_key: str, *,
                 rng: random.Random, clock: SimulatedClock, jobs: Sequence[str] = DAILY_JOBS,
                 job_days: Mapping[date, Sequence[str]] | None = None, mix: Mix = Mix(),
                 log: Callable[[str], None] = lambda line: None) -> None:
        """``client`` is a ``chalice.test.Client`` on the app; ``stripe_base`` the emulator."""
        self.client = client
        self.stripe_base = stripe_base.rstrip("/")
        self.platform_key = platform_key
        self.rng = rng
        self.clock = clock
        self.jobs = list(jobs)
        self.job_days = job_days
        self.mix = mix
        self.log = log
        self.result = WorkloadResult()
        self._keys = 0

    # -- plumbing ------------------------------------------------------------------------------

    def _key(self, what: str) -> str:
        self._keys += 1
        return f"wl-{what}-{self._keys:06d}-{self.rng.getrandbits(32):08x}"

    def _call(self, op: str, expected: tuple[int, ...], method: str, path: str, *,
              agency: Agency | None = None, platform: bool = False, body: Any = None,
              idempotency_key: str | None = None) -> Answer:
        """One request, counted as ``"<op> <status>"``; other statuses are recorded."""
        started = time.perf_counter()
        answer = self._send(method, path, agency, platform, body, idempotency_key)
        if answer.status == 401 and agency is not None:  # a token older than an hour
            agency.token = self._login(agency)
            answer = self._send(method, path, agency, platform, body, idempotency_key)
        self.result.counts[f"{op} {answer.status}"] += 1
        self.result.seconds_by_operation[op] += time.perf_counter() - started
        if answer.status not in expected:
            self.result.unexpected.append(
                f"{op}: {method} {path} -> {answer.status} {str(answer.body)[:200]}")
        return answer

    def _send(self, method: str, path: str, agency: Agency | None, platform: bool, body: Any,
              idempotency_key: str | None) -> Answer:
        return call(self.client, method, path, body=body, idempotency_key=idempotency_key,
                    platform_key=self.platform_key if platform else None,
                    token=agency.token if agency is not None and not platform else None)

    def _login(self, agency: Agency) -> str:
        answer = call(self.client, "POST", "/v1/auth/login", body={
            "email": agency.spec.owner_email, "password": agency.spec.owner_password})
        self.result.counts[f"login {answer.status}"] += 1
        if answer.status != 200:
            raise WorkloadFailed(f"login of {agency.spec.owner_email}: HTTP {answer.status}")
        return str(answer.body["access_token"])

    def _stripe(self, path: str, **form: Any) -> requests.Response:
        response = requests.post(f"{self.stripe_base}{path}", data=form,
                                 headers=STRIPE_KEY_HEADER, timeout=30)
        self.result.counts[f"stripe {path.split('/')[-1]} {response.status_code}"] += 1
        return response

    def at(self, day: date, seconds: float) -> datetime:
        """Move the app's clock to ``seconds`` after midnight UTC of ``day``."""
        return self.clock.set(datetime(day.year, day.month, day.day, tzinfo=UTC)
                              + timedelta(seconds=int(seconds)))

    # -- agencies --------------------------------------------------------------------------------

    def create_agency(self, index: int, spec: AgencySpec, day: date) -> Agency:
        """The agency, its owner's session, clients, cards, opening minutes, Connect, rules."""
        agency = Agency(index, spec)
        created = self._call("create agency", (201,), "POST", "/v1/platform/agencies",
                             platform=True, body={
                                 "name": spec.name, "owner_email": spec.owner_email,
                                 "owner_password": spec.owner_password, "plan": spec.plan,
                                 "subscription_start": spec.subscription_start.isoformat()})
        if created.status != 201:
            raise WorkloadFailed(f"create agency {spec.name}: HTTP {created.status} "
                                 f"{str(created.body)[:300]}")
        agency.id = created.body["agency"]["id"]
        agency.primary_id = created.body["primary_subaccount"]["id"]
        agency.token = self._login(agency)
        for sub in spec.subaccounts:
            answer = self._call("create sub-account", (201,), "POST", "/v1/subaccounts",
                                agency=agency, body={
                                    "name": sub.name, "login_email": sub.login_email,
                                    "prices": sub.prices,
                                    "subscription_start": sub.subscription_start.isoformat()})
            if answer.status != 201:
                raise WorkloadFailed(f"create sub-account {sub.name}: HTTP {answer.status}")
            agency.clients.append(Subaccount(answer.body["id"], dict(sub.prices)))
        first = FAILING_CARD if spec.primary_card_fails else GOOD_CARD
        agency.primary_cards.append(self._attach(agency, agency.primary_id, first))
        agency.card_needs_fixing = False
        for client in agency.clients:
            self._attach(agency, client.id, GOOD_CARD)
        # One card per agency that attaches and then declines every charge (Stripe test mode).
        holder = agency.clients[self.rng.randrange(len(agency.clients))]
        holder.failing_card = self._attach(agency, holder.id, FAILING_CARD)
        for tier, minutes in spec.primary_grant:
            self._call("grant", (201,), "POST", "/v1/platform/adjustments", platform=True,
                       idempotency_key=self._key("grant"), body={
                           "subaccount_id": agency.primary_id, "asset": f"{tier}_minutes",
                           "amount": str(minutes), "reason": "opening grant"})
        for client in agency.clients:
            for tier, minutes in spec.opening_minutes:
                self.purchase(agency, client, tier, minutes, declined=False)
        if spec.allocation_on is not None:
            target = agency.clients[spec.allocation_on]
            self._call("auto-allocation rule", (200,), "PUT",
                       f"/v1/subaccounts/{target.id}/auto-allocation", agency=agency,
                       body={"basic_minutes": 200, "premium_minutes": 100, "enabled": True})
        if spec.connect:
            self.connect(agency)
        return agency

    def _attach(self, agency: Agency, sid: str, card: str) -> str:
        answer = self._call("attach card", (201,), "POST",
                            f"/v1/subaccounts/{sid}/payment-methods", agency=agency,
                            body={"payment_method": card})
        if answer.status != 201:
            raise WorkloadFailed(f"attach {card}: HTTP {answer.status} {str(answer.body)[:200]}")
        return str(answer.body["id"])

    def connect(self, agency: Agency) -> None:
        """Onboarding through the API, finished with the emulator's test helper; waits for
        the signed ``account.updated`` to reach the app."""
        started = self._call("connect onboarding", (200,), "POST",
                             "/v1/agency/connect/onboarding", agency=agency)
        if started.status != 200:
            return
        agency.account_id = str(started.body["account_id"])
        self._stripe(f"/v1/test_helpers/accounts/{agency.account_id}/complete_onboarding")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            state = self._call("connect status", (200,), "GET", "/v1/agency/connect",
                               agency=agency)
            if state.status == 200 and state.body.get("status") == "connected":
                return
            time.sleep(0.05)
        self.result.unexpected.append(f"connect: {agency.account_id} never became connected")

    def fix_primary_card(self, agency: Agency) -> None:
        """After a declined auto-allocation: a working card, made the default."""
        pm = self._attach(agency, agency.primary_id, GOOD_CARD)
        agency.primary_cards.append(pm)
        self._call("default card", (200,), "POST",
                   f"/v1/subaccounts/{agency.primary_id}/payment-methods/{pm}/default",
                   agency=agency)
        agency.card_needs_fixing = False

    # -- money and calls ---------------------------------------------------------------------

    def purchase(self, agency: Agency, client: Subaccount, tier: str, minutes: int, *,
                 declined: bool) -> Answer:
        """A client buys minutes; ``declined`` pays with its failing card (402)."""
        body: dict[str, Any] = {"tier": tier, "minutes": minutes}
        if declined and client.failing_card:
            body["payment_method_id"] = client.failing_card
        return self._call("purchase", (201, 402), "POST",
                          f"/v1/subaccounts/{client.id}/purchases", agency=agency, body=body,
                          idempotency_key=self._key("purchase"))

    def move(self, agency: Agency) -> None:
        """Quote and confirm a move between two of the agency's sub-accounts: whichever way
        the prices go (toward a higher or a lower one)."""
        source, target = self.rng.sample(agency.subaccount_ids, 2)
        tier = self.rng.choice(TIERS)
        quote = self._call("quote", (201, 409), "POST", "/v1/transfers/quotes", agency=agency,
                           idempotency_key=self._key("quote"), body={
                               "from_subaccount_id": source, "to_subaccount_id": target,
                               "asset": f"{tier}_minutes",
                               "amount": str(self.rng.choice((5, 10, 15, 30)))})
        if quote.status != 201:
            return
        self.clock.set(self.clock.now() + timedelta(seconds=self.rng.randint(5, 90)))
        self._call("confirm move", (201, 409), "POST", "/v1/transfers", agency=agency,
                   idempotency_key=self._key("move"), body={"quote_id": quote.body["quote_id"]})

    def calls(self, agency: Agency, day: date, begin: float, span: float
              ) -> list[tuple[float, Callable[[], None]]]:
        """The day's calls as timed steps: holds when they start, one usage batch after the
        last one ends."""
        low, high = agency.spec.calls_per_day
        longest = max(20, min(900, int(span * 0.3)))
        steps: list[tuple[float, Callable[[], None]]] = []
        records: list[dict[str, Any]] = []
        refused: set[str] = set()
        for n in range(self.rng.randint(low, high)):
            sid = self.rng.choice(agency.subaccount_ids)
            tier = "premium" if self.rng.random() < 0.4 else "basic"
            status = self.rng.choices(CALL_STATUSES, STATUS_WEIGHTS)[0]
            duration = (self.rng.randint(20, longest) if status == "completed"
                        else self.rng.randint(1, 40) if status == "other" else 0)
            start = begin + self.rng.uniform(0, span * 0.5)
            call_id = f"call-{agency.id[-12:]}-{day.strftime('%m%d')}-{n:03d}"
            records.append({
                "call_id": call_id, "subaccount_id": sid, "tier": tier,
                "duration_seconds": duration,
                "direction": "inbound" if self.rng.random() < 0.3 else "outbound",
                "status": status,
                "started_at": (datetime(day.year, day.month, day.day, tzinfo=UTC)
                               + timedelta(seconds=int(start))).strftime("%Y-%m-%dT%H:%M:%SZ")})
            if self.rng.random() < self.mix.held_calls:
                hold = max(300, duration + 60)

                def authorize(sid: str = sid, tier: str = tier, call_id: str = call_id,
                              hold: int = hold) -> None:
                    answer = self._call("authorize hold", (200,), "POST",
                                        "/v1/platform/calls/authorize", platform=True, body={
                                            "subaccount_id": sid, "tier": tier,
                                            "call_id": call_id, "hold_seconds": hold})
                    if answer.status == 200 and not answer.body.get("allowed"):
                        refused.add(call_id)  # the platform does not place this call

                steps.append((start, authorize))

        def report_usage() -> None:
            placed = [r for r in records if r["call_id"] not in refused]
            for first in range(0, len(placed), 100):
                answer = self._call("usage", (200,), "POST", "/v1/platform/usage",
                                    platform=True, body={"records": placed[first:first + 100]})
                for row in (answer.body or {}).get("results", []) if answer.status == 200 else []:
                    self.result.counts[f"call {row.get('status')}"] += 1
                    if row.get("status") == "rejected":
                        self.result.unexpected.append(f"usage rejected: {str(row)[:200]}")

        if records:
            steps.append((begin + span * 0.5 + longest + 60, report_usage))
        return steps

    def business(self, agency: Agency, day: date, begin: float, span: float) -> None:
        """One agency's day, its steps in time order within ``[begin, begin + span)``."""
        steps = self.calls(agency, day, begin, span * 0.8)
        rng, mix = self.rng, self.mix
        if agency.card_needs_fixing:
            steps.append((begin + rng.uniform(0, span * 0.2),
                          lambda: self.fix_primary_card(agency)))
        if rng.random() < mix.purchases:
            client = rng.choice(agency.clients)
            declined = client.failing_card is not None and rng.random() < mix.declined
            tier, minutes = rng.choice(TIERS), rng.choice((100, 200, 250, 500))
            steps.append((begin + rng.uniform(0, span * 0.9),
                          lambda: self._ignore(self.purchase(agency, client, tier, minutes,
                                                             declined=declined))))
        for _ in range(rng.choice(mix.moves)):
            steps.append((begin + rng.uniform(0, span * 0.9), lambda: self.move(agency)))
        month_start = day.replace(day=1).isoformat()
        if mix.reads and rng.random() < 0.6:
            steps.append((begin + span * 0.95, lambda: self._ignore(self._call(
                "report list", (200,), "GET",
                f"/v1/reports/subaccounts?from={month_start}&to={day.isoformat()}",
                agency=agency))))
        if mix.reads and rng.random() < 0.3:
            steps.append((begin + span * 0.96, lambda: self._ignore(self._call(
                "overview", (200,), "GET", "/v1/agency/overview", agency=agency))))
        if mix.reads and rng.random() < 0.3:
            sid = rng.choice(agency.subaccount_ids)
            steps.append((begin + span * 0.97, lambda: self._ignore(self._call(
                "wallet", (200,), "GET", f"/v1/subaccounts/{sid}/wallet", agency=agency))))
        for when, step in sorted(steps, key=lambda s: s[0]):
            self.at(day, when)
            step()

    @staticmethod
    def _ignore(_: Any) -> None:
        """A step whose answer is only counted."""

    # -- jobs ----------------------------------------------------------------------------------

    def run_jobs(self, day: date) -> None:
        """The day's jobs as of 00:30 UTC, then what the outside world does about their
        outcome: Stripe pays out transfers; owners fix declined cards."""
        as_of = self.at(day, JOB_HOUR * 3600 + 1800)
        todays = self.jobs if self.job_days is None else self.job_days.get(day, ())
        for job in [j for j in todays if j in self.jobs]:
            answer = self._call(f"job {job}", (200,), "POST", f"/v1/platform/jobs/{job}/runs",
                                platform=True, body={"as_of": as_of.strftime(
                                    "%Y-%m-%dT%H:%M:%SZ")})
            if answer.status == 404:  # a job this app does not have
                self.jobs.remove(job)
                continue
            if answer.status != 200:
                continue
            summary = answer.body if isinstance(answer.body, dict) else {}
            self.result.job_runs.append({"day": day.isoformat(), "job": job, **{
                k: summary.get(k) for k in ("processed", "succeeded", "failed", "skipped")}})
            if job == "payout-sweep" and summary.get("succeeded"):
                self.pay_out_transfers(day)
            if job == "auto-allocation" and summary.get("failed"):
                for agency in self.result.agencies:
                    if agency.spec.primary_card_fails and len(agency.primary_cards) == 1:
                        agency.card_needs_fixing = True

    def pay_out_transfers(self, day: date) -> None:
        """Stripe pays each connected account's balance out to its bank (``payout.paid``)."""
        self.at(day, JOB_HOUR * 3600 + 2700)
        for agency in self.result.agencies:
            if agency.account_id is None:
                continue
            listed = self._call("payouts", (200,), "GET", "/v1/agency/payouts", agency=agency)
            fresh = [p for p in (listed.body or {}).get("payouts", [])
                     if listed.status == 200 and p.get("status") == "in_transit"
                     and p.get("id") not in agency.paid_out]
            if fresh:
                self._stripe(f"/v1/test_helpers/accounts/{agency.account_id}/pay_out")
                agency.paid_out.update(p["id"] for p in fresh)

    # -- the run ---------------------------------------------------------------------------------

    def run(self, specs: Sequence[AgencySpec], days: Sequence[date]) -> WorkloadResult:
        """Every day: jobs, then each agency's slice (created in its slice of the first day)."""
        started = time.perf_counter()
        slice_seconds = BUSINESS_HOURS * 3600 / max(len(specs), 1)
        for number, day in enumerate(days):
            self.run_jobs(day)
            for index, spec in enumerate(specs):
                begin = BUSINESS_START_HOUR * 3600 + index * slice_seconds
                if number == 0:
                    self.at(day, begin)
                    self.result.agencies.append(self.create_agency(index, spec, day))
                self.business(self.result.agencies[index], day, begin, slice_seconds)
            self.result.days.append(day)
            self.log(f"workload: {day} done ({self.result.requests} requests)")
        settle_webhooks(self.stripe_base)
        self.result.seconds = time.perf_counter() - started
        return self.result


def settle_webhooks(stripe_base: str, timeout: float = 20.0) -> bool:
    """Wait until the emulator finished delivering every event it sent so far."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = requests.get(f"{stripe_base}/_devstack/events", timeout=10).json()["data"]
        deliveries = requests.get(f"{stripe_base}/_devstack/deliveries",
                                  timeout=10).json()["data"]
        wanted = sum(int(e.get("pending_webhooks") or 0) for e in events)
        finished = sum(1 for d in deliveries if d.get("finished_at"))
        if finished >= wanted:
            return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def simulated_clock(start: datetime) -> Iterator[SimulatedClock]:
    """The app's clock swapped for a simulated one through the composition root."""
    from chalicelib import bootstrap

    clock = SimulatedClock(start)
    with bootstrap.override(clock=clock):
        yield clock


def run_workload(client: Any, stripe_base: str, platform_key: str, *,
                 agencies: int | Sequence[AgencySpec], days: int, seed: int, start: date,
                 jobs: Sequence[str] = DAILY_JOBS,
                 job_days: Mapping[date, Sequence[str]] | None = None, mix: Mix = Mix(),
                 log: Callable[[str], None] = lambda line: None) -> WorkloadResult:
    """Run the mixed workload: ``agencies`` random ones (or these specs) over ``days`` days
    from ``start``, every choice drawn from ``random.Random(seed)``. Every day runs ``jobs``,
    unless ``job_days`` says which of them run on which days (the others run none)."""
    rng = random.Random(seed)
    specs = ([random_agency(rng, i, start, f"s{seed}") for i in range(agencies)]
             if isinstance(agencies, int) else list(agencies))
    dates = [start + timedelta(days=n) for n in range(days)]
    with simulated_clock(datetime(start.year, start.month, start.day, tzinfo=UTC)) as clock:
        workload = Workload(client, stripe_base, platform_key, rng=rng, clock=clock, jobs=jobs,
                            job_days=job_days, mix=mix, log=log)
        return workload.run(specs, dates)

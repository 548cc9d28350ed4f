"""Sweep cost at scale: a due agency built through the public routes, cloned.

A *template* agency is set up through the real routes (and the Stripe emulator) so that it is
due for the job. Its items are then copied, with every id and email rewritten, into
``due`` agencies; ``agencies - due`` more agencies get their Agency item and their GSI2 "due"
items only, dated after ``as_of`` (what an agency that is not due looks like to a sweep).
The job function then runs once, as of the due date, with every DynamoDB call counted.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.instrument import recording
from bench.ops import SetupFailed, World, create_agency, expect, has_route, login, unique

JOBS = {
    "payout-sweep": ("chalicelib.jobs.payouts", "payout_sweep"),
    "auto-allocation": ("chalicelib.jobs.auto_allocation", "auto_allocation_sweep"),
}
SETTLE_SECONDS = 3.0
PURCHASE_MINUTES_FOR_PROFIT = 800  # premium at 0.30 over a 0.16 base: USD 112 of profit


@dataclass
class SweepResult:
    """One sweep row."""

    job: str
    agencies: int
    due: int
    status: str = "ok"
    items_read: int = 0
    items_by_api: dict[str, int] = field(default_factory=dict)
    dynamodb: dict[str, int] = field(default_factory=dict)
    stripe_calls: int = 0
    wall_ms: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def measured(self) -> bool:
        """Whether the row holds numbers."""
        return self.status == "ok"

    @property
    def dynamodb_total(self) -> int:
        """All DynamoDB calls of the run."""
        return sum(self.dynamodb.values())

    @property
    def items_per_due(self) -> float | None:
        """Items read per due agency."""
        return self.items_read / self.due if self.measured and self.due else None

    def as_json(self) -> dict[str, Any]:
        """The row for ``results.json``."""
        return {"job": self.job, "agencies": self.agencies, "due": self.due,
                "status": self.status, "items_read": self.items_read,
                "items_read_per_due": (round(self.items_per_due, 3)
                                       if self.items_per_due is not None else None),
                "items_read_by_api": dict(sorted(self.items_by_api.items())),
                "items_read_per_due_after_index": (
                    round((self.items_read - self.items_by_api.get("Query", 0)) / self.due, 3)
                    if self.measured and self.due else None),
                "dynamodb_calls": dict(sorted(self.dynamodb.items())),
                "dynamodb_total": self.dynamodb_total, "stripe_calls": self.stripe_calls,
                "wall_ms": None if self.wall_ms is None else round(self.wall_ms, 1),
                "summary": {k: v for k, v in self.summary.items()
                            if k in ("processed", "succeeded", "failed", "skipped", "results")},
                "note": self.note}


@dataclass
class Template:
    """A due agency's items and the strings that identify it."""

    job: str
    items: list[dict[str, Any]]
    tokens: list[str]  # ids and emails to rewrite in each copy
    agency_id: str
    as_of: datetime
    notes: list[str] = field(default_factory=list)


# -- raw table access (setup only: outside any recording) ------------------------------------


def _client() -> Any:
    from chalicelib.store.base import connection

    return connection().client


def _table() -> str:
    return os.environ["TABLE_NAME"]


def scan_all() -> Iterator[dict[str, Any]]:
    """Every item of the table (benchmark setup only)."""
    kwargs: dict[str, Any] = {"TableName": _table()}
    while True:
        page = _client().scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def batch_write(items: list[dict[str, Any]]) -> None:
    """Put raw items, 25 per BatchWriteItem, retrying what DynamoDB leaves unprocessed."""
    for start in range(0, len(items), 25):
        pending = {_table(): [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
        while pending:
            answer = _client().batch_write_item(RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}


def _rewrite(value: Any, swap: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"S"}:
            return {"S": swap(value["S"])}
        return {k: _rewrite(v, swap) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, swap) for v in value]
    return value


def _swapper(tokens: list[str], n: int) -> Callable[[str], str]:
    ordered = sorted(tokens, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(t) for t in ordered))
    replacement = {t: (t.replace("@", f"+c{n}@") if "@" in t else f"{t}c{n:05d}")
                   for t in ordered}
    return lambda text: pattern.sub(lambda m: replacement[m.group(0)], text)


def _with_due_day(item: dict[str, Any], day: date) -> dict[str, Any]:
    """The item with its GSI2 sort key moved to ``day`` (same time of day and suffix)."""
    if "DUESK" not in item:
        return item
    sk = item["DUESK"]["S"]
    return {**item, "DUESK": {"S": day.isoformat() + sk[10:]}}


def _resharder(agency_id: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A copy's due-index items in the copy's own shard (the shard hashes the agency id)."""
    from chalicelib.store import keys

    def reshard(item: dict[str, Any]) -> dict[str, Any]:
        if "DUEPK" not in item:
            return item
        job = item["DUEPK"]["S"].split("#")[1]
        return {**item, "DUEPK": {"S": keys.due_pk(job, agency_id)}}

    return reshard


def clone_population(template: Template, agencies: int, due: int) -> int:
    """Write ``due`` full copies and ``agencies - due`` not-due copies; items written."""
    job_prefix = f"DUE#{template.job}#"
    agency_item = next(i for i in template.items
                       if i["PK"]["S"] == f"AGENCY#{template.agency_id}"
                       and i["SK"]["S"] == "AGENCY")
    due_items = [i for i in template.items
                 if i.get("DUEPK", {}).get("S", "").startswith(job_prefix)]
    written = 0
    batch: list[dict[str, Any]] = []
    for n in range(agencies):
        swap = _swapper(template.tokens, n)
        reshard = _resharder(swap(template.agency_id))
        if n < due:
            copies = [reshard(_rewrite(item, swap)) for item in template.items]
        else:
            later = template.as_of.date() + timedelta(days=1 + n % 27)
            copies = [_rewrite(agency_item, swap)] + [
                reshard(_with_due_day(_rewrite(item, swap), later)) for item in due_items]
        batch.extend(copies)
        if len(batch) >= 500:
            batch_write(batch)
            written += len(batch)
            batch = []
    batch_write(batch)
    return written + len(batch)


# -- templates ----------------------------------------------------------------------------


def _stripe_post(path: str, data: dict[str, Any]) -> None:
    import requests

    answer = requests.post(f"{os.environ['STRIPE_API_BASE']}{path}", data=data, timeout=10,
                           headers={"Authorization": f"Bearer {os.environ['STRIPE_SECRET_KEY']}"})
    if answer.status_code >= 300:
        raise SetupFailed(f"emulator {path}: HTTP {answer.status_code} {answer.text[:200]}")


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SetupFailed(f"timed out waiting for {what}")
        time.sleep(0.1)


def _secondary_with_card(world: World, token: str, card_on: str) -> tuple[str, str]:
    answer = expect(world.call("POST", "/v1/subaccounts", token=token, body={
        "name": "Sweep Client", "login_email": f"{unique('sweepclient')}@bench.example.com",
        "prices": {"basic": "0.20", "premium": "0.30"}, "subscription_start": "2026-01-15",
    }), "create sub-account", 201)
    sid = (answer.body.get("subaccount") or answer.body)["id"]
    target = sid if card_on == "secondary" else card_on
    expect(world.call("POST", f"/v1/subaccounts/{target}/payment-methods", token=token,
                      body={"payment_method": "pm_card_visa"}), "attach card", 200, 201)
    return sid, (answer.body.get("subaccount") or answer.body).get("login_email") or ""


PAYOUT_ROUTES = (("POST", "/v1/agency/connect/onboarding"), ("GET", "/v1/agency/connect"),
                 ("POST", "/v1/subaccounts"), ("POST", "/v1/subaccounts/{id}/payment-methods"),
                 ("POST", "/v1/subaccounts/{id}/purchases"))
ALLOCATION_ROUTES = (("POST", "/v1/subaccounts"),
                     ("POST", "/v1/subaccounts/{id}/payment-methods"),
                     ("PUT", "/v1/subaccounts/{id}/auto-allocation"))


def build_template(world: World, job: str) -> Template:
    """Set up one agency due for ``job`` through the routes; read back its items."""
    agency_id, primary_id, email = create_agency(world, name=f"Sweep template {job}")
    token = login(world, email)
    tokens = [agency_id, primary_id, email]
    if job == "payout-sweep":
        expect(world.call("POST", "/v1/agency/connect/onboarding", token=token, body={}),
               "connect onboarding", 200, 201)
        account_id = expect(world.call("GET", "/v1/agency/connect", token=token),
                            "connect status", 200).body["account_id"]
        _stripe_post(f"/v1/test_helpers/accounts/{account_id}/complete_onboarding", {})
        _wait(lambda: world.call("GET", "/v1/agency/connect", token=token).body.get("status")
              == "connected", "account.updated to reach the webhook route")
        sid, login_email = _secondary_with_card(world, token, "secondary")
        expect(world.call("POST", f"/v1/subaccounts/{sid}/purchases", token=token,
                          idempotency_key=unique("profit"),
                          body={"tier": "premium", "minutes": PURCHASE_MINUTES_FOR_PROFIT}),
               "purchase for profit", 201)
        _stripe_post("/v1/test_helpers/balance/add_available", {"amount": 5_000_000})
    else:
        sid, login_email = _secondary_with_card(world, token, primary_id)
        expect(world.call("PUT", f"/v1/subaccounts/{sid}/auto-allocation", token=token,
                          body={"basic_minutes": 0, "premium_minutes": 100, "enabled": True}),
               "auto-allocation rule", 200, 201)
    tokens += [sid] + ([login_email] if login_email else [])
    items = [item for item in scan_all()
             if any(agency_id in str(v) or sid in str(v) for v in item.values())]
    due = sorted(i["DUESK"]["S"] for i in items
                 if i.get("DUEPK", {}).get("S", "").startswith(f"DUE#{job}#"))
    if not due:
        raise SetupFailed(f"the template agency has no DUE#{job} item in GSI2")
    when = due[0].split("#", 1)[0]
    moment = (datetime.fromisoformat(when.replace("Z", "+00:00")) if "T" in when
              else datetime.combine(date.fromisoformat(when), datetime.min.time()))
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    users = [i for i in items if i["SK"]["S"].startswith("USER#")]
    tokens += [i["SK"]["S"][5:] for i in users]
    return Template(job, items, sorted(set(tokens)), agency_id, moment + timedelta(hours=3))


def missing_for(app: Any, job: str) -> str | None:
    """Why ``job`` cannot be benchmarked (module or route missing), or None."""
    module, _ = JOBS[job]
    if importlib.util.find_spec(module) is None:
        return f"n/a (job module {module} missing)"
    routes = PAYOUT_ROUTES if job == "payout-sweep" else ALLOCATION_ROUTES
    missing = [f"{m} {p}" for m, p in routes if not has_route(app, m, p)]
    return f"n/a (route missing: {', '.join(missing)})" if missing else None


def run_job(job: str, as_of: datetime, agencies: int, due: int) -> SweepResult:
    """Run the job function once, counted and timed (the population is already written)."""
    module, function = JOBS[job]
    sweep = getattr(importlib.import_module(module), function)
    result = SweepResult(job, agencies, due)
    with recording() as rec:
        started = time.perf_counter()
        summary = sweep(as_of)
        result.wall_ms = (time.perf_counter() - started) * 1000
    result.items_read = rec.items_read
    result.items_by_api = dict(rec.items_by_api)
    result.dynamodb = dict(rec.dynamodb)
    result.stripe_calls = rec.stripe_total
    result.summary = summary
    outcome = summary.get("results") or {k: summary.get(k) for k in ("succeeded", "failed",
                                                                      "skipped")}
    result.note = f"processed {summary.get('processed')} of {due} due: {outcome}"
    return result


def measure_sweep(template: Template, agencies: int, due: int,
                  reset: Callable[[], None]) -> SweepResult:
    """Fresh table, the population, one run of the job."""
    reset()
    started = time.perf_counter()
    written = clone_population(template, agencies, due)
    result = run_job(template.job, template.as_of, agencies, due)
    # Let the emulator deliver this run's webhooks before the next reset drops the table.
    time.sleep(SETTLE_SECONDS)
    seeded = (time.perf_counter() - started) * 1000 - (result.wall_ms or 0) - SETTLE_SECONDS * 1000
    extra = f"{written} items seeded in {seeded / 1000:.1f}s"
    result.note = f"{result.note}; {extra}" if result.note else extra
    return result

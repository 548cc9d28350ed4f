"""The printed table, the target checks and ``results.json``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.footprint import ColdStart, PackageSize
from bench.hot_keys import MIN_AGENCIES, SHARE_LIMIT, HotKeys
from bench.instrument import READ_APIS, WRITE_APIS
from bench.measure import OpResult
from bench.sweeps import SweepResult

ABBREVIATIONS = {
    "GetItem": "Get", "BatchGetItem": "BatchGet", "Query": "Query", "Scan": "SCAN",
    "TransactGetItems": "TxGet", "PutItem": "Put", "UpdateItem": "Update",
    "DeleteItem": "Delete", "BatchWriteItem": "BatchWrite", "TransactWriteItems": "TxWrite",
}
MIN_REPS = 200
ZIP_LIMIT_MB = 15.0
IMPORT_RATIO_LIMIT = 1.0
MONEY_READS_LIMIT = 3
#: Issue 20: a usage batch of 100 calls (10 sub-accounts) costs at most this many calls.
USAGE_BATCH_CALLS_LIMIT = 20
SWEEP_ITEMS_PER_DUE_LIMIT = 2.0


@dataclass
class Check:
    """One target: PASS, MISS or NOT CHECKED, with the numbers behind it."""

    target: str
    verdict: str
    detail: str

    def as_json(self) -> dict[str, str]:
        """For ``results.json``."""
        return {"target": self.target, "verdict": self.verdict, "detail": self.detail}


def _span(lo: int, hi: int) -> str:
    return str(hi) if lo == hi else f"{lo}-{hi}"


def calls_text(row: OpResult, apis: frozenset[str] | None = None) -> str:
    """``Get 2 · BatchGet 1 · TxWrite 1``; ranges when repetitions differed."""
    order = list(ABBREVIATIONS)
    chosen = {api: span for api, span in row.dynamodb.items() if apis is None or api in apis}
    parts = [f"{ABBREVIATIONS.get(api, api)} {_span(lo, hi)}"
             for api, (lo, hi) in sorted(chosen.items(),
                                         key=lambda kv: order.index(kv[0])
                                         if kv[0] in order else 99)]
    return " · ".join(parts) or "none"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_ops(rows: list[OpResult], floor: OpResult) -> list[str]:
    """The per-operation table."""
    header = f"{'operation':<22} {'reps':>5} {'total':>5}  {'DynamoDB calls (per request)':<44}" \
             f" {'Stripe':>6} {'med ms':>8} {'p95 ms':>8} {'×floor':>7}"
    width = max(22, *(len(row.name) for row in [*rows, floor]))
    header = f"{'operation':<{width}}" + header[22:]
    lines = [header, "-" * len(header)]
    for row in [*rows, floor]:
        if not row.measured:
            lines.append(f"{row.name:<{width}} {row.status}")
            continue
        stripe = str(row.max_stripe)
        lines.append(
            f"{row.name:<{width}} {row.reps:>5} {row.max_calls():>5}  {calls_text(row):<44}"
            f" {stripe:>6} {_ms(row.median_ms):>8} {_ms(row.p95_ms):>8}"
            f" {('-' if row.ratio is None else f'{row.ratio:.1f}'):>7}")
        if "unexpected answer" in row.note:
            lines.append(f"{'':<29}{row.note[:160]}")
        if row.stripe:
            lines.append(f"{'':<29}Stripe: " + ", ".join(
                f"{api} ×{_span(lo, hi)}" for api, (lo, hi) in sorted(row.stripe.items())))
    return lines


def render_sweeps(rows: list[SweepResult]) -> list[str]:
    """The sweep table."""
    header = f"{'sweep':<16} {'agencies':>8} {'due':>5} {'items read':>10} {'per due':>8}" \
             f" {'DynamoDB calls':>14} {'Stripe':>6} {'wall ms':>9}  calls by API"
    lines = [header, "-" * len(header)]
    for row in rows:
        if not row.measured:
            lines.append(f"{row.job:<16} {row.agencies:>8} {row.due:>5}  {row.status}")
            continue
        by_api = " · ".join(f"{ABBREVIATIONS.get(k, k)} {v}"
                            for k, v in sorted(row.dynamodb.items()))
        lines.append(f"{row.job:<16} {row.agencies:>8} {row.due:>5} {row.items_read:>10}"
                     f" {row.items_per_due or 0:>8.2f} {row.dynamodb_total:>14}"
                     f" {row.stripe_calls:>6} {_ms(row.wall_ms):>9}  {by_api}")
        if row.note:
            lines.append(f"{'':<17}{row.note}")
    return lines


def render_growth(growth: list[dict[str, Any]]) -> list[str]:
    """The N+1 probe: calls of list GETs with 2 and with 6 sub-accounts."""
    lines = ["N+1 probe (DynamoDB calls per request as sub-accounts are added)"]
    for probe in growth:
        if probe["calls_before"] is None or probe["calls_after"] is None:
            lines.append(f"  {probe['name']:<22} n/a (route missing or failed)")
            continue
        lines.append(f"  {probe['name']:<22} {probe['calls_before']:>3} calls with "
                     f"{probe['subaccounts_before']} sub-accounts, {probe['calls_after']:>3} with "
                     f"{probe['subaccounts_after']} → +{probe['extra_calls_per_subaccount']:.2f}"
                     " per sub-account")
    return lines


def growth_notes(growth: list[dict[str, Any]]) -> list[str]:
    """A closing-note line for every route whose calls grow with the sub-accounts."""
    return [f"N+1: GET {p['path'].split('?')[0]} makes {p['extra_calls_per_subaccount']:.0f} more "
            f"DynamoDB call(s) per sub-account ({p['calls_before']} with "
            f"{p['subaccounts_before']}, {p['calls_after']} with {p['subaccounts_after']}); "
            "bounded by the page size, but one round trip per row."
            for p in growth if (p["extra_calls_per_subaccount"] or 0) > 0]


HOT_KEYS_TARGET = (f"no hot partition: hottest key ≤ {SHARE_LIMIT:.0%} of the writes "
                   f"(≥ {MIN_AGENCIES} agencies)")


def check_hot_keys(hot: HotKeys | None) -> Check:
    """SPEC 5 "No hot partition", on the mixed workload's partition writes."""
    if hot is None:
        return Check(HOT_KEYS_TARGET, "NOT CHECKED", "skipped")
    if not hot.measured:
        return Check(HOT_KEYS_TARGET, "NOT CHECKED", hot.status)
    data = hot.as_json()
    detail = (f"{data['hottest_index']} {data['hottest_key']} takes {data['hottest_share']:.2%} "
              f"of {data['writes']} partition writes ({hot.agencies} agencies × {hot.days} days)")
    if hot.agencies < MIN_AGENCIES:
        return Check(HOT_KEYS_TARGET, "NOT CHECKED",
                     f"only {hot.agencies} agencies (a smoke run); {detail}")
    return Check(HOT_KEYS_TARGET, "PASS" if data["hottest_share"] <= SHARE_LIMIT else "MISS",
                 detail)


def check_targets(rows: list[OpResult], sweeps: list[SweepResult], cold: ColdStart | None,
                  package: PackageSize | None,
                  growth: list[dict[str, Any]] | None = None) -> list[Check]:
    """Every target of the issue, checked against this run's numbers."""
    checks: list[Check] = []
    for probe in growth or []:
        # issue 20: lists (the report list above all) cost the same whatever the number of
        # sub-accounts: 0 extra DynamoDB calls per sub-account added
        label = f"{probe['name']}: 0 extra DynamoDB calls per sub-account"
        extra = probe["extra_calls_per_subaccount"]
        if extra is None:
            checks.append(Check(label, "NOT CHECKED", "route missing or failed"))
            continue
        checks.append(Check(label, "PASS" if extra <= 0 else "MISS",
                            f"{probe['calls_before']} calls with {probe['subaccounts_before']} "
                            f"sub-accounts, {probe['calls_after']} with "
                            f"{probe['subaccounts_after']} (+{extra:.2f} each)"))
    for row in rows:
        if row.name.startswith("usage batch"):
            # issue 20: a sub-account's calls are written together, so a batch is a handful
            # of transactions, not one per call
            label = f"{row.name}: ≤ {USAGE_BATCH_CALLS_LIMIT} DynamoDB calls"
            checks.append(Check(label, "NOT CHECKED", row.status) if not row.measured else Check(
                label, "PASS" if row.max_calls() <= USAGE_BATCH_CALLS_LIMIT else "MISS",
                f"{row.max_calls()} calls per request ({calls_text(row)})"))
            continue
        if not row.money:
            continue
        label = f"{row.name}: exactly {row.transactions} TransactWriteItems"
        if not row.measured:
            checks.append(Check(label, "NOT CHECKED", row.status))
            checks.append(Check(f"{row.name}: ≤ {MONEY_READS_LIMIT} reads", "NOT CHECKED",
                                row.status))
            continue
        twi = row.dynamodb.get("TransactWriteItems", [0, 0])
        ok = twi[0] == twi[1] == row.transactions
        other_writes = {api: hi for api, (_, hi) in row.dynamodb.items()
                        if api in WRITE_APIS and api != "TransactWriteItems"}
        detail = f"TransactWriteItems {_span(*twi)} per request"
        if other_writes:
            detail += "; other writes outside it: " + ", ".join(
                f"{api} {n}" for api, n in other_writes.items())
        checks.append(Check(label, "PASS" if ok else "MISS", detail))
        reads = row.max_reads
        checks.append(Check(f"{row.name}: ≤ {MONEY_READS_LIMIT} reads",
                            "PASS" if reads <= MONEY_READS_LIMIT else "MISS",
                            f"{reads} read calls per request ({calls_text(row, READ_APIS)})"))
    scanning = [r.name for r in rows if r.measured and r.dynamodb.get("Scan")] + [
        f"{s.job}@{s.agencies}" for s in sweeps if s.measured and s.dynamodb.get("Scan")]
    measured = [r for r in rows if r.measured]
    checks.append(Check("no operation scans", "MISS" if scanning else "PASS",
                        ("Scan in: " + ", ".join(scanning)) if scanning
                        else f"0 Scan calls in {len(measured)} operations and "
                             f"{sum(s.measured for s in sweeps)} sweep runs"))
    for sweep in sweeps:
        label = (f"{sweep.job} at {sweep.agencies} agencies: ≤ "
                 f"{SWEEP_ITEMS_PER_DUE_LIMIT:g} items read per due agency")
        if not sweep.measured:
            checks.append(Check(label, "NOT CHECKED", sweep.status))
            continue
        per_due = sweep.items_per_due or 0
        after = (sweep.items_read - sweep.items_by_api.get("Query", 0)) / sweep.due
        checks.append(Check(label, "PASS" if per_due <= SWEEP_ITEMS_PER_DUE_LIMIT else "MISS",
                            f"{sweep.items_read} items / {sweep.due} due = {per_due:.2f} "
                            f"({after:.2f} besides the due item the GSI2 Query returns)"))
    for job in sorted({s.job for s in sweeps}):
        runs = sorted((s for s in sweeps if s.job == job and s.measured),
                      key=lambda s: s.agencies)
        if len(runs) < 2:
            continue
        small, large = runs[0], runs[-1]
        same_due = small.due == large.due
        ok = same_due and large.items_read <= small.items_read * 1.1 + 2 \
            and large.dynamodb_total <= small.dynamodb_total * 1.1 + 2
        checks.append(Check(
            f"{job}: cost follows due, not agencies", "PASS" if ok else "MISS",
            f"{small.agencies} agencies: {small.items_read} items, {small.dynamodb_total} calls;"
            f" {large.agencies} agencies: {large.items_read} items, "
            f"{large.dynamodb_total} calls (both {large.due} due)"))
    if cold is None:
        checks.append(Check(f"import ratio ≤ {IMPORT_RATIO_LIMIT}", "NOT CHECKED", "skipped"))
    else:
        checks.append(Check(
            f"import ratio ≤ {IMPORT_RATIO_LIMIT}",
            "PASS" if cold.ratio <= IMPORT_RATIO_LIMIT else "MISS",
            f"import app {cold.app_ms:.0f} ms / import chalice+pynamodb+stripe "
            f"{cold.dependencies_ms:.0f} ms = {cold.ratio:.2f}; stripe loaded by "
            f"`import app`: {'yes' if cold.stripe_loaded_by_app else 'no'}"))
    if package is None or package.zip_bytes is None:
        checks.append(Check(f"zip ≤ {ZIP_LIMIT_MB:g} MB", "NOT CHECKED",
                            package.status if package else "skipped"))
    else:
        checks.append(Check(f"zip ≤ {ZIP_LIMIT_MB:g} MB",
                            "PASS" if (package.megabytes or 0) <= ZIP_LIMIT_MB else "MISS",
                            f"deployment.zip {package.megabytes:.1f} MB ("
                            f"{(package.unslimmed_bytes or 0) / 1e6:.1f} MB before dropping "
                            "boto3/botocore); largest: " + ", ".join(
                                f"{n} {b / 1e6:.1f} MB" for n, b in package.largest[:3])))
    short = [f"{r.name} ({r.reps})" for r in measured if r.reps < MIN_REPS]
    checks.append(Check(f"≥ {MIN_REPS} repetitions per row", "MISS" if short else "PASS",
                        ("fewer in: " + ", ".join(short)) if short
                        else f"every measured row ran ≥ {MIN_REPS}"))
    return checks


def closing_note(checks: list[Check], rows: list[OpResult], sweeps: list[SweepResult],
                 cold: ColdStart | None, package: PackageSize | None) -> list[str]:
    """Why each MISS happened (and what is not measured), in plain words."""
    notes: list[str] = []
    for check in checks:
        if check.verdict != "MISS":
            continue
        target = check.target
        if target.startswith("zip") and package is not None:
            big = dict(package.largest)
            why = (f"{target}: botocore alone is {big.get('botocore', 0) / 1e6:.1f} MB "
                   "compressed. It is not a direct requirement: pynamodb depends on it, so "
                   "`chalice package` bundles it, although the Lambda Python runtime already "
                   "ships boto3/botocore. Excluding it (or shipping it in a layer) is the fix."
                   if "botocore" in big else f"{target}: {check.detail}")
            notes.append(why)
        elif target.startswith("import ratio") and cold is not None:
            notes.append(f"{target}: " + (
                "`import app` loads stripe: some module imports it at module level."
                if cold.stripe_loaded_by_app else
                "app.py does not load stripe, but what it imports eagerly (every blueprint, "
                "pydantic models, chalicelib) costs more than stripe would."))
        elif "per due agency" in target:
            sweep = next(s for s in sweeps if target.startswith(f"{s.job} at {s.agencies} "))
            per = {api: n / sweep.due for api, n in sorted(sweep.items_by_api.items()) if n}
            calls = {api: n / sweep.due for api, n in sorted(sweep.dynamodb.items())}
            notes.append(
                f"{target}: {check.detail}. Items read per due agency by API: "
                + ", ".join(f"{api} {n:.2f}" for api, n in per.items())
                + "; calls per due agency: " + ", ".join(f"{api} {n:.2f}"
                                                         for api, n in calls.items())
                + ". The GSI2 Query itself returns one item per due agency, so every GetItem "
                  "after it counts against the budget of 2.")
        elif target == HOT_KEYS_TARGET:
            notes.append(f"{target}: {check.detail}. One key written by every agency takes a "
                         "share that does not shrink as agencies are added: shard it (as the "
                         "due index is) or move it under the agency's own keys.")
        elif "repetitions" in target:
            notes.append(f"{target}: {check.detail}. Each usage repetition ingests 100 calls "
                         "(a few batched transactions against moto); 200 of them take several "
                         "minutes on 2 cores. Run with --usage-reps 200 for the full count.")
        else:
            notes.append(f"{target}: {check.detail}")
    for row in rows:
        lo, hi = row.dynamodb.get("TransactWriteItems", [0, 0])
        if row.measured and row.stripe and lo != hi:
            notes.append(
                f"{row.name}: TransactWriteItems varies ({lo}-{hi}) from one request to the "
                "next. The emulator sends its webhook while the request is still running; the "
                "app handles it in another thread (not counted), and when the webhook finishes "
                "the work first the request itself writes nothing more"
                + (" or answers 202" if "HTTP 202" in row.note else "") + ".")
        other = {api: hi for api, (_, hi) in row.dynamodb.items()
                 if api in ("PutItem", "UpdateItem", "DeleteItem")}
        if row.measured and row.money and other:
            notes.append(
                f"{row.name}: besides its TransactWriteItems it writes "
                + ", ".join(f"{api} ×{n}" for api, n in other.items())
                + " outside the transaction (the Idempotency-Key answer is stored by "
                  "chalicelib/services/idempotency.run_idempotent after the handler"
                + (", plus the operation's own" if sum(other.values()) > 1 else "") + ").")
        if not row.measured:
            notes.append(f"{row.name}: {row.status}")
    for sweep in sweeps:
        if not sweep.measured:
            notes.append(f"{sweep.job} ({sweep.agencies} agencies): {sweep.status}")
    return notes


def results_json(rows: list[OpResult], floor: OpResult | None, sweeps: list[SweepResult],
                 cold: ColdStart | None, package: PackageSize | None, checks: list[Check],
                 notes: list[str], meta: dict[str, Any], hot: HotKeys | None = None
                 ) -> dict[str, Any]:
    """Everything printed, as data."""
    return {
        "meta": meta,
        "floor": floor.as_json() if floor is not None else None,
        "operations": [row.as_json() for row in rows],
        "sweeps": [sweep.as_json() for sweep in sweeps],
        "cold_start": cold.as_json() if cold else None,
        "package": package.as_json() if package else None,
        "hot_keys": hot.as_json() if hot is not None else None,
        "targets": [check.as_json() for check in checks],
        "closing_note": notes,
    }

"""Writes per partition key, counted inside the emulator as items change.

SPEC section 5, "No hot partition": in a mixed workload over at least 50 agencies, no
partition key of the table or of its indexes takes more than 5% of the writes. DynamoDB
writes an item to its table partition and, for every global secondary index, to the index
partition of the key the item has before the write (the old entry goes) and after it (the new
one comes): one write each, or one in all when the key did not change.

That is counted here where it happens: the benchmark runs moto in this process, so
``moto``'s backend ``put_item``, ``update_item`` and ``delete_item`` (which its
``BatchWriteItem`` and ``TransactWriteItems`` call for each of their items too) are wrapped
for the duration of ``counting_writes``. A write that fails its condition is not counted;
the items of a transaction count only when the whole transaction committed. Nothing about
update expressions is parsed: the item is looked at before and after.

``python -m bench.run --only hot-keys`` runs this step alone (see ``measure``).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

TABLE = "table"
SHARE_LIMIT = 0.05
MIN_AGENCIES = 50
TOP = 5
_ID = re.compile(r"\b([a-z]{2,8})_[0-9A-Za-z]{6,}")


def key_shape(key: str) -> str:
    """A key with its ids replaced by their kind (``ACCT#<agc>#sub:<sub>``), for the README."""
    shape = _ID.sub(lambda m: f"<{m.group(1)}>", key)
    shape = re.sub(r"[^#@:]+@[^#:]+", "<email>", shape)
    return re.sub(r"\d{4}-\d{2}-\d{2}", "<date>", shape)


@dataclass
class WriteCounts:
    """Writes per (index, partition key value); ``index`` is ``table`` for the base table."""

    table_name: str
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    items_written: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, writes: Iterable[tuple[str, str]]) -> None:
        """Count one item write: its table partition and index partitions."""
        with self._lock:
            self.items_written += 1
            self.counts.update(writes)

    @property
    def total(self) -> int:
        """Every partition write, table and indexes."""
        return sum(self.counts.values())

    def by_index(self) -> dict[str, int]:
        """Partition writes per table/index."""
        found: Counter[str] = Counter()
        for (index, _), n in self.counts.items():
            found[index] += n
        return dict(sorted(found.items()))

    def top(self, n: int = TOP) -> list[dict[str, Any]]:
        """The ``n`` most written partition keys, with their share of all writes and of their
        own table or index's writes."""
        total, per_index = self.total or 1, self.by_index()
        return [{"index": index, "key": key, "shape": key_shape(key), "writes": writes,
                 "share": round(writes / total, 4),
                 "share_of_index": round(writes / per_index[index], 4)}
                for (index, key), writes in self.counts.most_common(n)]

    def hottest_per_index(self) -> dict[str, dict[str, Any]]:
        """The hottest key of the table and of each index, with its share of that one's
        writes (a GSI partition throttles on its own)."""
        per_index = self.by_index()
        found: dict[str, dict[str, Any]] = {}
        for (index, key), writes in self.counts.most_common():
            if index not in found:
                found[index] = {"key": key, "shape": key_shape(key), "writes": writes,
                                "share_of_index": round(writes / per_index[index], 4)}
        return dict(sorted(found.items()))


def _value(attrs: Any, name: str) -> str | None:
    """``name``'s string value from moto's item attributes or a wire-form item."""
    if attrs is None:
        return None
    raw = attrs.get(name)
    if raw is None:
        return None
    if isinstance(raw, dict):  # wire form {"S": "..."}
        inner = next(iter(raw.values()), None)
        return None if inner is None else str(inner)
    value = getattr(raw, "value", raw)  # moto's DynamoType
    return None if value is None else str(value)


def _index_keys(table: Any) -> list[tuple[str, str]]:
    """(index name, hash key attribute) of each global secondary index."""
    found = []
    for index in getattr(table, "global_indexes", []):
        hash_attr = next(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH")
        found.append((index.name, hash_attr))
    return found


@contextlib.contextmanager
def counting_writes(table_name: str) -> Iterator[WriteCounts]:
    """Count every committed item write to ``table_name`` in this process's moto."""
    from moto.dynamodb.models import DynamoDBBackend

    counts = WriteCounts(table_name)
    local = threading.local()
    originals = {name: getattr(DynamoDBBackend, name)
                 for name in ("put_item", "update_item", "delete_item", "transact_write_items")}

    def record(backend: Any, name: str, key_attrs: dict[str, Any], before: Any,
               after: Any) -> None:
        table = backend.get_table(name)
        writes = [(TABLE, _value(key_attrs, table.hash_key_attr) or "?")]
        for index, attr in _index_keys(table):
            # The old entry goes and the new one comes: one write per distinct partition.
            for value in dict.fromkeys(v for v in (_value(before, attr), _value(after, attr))
                                       if v is not None):
                writes.append((index, value))
        pending = getattr(local, "pending", None)
        if pending is not None:
            pending.append(writes)
        else:
            counts.add(writes)

    def key_of(backend: Any, name: str, attrs: dict[str, Any]) -> dict[str, Any]:
        table = backend.get_table(name)
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        return {n: attrs[n] for n in names if n in attrs}

    def current(backend: Any, name: str, key: dict[str, Any]) -> dict[str, str | None]:
        """The index key values the item has now (copied: updates change items in place)."""
        try:
            item = backend.get_item(name, key)
        except Exception:  # not our table, or a key moto rejects: the write will say so
            return {}
        attrs = None if item is None else item.attrs
        table = backend.get_table(name)
        return {attr: _value(attrs, attr) for _, attr in _index_keys(table)}

    def as_attrs(values: dict[str, str | None]) -> dict[str, Any]:
        return {k: {"S": v} for k, v in values.items() if v is not None}

    def put_item(self: Any, table_name: str, item_attrs: dict[str, Any], *args: Any,
                 **kwargs: Any) -> Any:
        if table_name != counts.table_name:
            return originals["put_item"](self, table_name, item_attrs, *args, **kwargs)
        key = key_of(self, table_name, item_attrs)
        before = current(self, table_name, key)
        result = originals["put_item"](self, table_name, item_attrs, *args, **kwargs)
        record(self, table_name, key, as_attrs(before), item_attrs)
        return result

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any,
                    **kwargs: Any) -> Any:
        if table_name != counts.table_name:
            return originals["update_item"](self, table_name, key, *args, **kwargs)
        before = current(self, table_name, key)
        result = originals["update_item"](self, table_name, key, *args, **kwargs)
        record(self, table_name, key, as_attrs(before), as_attrs(current(self, table_name, key)))
        return result

    def delete_item(self: Any, table_name: str, key: dict[str, Any], *args: Any,
                    **kwargs: Any) -> Any:
        if table_name != counts.table_name:
            return originals["delete_item"](self, table_name, key, *args, **kwargs)
        before = current(self, table_name, key)
        result = originals["delete_item"](self, table_name, key, *args, **kwargs)
        record(self, table_name, key, as_attrs(before), None)
        return result

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        local.pending = []
        try:
            result = originals["transact_write_items"](self, transact_items)
        except BaseException:
            local.pending = None  # cancelled: nothing was written
            raise
        pending, local.pending = local.pending, None
        for writes in pending:
            counts.add(writes)
        return result

    DynamoDBBackend.put_item = put_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    DynamoDBBackend.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)


class SesStandIn:
    """The mailer as in AWS, where emails go to SES and never to our table: the local
    stack's outbox partition (``OUTBOX``, one key for every email) does not exist there."""

    def __init__(self) -> None:
        """Nothing sent yet."""
        self.sent = 0

    def send(self, to: str, subject: str, body: str) -> None:
        """Count the email; write nothing."""
        self.sent += 1


@dataclass
class HotKeys:
    """The step's outcome for the table, ``results.json`` and the target."""

    agencies: int
    days: int
    seed: int
    status: str = "ok"
    counts: WriteCounts | None = None
    workload: dict[str, Any] = field(default_factory=dict)
    emails: int = 0
    seconds: float = 0.0

    @property
    def measured(self) -> bool:
        """Whether there are numbers."""
        return self.status == "ok" and self.counts is not None and self.counts.total > 0

    def as_json(self) -> dict[str, Any]:
        """The ``hot_keys`` section of ``results.json``."""
        if not self.measured or self.counts is None:
            return {"agencies": self.agencies, "days": self.days, "seed": self.seed,
                    "status": self.status, "writes": 0, "hottest_key": None,
                    "hottest_share": None}
        top = self.counts.top()
        return {"agencies": self.agencies, "days": self.days, "seed": self.seed,
                "status": self.status, "writes": self.counts.total,
                "items_written": self.counts.items_written,
                "writes_by_index": self.counts.by_index(),
                "hottest_key": top[0]["key"], "hottest_index": top[0]["index"],
                "hottest_shape": top[0]["shape"], "hottest_share": top[0]["share"],
                "top": top, "hottest_per_index": self.counts.hottest_per_index(),
                "emails_not_written": self.emails, "workload": self.workload,
                "seconds": round(self.seconds, 1)}


def measure(app: Any, stripe_base: str | None, platform_key: str, *, agencies: int, days: int,
            seed: int, start: date | None = None) -> HotKeys:
    """Run the mixed workload on a fresh table with every write counted."""
    from chalice.test import Client

    from bench.env import reset_table
    from bench.ops import project_dir
    from bench.workload import WorkloadFailed, run_workload
    from chalicelib import bootstrap
    from devstack.moto_dynamodb import apply as isolate_requests

    outcome = HotKeys(agencies, days, seed)
    if stripe_base is None:
        outcome.status = "n/a (needs the Stripe emulator)"
        return outcome
    first = start or (datetime.now(UTC).date() - timedelta(days=days + 1))
    # Webhooks reach the app while its requests run: the emulator must isolate concurrent
    # requests as DynamoDB does, as it does for the tests and the local stack (bare moto
    # answers 500 when two of them change one item). Before counting, so counts wrap it.
    isolate_requests()
    reset_table()
    mailer = SesStandIn()
    started = time.perf_counter()
    with Client(app, stage_name="test", project_dir=project_dir()) as client, \
            bootstrap.override(mailer=mailer), \
            counting_writes(os.environ["TABLE_NAME"]) as counts:
        try:
            result = run_workload(client, stripe_base, platform_key, agencies=agencies,
                                  days=days, seed=seed, start=first,
                                  log=lambda line: print(f"  {line}", file=sys.stderr))
        except WorkloadFailed as exc:
            outcome.status = f"n/a (workload failed: {exc})"
            return outcome
    outcome.seconds = time.perf_counter() - started
    outcome.counts, outcome.emails = counts, mailer.sent
    outcome.workload = result.summary()
    return outcome


def render(outcome: HotKeys) -> list[str]:
    """The printed section."""
    head = (f"HOT KEYS (mixed workload: {outcome.agencies} agencies × {outcome.days} days, "
            f"seed {outcome.seed})")
    if not outcome.measured or outcome.counts is None:
        return [head, f"  {outcome.status}"]
    counts = outcome.counts
    lines = [head,
             f"  {counts.total} partition writes ({counts.items_written} items written; by "
             + ", ".join(f"{k} {v}" for k, v in counts.by_index().items()) + f"), "
             f"{outcome.workload.get('requests', 0)} requests, {outcome.seconds:.0f}s",
             f"  {'share':>6} {'of index':>8} {'writes':>7}  {'index':<6} key"]
    for row in counts.top():
        lines.append(f"  {row['share']:>6.2%} {row['share_of_index']:>8.2%} {row['writes']:>7}"
                     f"  {row['index']:<6} {row['key']}  ({row['shape']})")
    lines.append("  hottest per table/index: " + "; ".join(
        f"{index} {row['shape']} {row['share_of_index']:.1%} of its writes"
        for index, row in counts.hottest_per_index().items()))
    if outcome.workload.get("unexpected"):
        lines.append(f"  unexpected answers: {outcome.workload['unexpected'][:3]}")
    return lines

"""Put the emulated table back to a saved state between repetitions.

moto's ``TransactWriteItems`` deep-copies the whole table once per item of the transaction
(its rollback copy), and its GSI queries walk every item, so on a table that grows with each
repetition moto's own cost would grow and drown the app's. Every repetition therefore starts
from the same post-setup table. The server runs in this process (``ThreadedMotoServer``), so
the saved copy is taken from its backend directly; this is setup, outside the timed window.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any


def _backend_holding(table_name: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    for account_id in list(dynamodb_backends.keys()):
        backend = dynamodb_backends[account_id][region]
        if table_name in backend.tables:
            return backend
    raise LookupError(f"table {table_name!r} is not in this process's moto backend")


def table_item_count(table_name: str) -> int:
    """Items in the emulated table (base table, not indexes)."""
    table = _backend_holding(table_name).tables[table_name]
    return sum(len(v) if isinstance(v, dict) else 1 for v in table.items.values())


def saved_table(table_name: str) -> Callable[[], None]:
    """Save the table now; the returned function restores that state (cheap when small)."""
    backend = _backend_holding(table_name)
    saved = copy.deepcopy(backend.tables[table_name])

    def restore() -> None:
        backend.tables[table_name] = copy.deepcopy(saved)

    return restore


_patched = False


def cheaper_transaction_rollback() -> None:
    """Make moto's rollback copy of ``TransactWriteItems`` cost O(items touched), not O(table).

    moto deep-copies the whole table once per transaction item, before applying anything, so
    that it can put the table back if a condition fails. The copy made here is equivalent for
    that purpose: the partitions the transaction touches are deep-copied, every other
    partition is shared (the transaction cannot change it). Semantics are unchanged; only the
    emulator's own cost goes. Idempotent; affects this process's moto only.
    """
    global _patched
    if _patched:
        return
    import threading
    from collections import defaultdict

    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    local = threading.local()

    def rollback_copy(table: Table, touched: set[tuple[Any, Any]]) -> Table:
        clone = copy.copy(table)
        clone.items = defaultdict(dict)
        hashes = {hash_value for hash_value, _ in touched}
        # A snapshot of the partitions: another server thread may add one meanwhile.
        for hash_value, partition in list(table.items.items()):
            if hash_value not in hashes:
                clone.items[hash_value] = partition  # untouched: shared, never changed
            elif isinstance(partition, dict):
                own = dict(partition)  # puts and deletes replace entries of the live dict
                for touched_hash, range_value in touched:
                    if touched_hash == hash_value and range_value in own:
                        own[range_value] = copy.deepcopy(own[range_value])  # updates mutate
                clone.items[hash_value] = own
            else:
                clone.items[hash_value] = copy.deepcopy(partition)
        return clone

    class CopyModule:
        """Stands in for ``copy`` inside ``moto.dynamodb.models``."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            touched = getattr(local, "touched", None)
            if touched is None or not isinstance(value, Table):
                return copy.deepcopy(value, memo)
            # moto asks once per transaction item, before applying any: one copy is enough.
            copies = local.copies
            if value.name not in copies:
                copies[value.name] = rollback_copy(value, touched.get(value.name, set()))
            return copies[value.name]

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        touched: dict[str, set[tuple[Any, Any]]] = {}
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            attrs = (op.get("Key") or op.get("Item") or {}) if table is not None else {}
            if table is None or table.hash_key_attr not in attrs:
                continue
            range_attr = table.range_key_attr
            range_value = (DynamoType(attrs[range_attr])
                           if range_attr and range_attr in attrs else None)
            touched.setdefault(table.name, set()).add(
                (DynamoType(attrs[table.hash_key_attr]), range_value))
        local.touched, local.copies = touched, {}
        try:
            return original(self, transact_items)
        finally:
            local.touched, local.copies = None, {}

    models.copy = CopyModule()  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _patched = True

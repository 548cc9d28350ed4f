"""Two fixes to moto's DynamoDB emulator, applied where we start it (tests, ``make run``).

1. moto's ``TransactWriteItems`` deep-copies every table before each transaction (to roll
   back on failure): O(table size) per write, so long test runs slow down quadratically.
   Ours evaluates every condition first, then applies the writes, journaling only the items
   it touches: the same all-or-nothing semantics at O(items in the transaction).
2. moto's server handles requests on threads without a lock, so a transaction can observe
   (or deep-copy) a table that another request is mutating. Real DynamoDB isolates
   transactions; we serialise requests to the emulator, which is what isolation needs.
3. moto's response serializer walks botocore's shape of every attribute of every item (about
   5 ms an item on a loaded 2-core machine), so reading a 10,000-resource partition took
   minutes. Item maps whose values are plain attribute values (no binary) are already in
   DynamoDB's wire form; ours writes them as they are, byte-for-byte what the slow path
   writes. Anything else (binary values) still takes moto's path.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_LOCK = threading.RLock()
_applied = False
_PLAIN_TYPES = frozenset({"S", "N", "BOOL", "NULL", "SS", "NS"})


def _plain(value: Any) -> bool:
    """A wire-form attribute value with nothing the serializer would re-encode."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((tag, inner),) = value.items()
    if tag in _PLAIN_TYPES:
        return True
    if tag == "M":
        return isinstance(inner, dict) and all(_plain(v) for v in inner.values())
    if tag == "L":
        return isinstance(inner, list) and all(_plain(v) for v in inner)
    return False


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models.dynamo_type import DynamoType

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _LOCK:
        seen: set[tuple[str, str]] = set()
        errors: list[tuple[Any, Any, Any]] = []
        planned: list[tuple[str, dict[str, Any], str, dict[str, Any], Any]] = []
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            table_name = op["TableName"]
            table = self.get_table(table_name)
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            current = self.get_item(table_name, key)
            condition = op.get("ConditionExpression")
            try:
                if condition is not None and not get_filter_expression(
                    condition, op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues"),
                ).expr(current):
                    old = None
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        old = current.to_json()["Attributes"]
                    errors.append(("ConditionalCheckFailed", "The conditional request failed",
                                   old))
                    continue
            except Exception as exc:
                errors.append((type(exc).__name__, str(exc), None))
                continue
            errors.append((None, None, None))
            planned.append((op_type, op, table_name, key, current))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        journal = [(name, key, copy.deepcopy(current)) for _, _, name, key, current in planned]
        try:
            for op_type, op, table_name, key, _ in planned:
                names, values = op.get("ExpressionAttributeNames"), op.get(
                    "ExpressionAttributeValues")
                if op_type == "Put":
                    self.put_item(table_name, op["Item"], expression_attribute_names=names,
                                  expression_attribute_values=values)
                elif op_type == "Delete":
                    self.delete_item(table_name, key)
                elif op_type == "Update":
                    self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                     expression_attribute_names=names,
                                     expression_attribute_values=values)
        except Exception:
            for table_name, key, original in journal:
                table = self.get_table(table_name)
                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = (DynamoType(key[table.range_key_attr])
                             if table.range_key_attr is not None else None)
                if original is None:
                    table.delete_item(hash_key, range_key)
                elif range_key is not None:
                    table.items[hash_key][range_key] = original
                else:
                    table.items[hash_key] = original
            raise


def apply() -> None:
    """Patch moto (idempotent). Call before starting the moto server in this process."""
    global _applied
    if _applied:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    from moto.core.serialize import BaseJSONSerializer

    slow_map = BaseJSONSerializer._serialize_type_map

    def item_map_as_is(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (getattr(shape.value, "name", None) == "AttributeValue" and isinstance(value, dict)
                and all(_plain(v) for v in value.values())):
            self._default_serialize(serialized, dict(value), shape, key)
            return
        slow_map(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_map = item_map_as_is  # type: ignore[method-assign]
    original_call = DomainDispatcherApplication.__call__

    def serialised_call(self: Any, environ: Any, start_response: Any) -> Any:
        with _LOCK:
            # Materialise the body inside the lock: the response iterable is lazy.
            return list(original_call(self, environ, start_response))

    DomainDispatcherApplication.__call__ = serialised_call  # type: ignore[method-assign]
    _applied = True

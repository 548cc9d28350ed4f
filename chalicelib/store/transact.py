"""One DynamoDB ``TransactWriteItems`` per business operation, with storage errors translated.

Services describe their writes as ``Op`` values; ``commit`` runs them in one transaction,
maps a failed condition to the domain error its ``Op`` names, and retries transaction
conflicts (two writers on one item) with jittered back-off a bounded number of times.
Botocore and PynamoDB exceptions never leave this module.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import Conflict, DomainError
from chalicelib.store.base import StorageUnavailable, TableItem, connection

__all__ = ["MAX_ATTEMPTS", "Op", "StorageUnavailable", "check", "commit", "delete", "save",
           "update"]

MAX_ATTEMPTS = 5
_REQUEST_ORDER = ("check", "delete", "save", "update")


@dataclass
class Op:
    """One item of a transaction.

    ``kind`` is ``save`` (put ``item``), ``update`` (``actions`` on ``item``'s key),
    ``delete`` or ``check`` (condition only, on ``item``'s key). ``on_condition_failed`` is
    the domain error raised when this op's condition is the reason the transaction failed.
    """

    kind: str
    item: TableItem
    condition: Condition | None = None
    actions: Sequence[Any] = field(default_factory=tuple)
    on_condition_failed: DomainError | None = None


def save(item: TableItem, condition: Condition | None = None,
         error: DomainError | None = None) -> Op:
    """Put a whole item."""
    return Op("save", item, condition, (), error)


def update(item: TableItem, actions: Sequence[Any], condition: Condition | None = None,
           error: DomainError | None = None) -> Op:
    """Apply update actions to the item with ``item``'s key."""
    return Op("update", item, condition, tuple(actions), error)


def delete(item: TableItem, condition: Condition | None = None,
           error: DomainError | None = None) -> Op:
    """Delete the item with ``item``'s key."""
    return Op("delete", item, condition, (), error)


def check(item: TableItem, condition: Condition, error: DomainError) -> Op:
    """Guard an invariant on another item without writing it."""
    return Op("check", item, condition, (), error)


class ConditionFailed(Exception):
    """Internal: which op failed (index) when no domain error was attached."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _apply(transaction: TransactWrite, op: Op) -> None:
    if op.kind == "save":
        transaction.save(op.item, condition=op.condition)
    elif op.kind == "update":
        transaction.update(op.item, actions=list(op.actions), condition=op.condition)
    elif op.kind == "delete":
        transaction.delete(op.item, condition=op.condition)
    elif op.kind == "check":
        model_cls = type(op.item)
        transaction.condition_check(model_cls, op.item.PK, op.item.SK, condition=op.condition)
    else:  # pragma: no cover - programming error
        raise ValueError(op.kind)


def commit(ops: Sequence[Op], *, sleep: Callable[[float], None] = time.sleep) -> None:
    """Write ``ops`` in one ``TransactWriteItems``; all or nothing.

    Raises the ``on_condition_failed`` error of the first op whose condition failed, a
    ``Conflict`` after ``MAX_ATTEMPTS`` transaction conflicts, ``StorageUnavailable`` on any
    other storage failure.
    """
    if not ops:
        return
    if len(ops) > 100:
        raise ValueError("a DynamoDB transaction holds at most 100 items")
    # PynamoDB sends checks, deletes, puts, then updates; order ours the same way so that
    # DynamoDB's cancellation reasons (one per item, in request order) map back to our ops.
    ops = [op for kind in _REQUEST_ORDER for op in ops if op.kind == kind]
    for attempt in range(MAX_ATTEMPTS):
        try:
            with TransactWrite(connection=connection()) as transaction:
                for op in ops:
                    _apply(transaction, op)
            return
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons or []
            codes = [reason.code if reason else None for reason in reasons]
            for index, reason_code in enumerate(codes):
                if reason_code == "ConditionalCheckFailed":
                    error = ops[index].on_condition_failed
                    if error is None:
                        raise ConditionFailed(index) from None
                    raise error from None
            retryable = "TransactionConflict" in codes or exc.cause_response_code in (
                "TransactionConflictException",
                "TransactionInProgressException",
            )
            if not retryable:
                raise StorageUnavailable("the database refused the transaction") from exc
            if attempt < MAX_ATTEMPTS - 1:
                sleep(random.uniform(0, 0.02 * (2**attempt)))
        except PynamoDBException as exc:
            raise StorageUnavailable("the database is unavailable") from exc
    raise Conflict("a concurrent update won; try again", code="concurrent_update")

"""One DynamoDB ``TransactWriteItems`` per business operation: idempotent, retried, translated.

Services describe their writes as ``Op`` values; ``commit`` sends them as one transaction,
maps a failed condition to the domain error its ``Op`` names, and retries what DynamoDB may
answer on a bad day. Botocore and PynamoDB exceptions never leave this module.

Idempotency: the request is built once and carries a ``ClientRequestToken`` derived from the
operation's id (the ledger transaction id when there is one) and the request itself; every
attempt sends the same bytes with the same token, so DynamoDB answers a retry after a lost
answer as the same transaction instead of applying it twice or cancelling it on the
transaction record's own ``attribute_not_exists``.

Retry policy: at most ``MAX_ATTEMPTS`` sends. Retried: transaction conflicts (another
transaction held an item), throttling, DynamoDB server errors, and timeouts or dropped
connections (the write may have committed; the same token makes the retry safe). Before
attempt n (n ≥ 1) the commit sleeps a uniformly random time in
[0, min(``BACKOFF_CAP_SECONDS``, ``BACKOFF_BASE_SECONDS`` × 2^n)] ("full jitter": at most
50, 100, 200 and 400 ms, 750 ms in all). When the attempts run out the caller gets
``Conflict`` (409 ``concurrent_update``) if the last attempt met a conflict, else
``StorageUnavailable`` (503 ``temporarily_unavailable`` with ``Retry-After``). Never retried:
a failed condition (its domain error at once), and ``IdempotentParameterMismatch`` (a bug,
raised as ``TransactionTokenMismatch`` and logged).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition

from chalicelib.domain.errors import Conflict, DomainError
from chalicelib.store.base import StorageUnavailable, TableItem, connection

__all__ = ["MAX_ATTEMPTS", "ConditionsFailed", "Op", "StorageUnavailable",
           "TransactionTokenMismatch", "check", "commit", "delete", "save", "update"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 0.025
BACKOFF_CAP_SECONDS = 0.4
_REQUEST_ORDER = ("check", "delete", "save", "update")
_CONFLICT_CODES = ("TransactionConflictException", "TransactionInProgressException")


class TransactionTokenMismatch(Exception):
    """DynamoDB saw this ``ClientRequestToken`` with another request within its window.

    Tokens are derived from the operation id and the request, so this is a bug, not a race:
    not a domain error (the API answers 500), never retried, never taken for a conflict.
    """


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


class ConditionsFailed(Exception):
    """``commit(..., every_refusal=True)``: every op whose condition failed (the ops given),
    so that a batch can answer those and write the rest again."""

    def __init__(self, ops: Sequence[Op]) -> None:
        super().__init__(f"{len(ops)} condition(s) failed")
        self.ops = list(ops)


def _request_items(ops: Sequence[Op]) -> dict[str, list[dict[str, Any]]]:
    """The transaction's items in PynamoDB's wire shape, by kind (what ``TransactWrite``
    would send), built once so that every attempt sends the same request."""
    items: dict[str, list[dict[str, Any]]] = {kind: [] for kind in _REQUEST_ORDER}
    for op in ops:
        if op.kind == "save":
            items["save"].append(op.item.get_save_kwargs_from_instance(condition=op.condition))
        elif op.kind == "update":
            items["update"].append(op.item.get_update_kwargs_from_instance(
                actions=list(op.actions), condition=op.condition))
        elif op.kind == "delete":
            items["delete"].append(op.item.get_delete_kwargs_from_instance(
                condition=op.condition))
        elif op.kind == "check":
            items["check"].append(type(op.item).get_operation_kwargs_from_class(
                op.item.PK, op.item.SK, condition=op.condition))
        else:  # pragma: no cover - programming error
            raise ValueError(op.kind)
    return items


def request_token(operation_id: str, items: dict[str, list[dict[str, Any]]]) -> str:
    """A ``ClientRequestToken`` (at most 36 characters) for this operation and request.

    The request is part of it: another attempt at the same operation id with other content
    (a new timestamp, a replayed call) is another request, refused by the transaction
    record's condition as a duplicate rather than by DynamoDB as a token mismatch.
    """
    digest = hashlib.sha256(operation_id.encode() + b"\n" + json.dumps(
        items, sort_keys=True, default=str).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16]))


def _backoff(attempt: int) -> float:
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))


def commit(ops: Sequence[Op], *, operation_id: str | None = None,
           sleep: Callable[[float], None] = time.sleep, every_refusal: bool = False) -> None:
    """Write ``ops`` in one ``TransactWriteItems``; all or nothing, applied at most once.

    ``operation_id`` names the operation (e.g. ``<agency>/<ledger transaction id>``); without
    one the token is unique to this call. Raises the ``on_condition_failed`` error of the
    first op whose condition failed, ``TransactionTokenMismatch`` on a reused token, and when
    the retries (module docstring) run out ``Conflict`` or ``StorageUnavailable``. With
    ``every_refusal`` a failed condition raises ``ConditionsFailed`` naming every failed op.
    """
    if not ops:
        return
    if len(ops) > 100:
        raise ValueError("a DynamoDB transaction holds at most 100 items")
    # PynamoDB sends checks, deletes, puts, then updates; order ours the same way so that
    # DynamoDB's cancellation reasons (one per item, in request order) map back to our ops.
    ops = [op for kind in _REQUEST_ORDER for op in ops if op.kind == kind]
    items = _request_items(ops)
    token = request_token(operation_id or uuid.uuid4().hex, items)
    last: DomainError = StorageUnavailable()
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            sleep(_backoff(attempt))
        try:
            connection().transact_write_items(
                condition_check_items=items["check"], delete_items=items["delete"],
                put_items=items["save"], update_items=items["update"],
                client_request_token=token)
            return
        except StorageUnavailable as exc:  # throttled, failed, or the answer was lost
            last = exc
        except TransactWriteError as exc:
            last = _refusal(exc, ops, token, every_refusal)
        except PynamoDBException as exc:
            raise StorageUnavailable("the database is unavailable") from exc
    raise last


def _refusal(exc: TransactWriteError, ops: Sequence[Op], token: str,
             every_refusal: bool = False) -> DomainError:
    """The retryable error of a refused transaction; raises the ones not worth a retry."""
    if exc.cause_response_code == "IdempotentParameterMismatchException":
        log.error("ClientRequestToken %s was used before with another request", token)
        raise TransactionTokenMismatch(token) from exc
    reasons = exc.cancellation_reasons or []
    codes = [reason.code if reason else None for reason in reasons]
    failed = [op for op, code in zip(ops, codes, strict=False) if code == "ConditionalCheckFailed"]
    if every_refusal and failed:
        raise ConditionsFailed(failed) from None
    for index, reason_code in enumerate(codes):
        if reason_code == "ConditionalCheckFailed":
            error = ops[index].on_condition_failed
            if error is None:
                raise ConditionFailed(index) from None
            raise error from None
    if "TransactionConflict" in codes or exc.cause_response_code in _CONFLICT_CODES:
        return Conflict("a concurrent update won; try again", code="concurrent_update")
    raise StorageUnavailable("the database refused the transaction") from exc

"""Fixes to moto's DynamoDB emulator, applied where we start it (tests, ``make run``).

1. moto's ``TransactWriteItems`` deep-copies every table before each transaction (to roll
   back on failure): O(table size) per write, so long test runs slow down quadratically.
   Ours evaluates every condition first, then applies the writes, journaling only the items
   it touches: the same all-or-nothing semantics at O(items in the transaction).
2. moto's server handles requests on threads without a lock, so a transaction can observe
   (or deep-copy) a table that another request is mutating. Every request but a transaction
   runs under one lock. A transaction first claims its items (under the lock): an item
   another transaction holds cancels it with a ``TransactionConflict`` reason, as DynamoDB
   does, and a plain write of a held item answers ``TransactionConflictException``. It then
   evaluates its conditions and applies its writes under the lock, so no request ever sees
   half of it, and releases its claims. Transactions on other items never wait for each
   other beyond that short lock; ``FaultSettings.transaction_hold_seconds`` keeps them in
   progress longer, to make conflicts observable.
3. ``ClientRequestToken`` on ``TransactWriteItems``, which moto ignores, is honoured as
   DynamoDB documents it: the same token and request within 10 minutes of the first
   completed use succeed again without applying anything; the same token with another
   request is ``IdempotentParameterMismatchException``; a token whose request is still
   running is ``TransactionInProgressException``. Only a transaction that was applied spends
   its token: a cancelled or failed one applied nothing, so its request may be sent again.
4. Fault injection (``FAULTS``): the emulator can fail the way DynamoDB does on its bad days
   (throttling, transaction conflicts, internal errors, answers lost after the write
   committed), at configurable rates drawn from a seeded generator. Off unless switched on:
   in-process with ``FAULTS.set(...)`` (tests), over HTTP on ``CONTROL_PATH`` (a moto
   server started by ``make run``), or from start-up with ``FAULTS_ENV`` holding the same
   JSON object.
5. moto's response serializer walks botocore's shape of every attribute of every item (about
   5 ms an item on a loaded 2-core machine), so reading a 10,000-resource partition took
   minutes. Item maps whose values are plain attribute values (no binary) are already in
   DynamoDB's wire form; ours writes them as they are, byte-for-byte what the slow path
   writes. Anything else (binary values) still takes moto's path.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import hashlib
import io
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
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

#: ``POST`` a JSON object of ``FaultSettings`` fields here to switch faults on, ``DELETE`` to
#: switch them off, ``GET`` to read the settings and what was injected so far.
CONTROL_PATH = "/_devstack/dynamodb/faults"
#: Environment variable read by ``apply``: the initial settings, as that JSON object.
FAULTS_ENV = "DEVSTACK_DYNAMODB_FAULTS"

READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                              "TransactWriteItems"})
DATA_OPERATIONS = READ_OPERATIONS | WRITE_OPERATIONS
#: Item writes that DynamoDB refuses with ``TransactionConflictException`` while a
#: transaction holds the item.
PLAIN_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})

_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_THROTTLES = (
    (_ERROR_PREFIX + "ProvisionedThroughputExceededException",
     "The level of configured provisioned throughput for the table was exceeded. Consider "
     "increasing your provisioning level with the UpdateTable API."),
    ("com.amazon.coral.availability#ThrottlingException",
     "Throughput exceeds the current capacity of your table or index. DynamoDB is "
     "automatically scaling your table or index so please try again shortly."),
)


@dataclass(frozen=True)
class FaultSettings:
    """Rates (0–1, summing to at most 1) of each fault per eligible request, and their scope.

    - ``throttle``: any data operation answers ``ProvisionedThroughputExceededException`` or
      ``ThrottlingException`` (400), nothing applied;
    - ``conflict``: a transaction is cancelled with a ``TransactionConflict`` reason, a plain
      item write answers ``TransactionConflictException`` (400), nothing applied;
    - ``internal_error``: ``InternalServerError`` (500), nothing applied;
    - ``lost_response``: a write in ``lost_response_operations`` is applied, then the
      connection is dropped before the answer (the caller sees a connection error).

    ``operations`` limits every fault to those operations; ``limit`` stops after that many
    faults; ``seed`` makes the sequence of draws repeatable. ``transaction_hold_seconds``
    is not a fault: every transaction stays in progress (its items claimed) that long after
    claiming them, or until the settings change, so that tests can meet it;
    ``transaction_hold_count`` holds only that many (the first ones).
    """

    throttle: float = 0.0
    conflict: float = 0.0
    internal_error: float = 0.0
    lost_response: float = 0.0
    seed: int = 0
    operations: frozenset[str] = DATA_OPERATIONS
    lost_response_operations: frozenset[str] = frozenset({"TransactWriteItems"})
    limit: int | None = None
    transaction_hold_seconds: float = 0.0
    transaction_hold_count: int | None = None


@dataclass
class FaultSwitch:
    """The emulator's fault switch: what to inject, the seeded draws, what was injected."""

    settings: FaultSettings = field(default_factory=FaultSettings)
    injected: collections.Counter[str] = field(default_factory=collections.Counter)
    #: what happened for real (not injected), e.g. ``transaction_conflict``
    observed: collections.Counter[str] = field(default_factory=collections.Counter)
    _random: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    _held: int = 0
    _paused: int = 0

    def set(self, **values: Any) -> None:
        """Replace the settings (unnamed fields take their defaults) and restart the draws."""
        for name in ("operations", "lost_response_operations"):
            if name in values and values[name] is not None:
                values[name] = frozenset(values[name])
        settings = FaultSettings(**values)
        rates = (settings.throttle, settings.conflict, settings.internal_error,
                 settings.lost_response)
        if any(not 0 <= rate <= 1 for rate in rates) or sum(rates) > 1:
            raise ValueError("fault rates are between 0 and 1 and sum to at most 1")
        with self._lock:
            self.settings = settings
            self._random = random.Random(settings.seed)
            self.injected.clear()
            self.observed.clear()
            self._held = 0
            released, self._release = self._release, threading.Event()
        released.set()  # transactions held under the old settings go on

    def off(self) -> None:
        """No more faults."""
        self.set()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No faults inside (a test's own checks), then the same settings and draws again."""
        with self._lock:
            self._paused += 1
        try:
            yield
        finally:
            with self._lock:
                self._paused -= 1

    def draw(self, operation: str) -> str | None:
        """The fault to inject into one request of ``operation``, or None."""
        with self._lock:
            settings = self.settings
            if self._paused or operation not in settings.operations or (
                    settings.limit is not None and sum(self.injected.values()) >= settings.limit):
                return None
            if not (settings.throttle or settings.conflict or settings.internal_error
                    or settings.lost_response):
                return None
            roll = self._random.random()
            for kind, rate, eligible in (
                ("throttle", settings.throttle, True),
                ("conflict", settings.conflict,
                 operation == "TransactWriteItems" or operation in PLAIN_WRITES),
                ("internal_error", settings.internal_error, True),
                ("lost_response", settings.lost_response,
                 operation in settings.lost_response_operations),
            ):
                if roll < rate:
                    if not eligible:
                        return None
                    self.injected[kind] += 1
                    return kind
                roll -= rate
            return None

    def pick(self, choices: int) -> int:
        """A seeded choice among ``choices`` (which throttle error, which item conflicts)."""
        with self._lock:
            return self._random.randrange(choices)

    def hold(self) -> None:
        """Keep the calling transaction in progress as the settings say."""
        with self._lock:
            seconds, release = self.settings.transaction_hold_seconds, self._release
            count = self.settings.transaction_hold_count
            if seconds <= 0 or (count is not None and self._held >= count):
                return
            self._held += 1
        release.wait(seconds)

    def observe(self, what: str) -> None:
        """Count something that happened for real."""
        with self._lock:
            self.observed[what] += 1

    def describe(self) -> dict[str, Any]:
        """Settings and counts, JSON-ready."""
        values = {f.name: getattr(self.settings, f.name) for f in fields(self.settings)}
        for name in ("operations", "lost_response_operations"):
            values[name] = sorted(values[name])
        return {"settings": values, "injected": dict(self.injected),
                "observed": dict(self.observed)}


FAULTS = FaultSwitch()


# --- ClientRequestToken --------------------------------------------------------------------

TOKEN_WINDOW_SECONDS = 600
_clock = time.monotonic  # the token window's clock (tests move it)


@dataclass
class _TokenUse:
    digest: str  # the request the token was first used with
    completed_at: float | None = None  # None while that request runs


_tokens: dict[str, _TokenUse] = {}
_completions: collections.deque[tuple[float, str]] = collections.deque()  # oldest first
_tokens_lock = threading.Lock()


def _request_digest(body: dict[str, Any]) -> str:
    request = {name: value for name, value in body.items() if name != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def _dynamodb_error(name: str, message: str) -> Exception:
    from moto.dynamodb.exceptions import DynamodbException

    return DynamodbException(_ERROR_PREFIX + name, message)


def _begin_token_use(token: str, digest: str) -> bool:
    """Claim ``token`` for this request; False when it already completed (a replay)."""
    now = _clock()
    with _tokens_lock:
        while _completions and now - _completions[0][0] > TOKEN_WINDOW_SECONDS:
            completed_at, stale = _completions.popleft()
            if stale in _tokens and _tokens[stale].completed_at == completed_at:
                del _tokens[stale]
        use = _tokens.get(token)
        if use is None:
            _tokens[token] = _TokenUse(digest)
            return True
        if use.digest != digest:
            raise _dynamodb_error("IdempotentParameterMismatchException",
                                  "The request uses the same client token as a previous, but "
                                  "non-identical request.")
        if use.completed_at is None:
            raise _dynamodb_error("TransactionInProgressException",
                                  "The transaction with the given request token is already in "
                                  "progress.")
        return False


def _end_token_use(token: str, applied: bool) -> None:
    with _tokens_lock:
        if applied:
            _tokens[token].completed_at = completed_at = _clock()
            _completions.append((completed_at, token))
        else:
            _tokens.pop(token, None)  # nothing applied: the token is not spent


def _forget_tokens() -> None:
    with _tokens_lock:
        _tokens.clear()
        _completions.clear()


def _idempotent_transact_write_items(original: Any) -> Any:
    """Wrap moto's ``TransactWriteItems`` handler with DynamoDB's token semantics."""

    def handler(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        if not token:
            return original(self)
        if not _begin_token_use(token, _request_digest(self.body)):
            from moto.core.responses import ActionResult

            return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
        applied = False
        try:
            result = original(self)
            applied = True
            return result
        finally:
            _end_token_use(token, applied)

    return handler


# --- transactions: claims, conflicts, all-or-nothing writes ---------------------------------

#: Items held by a transaction in progress: (table, hash key, range key) as JSON text.
_claims: set[tuple[str, str, str]] = set()


def transactions_in_progress() -> int:
    """How many items transactions hold right now (tests wait for a held transaction)."""
    with _LOCK:
        return len(_claims)


def _item_marker(table_name: str, table: Any, attrs: dict[str, Any]) -> tuple[str, str, str]:
    """An item's identity from its key (or whole item) attributes."""
    range_value = attrs.get(table.range_key_attr) if table.range_key_attr is not None else None
    return (str(table_name), json.dumps(attrs[table.hash_key_attr], sort_keys=True),
            json.dumps(range_value, sort_keys=True))


def _transaction_conflict() -> Exception:
    return _dynamodb_error("TransactionConflictException", "Transaction is ongoing for the item")


def _refuse_held_items(original: Any) -> Any:
    """Wrap a backend plain write (put, update, delete): a held item is a conflict."""

    def write(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        attrs = args[0] if args else kwargs.get("item_attrs", kwargs.get("key"))
        if _claims and attrs is not None and _item_marker(
                table_name, self.get_table(table_name), attrs) in _claims:
            raise _transaction_conflict()
        return original(self, table_name, *args, **kwargs)

    return write


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    actions: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = []
    markers: list[tuple[str, str, str]] = []
    with _LOCK:
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            table_name = op["TableName"]
            table = self.get_table(table_name)
            attrs = op["Item"] if op_type == "Put" else op["Key"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
            marker = _item_marker(table_name, table, key)
            if marker in markers:
                raise MultipleTransactionsException()
            markers.append(marker)
            actions.append((op_type, op, table_name, key))
        held = [marker in _claims for marker in markers]
        if any(held):
            FAULTS.observe("transaction_conflict")
            raise TransactionCanceledException([
                ("TransactionConflict", "Transaction is ongoing for the item", None) if busy
                else (None, None, None) for busy in held])
        _claims.update(markers)
    try:
        FAULTS.hold()
        with _LOCK:
            # Released first: the writes below run under the lock, so they are atomic for
            # every other request, and our own writes must not meet our claims.
            _claims.difference_update(markers)
            _evaluate_and_apply(self, actions)
    finally:
        with _LOCK:
            _claims.difference_update(markers)


def _evaluate_and_apply(self: Any, actions: list[tuple[str, dict[str, Any], str,
                                                       dict[str, Any]]]) -> None:
    """Every condition first, then the writes; a failing write undoes the ones before it."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models.dynamo_type import DynamoType

    errors: list[tuple[Any, Any, Any]] = []
    planned: list[tuple[str, dict[str, Any], str, dict[str, Any], Any]] = []
    for op_type, op, table_name, key in actions:
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
                errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
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


# --- the HTTP layer: faults, the control endpoint -------------------------------------------


def _answer(start_response: Any, status: str, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.0"),
                            ("Content-Length", str(len(payload))),
                            ("x-amzn-RequestId", uuid.uuid4().hex)])
    return [payload]


def _request_json(environ: dict[str, Any]) -> dict[str, Any]:
    """The request body as JSON, left readable for moto afterwards."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _fault_answer(fault: str, operation: str, environ: dict[str, Any],
                  start_response: Any) -> list[bytes]:
    """DynamoDB's own answer for an injected fault that applies nothing."""
    if fault == "throttle":
        error_type, message = _THROTTLES[FAULTS.pick(len(_THROTTLES))]
        return _answer(start_response, "400 Bad Request",
                       {"__type": error_type, "message": message})
    if fault == "internal_error":
        return _answer(start_response, "500 Internal Server Error",
                       {"__type": _ERROR_PREFIX + "InternalServerError",
                        "message": "Internal server error"})
    if operation != "TransactWriteItems":
        return _answer(start_response, "400 Bad Request",
                       {"__type": _ERROR_PREFIX + "TransactionConflictException",
                        "message": "Transaction is ongoing for the item"})
    items = _request_json(environ).get("TransactItems") or [{}]
    busy = FAULTS.pick(len(items))
    reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
               if index == busy else {"Code": "None"} for index in range(len(items))]
    return _answer(start_response, "400 Bad Request", {
        "__type": _ERROR_PREFIX + "TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific "
                   f"reasons [{', '.join(reason['Code'] for reason in reasons)}]",
        "CancellationReasons": reasons,
    })


def _drop_connection(environ: dict[str, Any]) -> None:
    """Close the client's socket: the answer of a request already applied never arrives."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    # werkzeug treats a ConnectionError from the app as a dropped connection (no log line)
    raise ConnectionResetError("injected fault: the answer was lost")


def _control(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    method = environ.get("REQUEST_METHOD", "GET")
    if method == "POST":
        try:
            FAULTS.set(**_request_json(environ))
        except (TypeError, ValueError) as exc:
            return _answer(start_response, "400 Bad Request", {"error": str(exc)})
    elif method == "DELETE":
        FAULTS.off()
    return _answer(start_response, "200 OK", FAULTS.describe())


def _serve(original_call: Any, app: Any, environ: dict[str, Any],
           start_response: Any) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == CONTROL_PATH:
        return _control(environ, start_response)
    if environ.get("PATH_INFO") == "/moto-api/reset":
        _forget_tokens()
        with _LOCK:
            _claims.clear()
    operation = str(environ.get("HTTP_X_AMZ_TARGET", "")).rpartition(".")[2]
    fault = FAULTS.draw(operation) if operation else None
    if fault is not None and fault != "lost_response":
        return _fault_answer(fault, operation, environ, start_response)
    if operation == "TransactWriteItems":
        # Not under the lock: the transaction takes it for its claim and for its writes,
        # and holds its items in between (where another one meets a conflict).
        body = list(original_call(app, environ, start_response))
    else:
        with _LOCK:
            # Materialise the body inside the lock: the response iterable is lazy.
            body = list(original_call(app, environ, start_response))
    if fault == "lost_response":
        _drop_connection(environ)
    return body


def apply() -> None:
    """Patch moto (idempotent). Call before starting the moto server in this process."""
    global _applied
    if _applied:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, _refuse_held_items(getattr(DynamoDBBackend, name)))
    DynamoHandler.transact_write_items = _idempotent_transact_write_items(  # type: ignore[method-assign]
        DynamoHandler.transact_write_items)
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

    def patched_call(self: Any, environ: Any, start_response: Any) -> Any:
        return _serve(original_call, self, environ, start_response)

    DomainDispatcherApplication.__call__ = patched_call  # type: ignore[method-assign]
    if os.environ.get(FAULTS_ENV):
        FAULTS.set(**json.loads(os.environ[FAULTS_ENV]))
    _applied = True

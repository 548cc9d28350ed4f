"""The one base model of the single table, and the exact integer attribute.

Every entity subclasses ``TableItem`` with a discriminator value (``kind``); those values are
data stored in every item and are never renamed. The table has:

- ``PK`` / ``SK``: the primary key (shapes in ``chalicelib.store.keys``);
- ``GSI1`` (``GSI1PK`` / ``GSI1SK``): lookups by another identity (email, Stripe id, …);
- ``GSI2`` (``DUEPK`` / ``DUESK``): the sparse "due" index that the scheduled sweeps query,
  so a sweep reads only what is due instead of scanning every agency;
- ``expires_at``: the TTL attribute (epoch seconds).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.attributes import (
    Attribute,
    DiscriminatorAttribute,
    ListAttribute,
    UnicodeAttribute,
)
from pynamodb.connection import Connection, TableConnection
from pynamodb.constants import NUMBER, STRING
from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.domain.errors import TemporarilyUnavailable
from chalicelib.store import keys

log = logging.getLogger(__name__)

#: What a 503 tells the caller to wait before trying again.
STORAGE_RETRY_AFTER_SECONDS = 1


class StorageUnavailable(TemporarilyUnavailable):
    """DynamoDB throttled, failed or could not be reached after the retries (503, retryable).

    Raised at the store boundary for every call (``StoreConnection``), reads included, so no
    PynamoDB or botocore exception of that kind reaches a service or becomes a 500.
    """

    def __init__(self, message: str = "the database is temporarily unavailable", *,
                 code: str | None = None, details: Any = None) -> None:
        super().__init__(message, code=code, details=details if details is not None else {
            "retry_after_seconds": STORAGE_RETRY_AFTER_SECONDS})


#: Error codes of a request DynamoDB did not serve for a non-business reason: retrying later
#: may succeed. The SDK has already retried them by the time we see them.
UNAVAILABLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "LimitExceededException", "InternalServerError", "ServiceUnavailable",
})
#: A plain item write refused because a transaction holds the item: nothing was applied.
PLAIN_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
PLAIN_WRITE_CONFLICT_ATTEMPTS = 4


class StoreConnection(Connection):
    """PynamoDB's connection with storage failures translated at the one place calls leave.

    Throttling, server errors, timeouts and dropped connections become ``StorageUnavailable``
    (business errors such as a failed condition or a cancelled transaction pass unchanged).
    A plain write that meets an item held by a transaction (``TransactionConflictException``,
    nothing applied) is sent again a few times with jittered back-off first.
    """

    def _make_api_call(self, operation_name: str, operation_kwargs: dict) -> dict:
        for attempt in range(PLAIN_WRITE_CONFLICT_ATTEMPTS):
            try:
                return super()._make_api_call(operation_name, operation_kwargs)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in UNAVAILABLE_CODES:
                    log.warning("dynamodb %s unavailable: %s", operation_name, code)
                    raise StorageUnavailable() from exc
                if code != "TransactionConflictException" or operation_name not in PLAIN_WRITES:
                    raise
                if attempt == PLAIN_WRITE_CONFLICT_ATTEMPTS - 1:
                    log.warning("dynamodb %s: item kept in a transaction", operation_name)
                    raise StorageUnavailable() from exc
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
            except BotoCoreError as exc:
                log.warning("dynamodb %s not answered: %s", operation_name, type(exc).__name__)
                raise StorageUnavailable() from exc
        raise AssertionError("unreachable")  # pragma: no cover


class IntegerAttribute(Attribute[int]):
    """A DynamoDB number that holds only Python ints, and is typed ``int``.

    PynamoDB's ``NumberAttribute`` is typed ``float`` and would silently accept ``0.1``;
    money and seconds must be exact, so anything but an int (bools included) is refused on
    write, and a stored fractional value is refused on read.
    """

    attr_type = NUMBER

    def serialize(self, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{self.attr_name} must be an int, got {type(value).__name__}")
        return str(value)

    def deserialize(self, value: str) -> int:
        if not value.lstrip("-").isdigit():
            raise TypeError(f"{self.attr_name} holds a non-integer value")
        return int(value)


SORTABLE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def sortable_time(moment: datetime) -> str:
    """An aware datetime as fixed-width UTC text that sorts like time (keys, stored times)."""
    return moment.astimezone(UTC).strftime(SORTABLE_TIME_FORMAT)


class UTCDateTimeText(Attribute[datetime]):
    """An aware UTC datetime stored as sortable ISO-8601 text (``2026-11-25T19:08:50Z``),
    typed ``datetime``."""

    attr_type = STRING

    def serialize(self, value: Any) -> str:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise TypeError(f"{self.attr_name} must be an aware datetime")
        return sortable_time(value)

    def deserialize(self, value: str) -> datetime:
        return datetime.strptime(value, SORTABLE_TIME_FORMAT).replace(tzinfo=UTC)


class LookupIndex(GlobalSecondaryIndex["TableItem"]):
    """GSI1: find an item by another identity (e.g. ``EMAIL#…``, ``STRIPE#…``)."""

    class Meta:
        index_name = "GSI1"
        projection = AllProjection()

    GSI1PK = UnicodeAttribute(hash_key=True)
    GSI1SK = UnicodeAttribute(range_key=True)


class DueIndex(GlobalSecondaryIndex["TableItem"]):
    """GSI2, sparse: only items with a due date are in it (``DUE#<job>`` / ``<iso>#<id>``)."""

    class Meta:
        index_name = "GSI2"
        projection = AllProjection()

    DUEPK = UnicodeAttribute(hash_key=True)
    DUESK = UnicodeAttribute(range_key=True)


class TableItem(Model):
    """Base of every entity in the single table."""

    class Meta:
        # Set by ``configure`` (the composition root) before the first call.
        table_name = "unconfigured"
        region = "us-east-1"
        host: str | None = None
        connect_timeout_seconds = 3
        read_timeout_seconds = 5
        max_retry_attempts = 2

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    DUEPK = UnicodeAttribute(null=True)
    DUESK = UnicodeAttribute(null=True)
    expires_at = IntegerAttribute(null=True)

    lookup_index = LookupIndex()
    due_index = DueIndex()

    @classmethod
    def _get_connection(cls) -> TableConnection:
        """PynamoDB's cached connection, made a ``StoreConnection``: every read and plain write
        of every entity translates storage failures in one place."""
        table_connection = super()._get_connection()
        if not isinstance(table_connection.connection, StoreConnection):
            # Same state, one more layer of behaviour: PynamoDB builds the Connection itself.
            table_connection.connection.__class__ = StoreConnection
        return table_connection


def read_items(item_keys: Sequence[tuple[str, str]], *, consistent: bool = True
               ) -> dict[tuple[str, str], TableItem]:
    """Several items in one BatchGetItem, by ``(PK, SK)``; absent ones are left out."""
    return {(item.PK, item.SK): item
            for item in TableItem.batch_get(list(item_keys), consistent_read=consistent)}


class Clock(Protocol):
    """Where the store reads "now" (the composition root's one clock)."""

    def now(self) -> datetime:
        """The current instant, aware UTC."""
        ...


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


_connection: Connection | None = None
_clock: Clock = _SystemClock()


def _models(root: type[Model]) -> list[type[Model]]:
    found, todo = [], [root]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def configure(*, table_name: str, region: str, endpoint: str | None, clock: Clock) -> None:
    """Point every model at the table and install the clock (``chalicelib.bootstrap``).

    Connections already made for another table or endpoint are dropped, so a test that
    builds the app again talks to what it configured.
    """
    global _connection, _clock
    TableItem.Meta.table_name = table_name
    TableItem.Meta.region = region
    TableItem.Meta.host = endpoint
    for model in _models(TableItem):
        model._connection = None
    _connection = None
    _clock = clock


def table_name() -> str:
    """The configured table."""
    return TableItem.Meta.table_name


def connection() -> Connection:
    """The low-level connection used for transactions (built once per container).

    The SDK does not retry on it: ``transact.commit`` owns the retry policy of transactions
    (same request, same token, its own back-off).
    """
    global _connection
    if _connection is None:
        _connection = StoreConnection(
            region=TableItem.Meta.region,
            host=TableItem.Meta.host,
            connect_timeout_seconds=3,
            read_timeout_seconds=5,
            max_retry_attempts=0,
        )
    return _connection


def utcnow() -> datetime:
    """Now, from the one clock installed by the composition root."""
    return _clock.now()


def check_table_reachable() -> None:
    """One cheap GetItem of a key that never exists; ``StorageUnavailable`` (503) when the
    table cannot be read (throttled, missing, unreachable)."""
    try:
        TableItem.get("HEALTH", "HEALTH")
    except TableItem.DoesNotExist:
        return
    except PynamoDBException as exc:
        raise StorageUnavailable("the table is not reachable") from exc


def string_list(**options: Any) -> ListAttribute[str]:
    """A list of strings. PynamoDB types ``ListAttribute(of=UnicodeAttribute)`` as a list of
    attribute objects; at run time it holds plain ``str`` values, and this says so once."""
    attribute: Any = ListAttribute(of=UnicodeAttribute, **options)
    return attribute


Item = TypeVar("Item", bound=TableItem)


def due_items_of(job: str, model: type[Item], *, upper_sk: str | None = None,
                 lower_sk: str | None = None, limit: int | None = None) -> Iterator[Item]:
    """The items of a job's due index (GSI2, every shard of ``DUE#<job>``) whose sort key is
    within ``[lower_sk, upper_sk]``, each shard oldest first; at most ``limit`` in all.

    Reads only what is due: the cost follows the due items, never the size of the platform.
    """
    attribute = TableItem.DUESK
    condition: Condition | None
    if lower_sk is not None and upper_sk is not None:
        condition = attribute.between(lower_sk, upper_sk)
    elif upper_sk is not None:
        condition = attribute <= upper_sk
    elif lower_sk is not None:
        condition = attribute >= lower_sk
    else:
        condition = None
    left = limit
    for partition in keys.due_pks(job):
        for item in model.query(partition, condition, index_name="GSI2", limit=left):
            if not isinstance(item, model):
                continue
            yield item
            if left is not None:
                left -= 1
                if left == 0:
                    return

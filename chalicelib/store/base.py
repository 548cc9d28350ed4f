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

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    Attribute,
    DiscriminatorAttribute,
    UnicodeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.constants import NUMBER
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.config import get_settings

# Read once, from the one place that reads the environment (PynamoDB wants them at import).
TABLE_NAME = get_settings().table_name
REGION = get_settings().aws_default_region
HOST = get_settings().aws_endpoint_url_dynamodb


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


class UTCDateTimeText(UnicodeAttribute):
    """An aware UTC datetime stored as sortable ISO-8601 text (``2026-11-25T19:08:50Z``)."""

    def serialize(self, value: Any) -> str:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise TypeError(f"{self.attr_name} must be an aware datetime")
        return sortable_time(value)

    def deserialize(self, value: str) -> datetime:  # type: ignore[override]
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
        table_name = TABLE_NAME
        region = REGION
        host = HOST
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


def read_items(item_keys: Sequence[tuple[str, str]], *, consistent: bool = True
               ) -> dict[tuple[str, str], TableItem]:
    """Several items in one BatchGetItem, by ``(PK, SK)``; absent ones are left out."""
    return {(item.PK, item.SK): item
            for item in TableItem.batch_get(list(item_keys), consistent_read=consistent)}


_connection: Connection | None = None


def connection() -> Connection:
    """The low-level connection used for transactions (built once per container)."""
    global _connection
    if _connection is None:
        _connection = Connection(
            region=REGION,
            host=HOST,
            connect_timeout_seconds=3,
            read_timeout_seconds=5,
            max_retry_attempts=2,
        )
    return _connection


def utcnow() -> datetime:
    """Current time, aware UTC. The one clock of the store (jobs pass ``as_of`` instead)."""
    return datetime.now(UTC)

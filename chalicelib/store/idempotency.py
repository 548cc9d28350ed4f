"""Stored answers of money POSTs, keyed by the caller's Idempotency-Key (kept 24 h)."""

from __future__ import annotations

import contextlib

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError

from chalicelib.store import keys
from chalicelib.store.base import IntegerAttribute, TableItem

RETENTION_SECONDS = 24 * 3600
RECORD_SK = "IDEM"


class IdempotencyRecord(TableItem, discriminator="IdempotencyRecord"):
    """PK: ``IDEM#<scope>#<route>#<key>`` / SK: ``IDEM``. The first answer, replayed."""

    body_hash = UnicodeAttribute()
    status_code = IntegerAttribute()
    response_body = UnicodeAttribute()
    content_type = UnicodeAttribute(default="application/json")


def record_key(scope: str, route: str, key: str) -> tuple[str, str]:
    """Primary key of a record."""
    return keys.idempotency_pk(scope, f"{route}#{key}"), RECORD_SK


def find(scope: str, route: str, key: str) -> IdempotencyRecord | None:
    """The stored record, or None (one consistent GetItem)."""
    pk, sk = record_key(scope, route, key)
    try:
        return IdempotencyRecord.get(pk, sk, consistent_read=True)
    except IdempotencyRecord.DoesNotExist:
        return None


def remember(scope: str, route: str, key: str, body_hash: str, status_code: int,
             response_body: str, content_type: str, expires_at: int) -> None:
    """Store the first answer; a concurrent first writer wins and later ones are dropped."""
    pk, sk = record_key(scope, route, key)
    record = IdempotencyRecord(
        pk, sk, body_hash=body_hash, status_code=status_code, response_body=response_body,
        content_type=content_type, expires_at=expires_at,
    )
    with contextlib.suppress(PutError):
        record.save(condition=IdempotencyRecord.PK.does_not_exist())

"""Opaque, signed list cursors (SPEC section 3: a changed cursor → 400).

A cursor is DynamoDB's LastEvaluatedKey without its partition key (the list knows its own
partition), as compact JSON in base64url, then ``.`` and an HMAC-SHA256 tag. The tag covers
the partition key and the list (the route, set per request by ``bound_to``), so a cursor
changed by one character, forged from scratch, taken from another tenant or from another
list of the same partition is refused before DynamoDB sees it. The key is derived from
``JWT_SECRET`` with a label of its own (no new setting; rotating the JWT secret also retires
open cursors, which only restarts a listing). Signed, not encrypted: what is left inside is
the sort key of the last item, which the caller was just shown anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from chalicelib.domain.errors import MalformedRequest

M = TypeVar("M", bound=Model)

_KEY_LABEL = b"agency-accounts/list-cursor/v1"
_TAG_BYTES = 16
MAX_CURSOR_LENGTH = 2048

#: The list a cursor belongs to (the route, ``GET /v1/users``); empty outside a request.
_list_scope: ContextVar[str] = ContextVar("cursor_list_scope", default="")


@contextmanager
def bound_to(scope: str) -> Iterator[None]:
    """Cursors made and read inside belong to ``scope`` (the route decorator's job)."""
    token = _list_scope.set(scope)
    try:
        yield
    finally:
        _list_scope.reset(token)


_signing_secret: Callable[[], str] | None = None


def configure(secret: Callable[[], str]) -> None:
    """Where the server secret cursors are signed with comes from (the composition root
    passes JWT_SECRET's reader: read when a cursor is made, as secrets rotate)."""
    global _signing_secret
    _signing_secret = secret


def _signing_key() -> bytes:
    if _signing_secret is None:
        raise RuntimeError("store.pagination.configure() was not called")
    return hmac.new(_signing_secret().encode(), _KEY_LABEL, hashlib.sha256).digest()


def _tag(partition: str, body: str) -> bytes:
    message = f"{_list_scope.get()}\n{partition}\n{body}".encode()
    return hmac.new(_signing_key(), message, hashlib.sha256).digest()[:_TAG_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    raw = base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())
    # One spelling per value: base64 ignores the spare bits of its last character, so a
    # changed last character could otherwise decode to the same bytes and pass as unchanged.
    if _b64(raw) != text:
        raise ValueError("not the canonical encoding")
    return raw


def encode_cursor(last_evaluated_key: dict[str, Any] | None) -> str | None:
    """Opaque text for the next page, or None at the end."""
    if not last_evaluated_key:
        return None
    partition = last_evaluated_key["PK"]["S"]
    rest = {name: value for name, value in last_evaluated_key.items() if name != "PK"}
    body = _b64(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode())
    return f"{body}.{_b64(_tag(partition, body))}"


def _invalid() -> MalformedRequest:
    return MalformedRequest("cursor is invalid", code="invalid_cursor",
                            details={"field": "cursor"})


def decode_cursor(cursor: str | None, expected_pk: str) -> dict[str, Any] | None:
    """The ExclusiveStartKey of a cursor this list made for ``expected_pk``; anything else
    (garbled, changed, forged, another tenant's or another list's) is a 400."""
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
        raise _invalid()
    body, tag = cursor.split(".")
    try:
        given = _unb64(tag)
        valid = hmac.compare_digest(given, _tag(expected_pk, body))
        rest = json.loads(_unb64(body)) if valid else None
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _invalid() from exc
    if not isinstance(rest, dict) or not all(
            isinstance(value, dict) and len(value) == 1 for value in rest.values()):
        raise _invalid()
    return {"PK": {"S": expected_pk}, **rest}


def filtered_page(model: type[M], partition: str, range_condition: Condition, *,
                  filter_condition: Condition | None, limit: int, cursor: str | None,
                  newest_first: bool = False) -> tuple[list[M], str | None]:
    """One page of a partition's items that pass ``filter_condition`` (one strongly
    consistent Query; PynamoDB reads on until ``limit`` pass, so a page is full unless the
    partition ends) and the cursor of the next page, or None once it was read to its end."""
    query = model.query(
        partition, range_condition, filter_condition=filter_condition,
        scan_index_forward=not newest_first, consistent_read=True, limit=limit,
        page_size=max(limit, 100), last_evaluated_key=decode_cursor(cursor, partition))
    items = list(query)
    # A short page means the partition was read to its end.
    return items, encode_cursor(query.last_evaluated_key) if len(items) >= limit else None

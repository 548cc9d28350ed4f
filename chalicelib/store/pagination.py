"""Opaque list cursors: DynamoDB's LastEvaluatedKey, encoded, and checked on the way back."""

from __future__ import annotations

import base64
import json
from typing import Any

from chalicelib.domain.errors import ValidationFailed


def encode_cursor(last_evaluated_key: dict[str, Any] | None) -> str | None:
    """Opaque text for the next page, or None at the end."""
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, expected_pk: str) -> dict[str, Any] | None:
    """Read a cursor back; one that is garbled or points at another partition is a 422.

    Checking the partition keeps a forged cursor from paging through another tenant.
    """
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        pk = key["PK"]["S"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationFailed("cursor is invalid", details={"field": "cursor"}) from exc
    if pk != expected_pk or not isinstance(key, dict):
        raise ValidationFailed("cursor is invalid", details={"field": "cursor"})
    return key

"""Idempotency-Key replay for money POSTs.

The same key with the same body replays the first answer; with a different body it is a
422. Replay protects the caller's retries; the money itself is protected independently by
deterministic ledger transaction ids and Stripe idempotency keys, so two concurrent first
attempts still move money once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from chalice import Response

from chalicelib.domain.errors import ValidationFailed
from chalicelib.store import idempotency

#: Outcomes worth replaying: successes and definitive card declines.
REPLAYABLE = frozenset({200, 201, 202, 402})


def run_idempotent(*, scope: str, route: str, key: str, body_hash: str,
                   execute: Callable[[], Response]) -> Response:
    """Replay a stored answer for ``key`` or run ``execute`` and remember its answer."""
    if not 1 <= len(key) <= 255:
        raise ValidationFailed("Idempotency-Key must be 1 to 255 characters",
                               details={"field": "Idempotency-Key"})
    stored = idempotency.find(scope, route, key)
    if stored is not None:
        if stored.body_hash != body_hash:
            raise ValidationFailed(
                "Idempotency-Key was already used with a different request body",
                code="idempotency_key_reused",
            )
        return Response(
            body=stored.response_body,
            status_code=stored.status_code,
            headers={"Content-Type": stored.content_type, "Idempotent-Replayed": "true"},
        )
    response = execute()
    if response.status_code in REPLAYABLE:
        body = response.body if isinstance(response.body, str) else json.dumps(response.body)
        idempotency.remember(
            scope, route, key, body_hash, response.status_code, body,
            str(response.headers.get("Content-Type", "application/json")),
            int(time.time()) + idempotency.RETENTION_SECONDS,
        )
    return response

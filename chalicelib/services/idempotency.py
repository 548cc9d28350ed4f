"""Idempotency-Key replay for money POSTs: the stored answers.

The same key with the same body replays the first answer; with a different body it is a
422. Replay protects the caller's retries; the money itself is protected independently by
deterministic ledger transaction ids and Stripe idempotency keys, so two concurrent first
attempts still move money once. ``chalicelib.api.idempotency`` turns these into HTTP.
"""

from __future__ import annotations

from chalicelib.domain.errors import ValidationFailed
from chalicelib.services.ports import now
from chalicelib.store import idempotency
from chalicelib.store.idempotency import IdempotencyRecord

#: Outcomes worth replaying: successes and definitive card declines.
REPLAYABLE = frozenset({200, 201, 202, 402})


def stored_answer(*, scope: str, route: str, key: str, body_hash: str
                  ) -> IdempotencyRecord | None:
    """The answer stored for ``key`` (None on its first use); 422 for a key of the wrong
    length, or one already used with another body."""
    if not 1 <= len(key) <= 255:
        raise ValidationFailed("Idempotency-Key must be 1 to 255 characters",
                               details={"field": "Idempotency-Key"})
    stored = idempotency.find(scope, route, key)
    if stored is not None and stored.body_hash != body_hash:
        raise ValidationFailed("Idempotency-Key was already used with a different request body",
                               code="idempotency_key_reused")
    return stored


def replayable(status_code: int) -> bool:
    """Whether an answer with this status is kept and replayed."""
    return status_code in REPLAYABLE


def remember_answer(*, scope: str, route: str, key: str, body_hash: str, status_code: int,
                    body: str, content_type: str) -> None:
    """Keep the first answer for 24 h (a concurrent first writer wins, later ones are
    dropped)."""
    idempotency.remember(scope, route, key, body_hash, status_code, body, content_type,
                         int(now().timestamp()) + idempotency.RETENTION_SECONDS)

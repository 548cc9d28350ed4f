"""Idempotency-Key replay of money POSTs, in HTTP terms (the ``route`` decorator calls it
after authentication and authorization; the stored answers: ``services.idempotency``)."""

from __future__ import annotations

import json
from collections.abc import Callable

from chalice.app import Response

from chalicelib.services import idempotency


def run_idempotent(*, scope: str, route: str, key: str, body_hash: str,
                   execute: Callable[[], Response]) -> Response:
    """Replay a stored answer for ``key`` or run ``execute`` and remember its answer."""
    stored = idempotency.stored_answer(scope=scope, route=route, key=key, body_hash=body_hash)
    if stored is not None:
        return Response(
            body=stored.response_body,
            status_code=stored.status_code,
            headers={"Content-Type": stored.content_type, "Idempotent-Replayed": "true"},
        )
    response = execute()
    if idempotency.replayable(response.status_code):
        body = response.body if isinstance(response.body, str) else json.dumps(response.body)
        idempotency.remember_answer(
            scope=scope, route=route, key=key, body_hash=body_hash,
            status_code=response.status_code, body=body,
            content_type=str(response.headers.get("Content-Type", "application/json")))
    return response

"""The one registry from domain errors to HTTP status codes and the SPEC error body."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from chalicelib.domain import errors as e

STATUS_BY_ERROR: dict[type[e.DomainError], int] = {
    e.MalformedRequest: 400,
    e.Unauthenticated: 401,
    e.PaymentDeclined: 402,
    e.Forbidden: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.Gone: 410,
    e.ValidationFailed: 422,
    e.SubaccountSuspended: 423,
    e.TooManyRequests: 429,
    e.TemporarilyUnavailable: 503,
}

#: ``Retry-After`` of a 503 whose error does not say how long to wait.
DEFAULT_RETRY_AFTER_SECONDS = 1


def status_for(error: e.DomainError) -> int:
    """HTTP status of a domain error: the nearest registered class in its MRO."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 503  # storage and other dependency failures: retryable, never a stack trace


def headers_for(error: e.DomainError) -> dict[str, str]:
    """Extra headers of an error answer: ``Retry-After`` when the error says how long, and
    on every 503 (a client must know when to come back)."""
    details = error.details if isinstance(error.details, dict) else {}
    wait = details.get("retry_after_seconds")
    if isinstance(wait, int) and not isinstance(wait, bool) and wait > 0:
        return {"Retry-After": str(wait)}
    if status_for(error) == 503:
        return {"Retry-After": str(DEFAULT_RETRY_AFTER_SECONDS)}
    return {}


#: The request id of the request being answered (``X-Request-Id``), repeated in error bodies.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The SPEC error envelope, with the request's id (``error.request_id``)."""
    error: dict[str, Any] = {"code": code, "message": message, "details": details or {}}
    request_id = current_request_id.get()
    if request_id is not None:
        error["request_id"] = request_id
    return {"error": error}

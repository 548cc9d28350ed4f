"""Domain errors. Each carries a stable machine code; the API maps the class to a status.

The classes are named for what went wrong, not for HTTP; ``chalicelib.api.errors`` is the
one place that turns them into status codes and the SPEC error body.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected failure. ``code`` is stable and documented."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details if details is not None else {}


class MalformedRequest(DomainError):
    """The request could not be read at all (bad JSON, wrong content)."""

    code = "malformed_request"


class ValidationFailed(DomainError):
    """The request was readable but its values break a rule."""

    code = "validation_failed"


class Unauthenticated(DomainError):
    """No valid credentials."""

    code = "unauthenticated"


class Forbidden(DomainError):
    """The caller can see the resource but may not do this to it."""

    code = "forbidden"


class NotFound(DomainError):
    """Absent, or outside the caller's reach (never told apart)."""

    code = "not_found"


class Conflict(DomainError):
    """The action collides with the current state (duplicate, stale, limit)."""

    code = "conflict"


class Gone(DomainError):
    """The thing existed but is no longer usable (expired or revoked token)."""

    code = "gone"


class SubaccountSuspended(DomainError):
    """A write by a sub-account user while the sub-account is suspended."""

    code = "subaccount_suspended"


class PaymentDeclined(DomainError):
    """The card was declined by Stripe."""

    code = "card_declined"


class TooManyRequests(DomainError):
    """Throttled (login attempts)."""

    code = "too_many_requests"


class TemporarilyUnavailable(DomainError):
    """A dependency throttled, failed or could not be reached, even after retries.

    Safe to retry: ``details["retry_after_seconds"]`` says when (the ``Retry-After`` header).
    """

    code = "temporarily_unavailable"


class PaymentProviderUnavailable(TemporarilyUnavailable):
    """Stripe throttled, failed or could not be reached after the client's retries; nothing
    was credited (a 503 like any dependency outage: SPEC section 3)."""

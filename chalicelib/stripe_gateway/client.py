"""The Stripe client (built once per container) and the translation of Stripe errors.

Stripe errors never leave the gateway: a decline becomes ``PaymentDeclined`` (402
``card_declined`` with Stripe's decline code), an outage ``PaymentProviderUnavailable``,
a refused request a ``GatewayRequestRefused`` carrying Stripe's code. ``retrieve_or_none``
answers ``None`` for an object Stripe says does not exist (webhook checks need that answer
apart from an outage).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from chalicelib.config import get_settings
from chalicelib.domain.errors import (
    DomainError,
    PaymentDeclined,
    PaymentProviderUnavailable,
    ValidationFailed,
)

T = TypeVar("T")
_client: Any = None

#: Stripe's codes for "no such object": an unknown id, or a connected account the platform
#: cannot act on (``Stripe-Account`` of an account that is not ours).
MISSING_CODES = frozenset({"resource_missing", "account_invalid"})

#: Network retries done by stripe-python itself (safe: every create carries an idempotency key).
MAX_NETWORK_RETRIES = 2
TIMEOUT_SECONDS = 20


class GatewayRequestRefused(ValidationFailed):
    """Stripe refused the request (bad payment method id, account not ready, …)."""

    code = "payment_request_refused"


def stripe_client() -> Any:
    """A ``stripe.StripeClient`` on ``STRIPE_API_BASE`` (the emulator locally)."""
    global _client
    if _client is None:
        import stripe

        settings = get_settings()
        base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
        _client = stripe.StripeClient(
            settings.stripe_secret_key,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=MAX_NETWORK_RETRIES,
            http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS)
            if _has_requests() else None,
        )
    return _client


def _has_requests() -> bool:
    try:
        import requests  # noqa: F401
    except ImportError:
        return False
    return True


def reset_client() -> None:
    """Forget the client (tests that move ``STRIPE_API_BASE``)."""
    global _client
    _client = None


def call_stripe(operation: Callable[[], T]) -> T:
    """Run one Stripe call, translating Stripe's errors into domain errors."""
    import stripe

    try:
        return operation()
    except stripe.CardError as exc:
        error = exc.error
        raise PaymentDeclined(
            exc.user_message or "the card was declined",
            details={
                "decline_code": getattr(error, "decline_code", None) if error else None,
                "stripe_code": exc.code,
            },
        ) from None
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
        raise PaymentProviderUnavailable("the payment provider is unavailable",
                                         details={"stripe_code": exc.code}) from None
    except stripe.InvalidRequestError as exc:
        raise GatewayRequestRefused(
            exc.user_message or "the payment provider refused the request",
            details={"stripe_code": exc.code, "param": exc.param},
        ) from None
    except stripe.StripeError as exc:
        raise DomainError(str(exc.user_message or "payment provider error"),
                          code="payment_provider_error") from None


def retrieve_or_none(operation: Callable[[], T]) -> T | None:
    """Run one Stripe retrieve; ``None`` when Stripe says the object does not exist.

    Any other error is translated as by ``call_stripe`` (an outage stays an outage: the
    caller must not mistake it for a missing object).
    """
    import stripe

    def guarded() -> T | None:
        try:
            return operation()
        except stripe.PermissionError as exc:  # 403 for a Stripe-Account we cannot act on
            if exc.code in MISSING_CODES:
                return None
            raise

    try:
        return call_stripe(guarded)
    except GatewayRequestRefused as refused:
        if (refused.details or {}).get("stripe_code") in MISSING_CODES:
            return None
        raise

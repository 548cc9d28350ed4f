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

from chalicelib.domain.errors import (
    DomainError,
    PaymentDeclined,
    PaymentProviderUnavailable,
    ValidationFailed,
)

T = TypeVar("T")

#: Stripe's codes for "no such object": an unknown id, or a connected account the platform
#: cannot act on (``Stripe-Account`` of an account that is not ours).
MISSING_CODES = frozenset({"resource_missing", "account_invalid"})

#: Network retries done by stripe-python itself (safe: every create carries an idempotency key).
MAX_NETWORK_RETRIES = 2
TIMEOUT_SECONDS = 20
#: What a 503 tells the caller to wait when Stripe is unavailable.
PROVIDER_RETRY_AFTER_SECONDS = 2


class GatewayRequestRefused(ValidationFailed):
    """Stripe refused the request (bad payment method id, account not ready, …)."""

    code = "payment_request_refused"


class StripeGateway:
    """Our Stripe account as the use cases see it: the key, the API base (the emulator
    locally), where Stripe sends people back (``public_base_url``), and one ``StripeClient``
    built on first use.

    ``stripe`` is imported when the first call needs the client, never at start-up: most
    routes never talk to Stripe and should not pay its import in a cold start.
    """

    def __init__(self, secret_key: str | Callable[[], str], api_base: str | None,
                 public_base_url: str, *, timeout_seconds: float = TIMEOUT_SECONDS) -> None:
        # A callable is read when the client is built: in AWS the key comes from Secrets
        # Manager, which `chalice package` (building the app without AWS access) never reads.
        self._secret_key = secret_key
        self.api_base = api_base
        self.public_base_url = public_base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._client: Any = None

    @property
    def secret_key(self) -> str:
        """Stripe's secret API key."""
        key = self._secret_key
        return key if isinstance(key, str) else key()

    @property
    def client(self) -> Any:
        """A ``stripe.StripeClient`` on ``api_base``, built once."""
        if self._client is None:
            import stripe  # lazy: cold start (see the class docstring)

            base = {"api": self.api_base} if self.api_base else None
            self._client = stripe.StripeClient(
                self.secret_key,
                base_addresses=base,  # type: ignore[arg-type]
                max_network_retries=MAX_NETWORK_RETRIES,
                http_client=stripe.RequestsClient(timeout=self.timeout_seconds),
            )
        return self._client


_gateway: StripeGateway | None = None


def install(gateway: StripeGateway) -> None:
    """Make ``gateway`` the one every Stripe call uses (the composition root's job)."""
    global _gateway
    _gateway = gateway


def gateway() -> StripeGateway:
    """The installed gateway."""
    if _gateway is None:
        raise RuntimeError("chalicelib.bootstrap.build() was not called")
    return _gateway


def stripe_client() -> Any:
    """The installed gateway's ``StripeClient``."""
    return gateway().client


def call_stripe(operation: Callable[[], T]) -> T:
    """Run one Stripe call, translating Stripe's errors into domain errors."""
    import stripe  # already loaded by the client the call used; lazy for the cold start

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
        raise PaymentProviderUnavailable(
            "the payment provider is temporarily unavailable",
            details={"retry_after_seconds": PROVIDER_RETRY_AFTER_SECONDS,
                     "stripe_code": exc.code}) from None
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

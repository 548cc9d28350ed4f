"""Stripe's webhook signature, checked by stripe-python on the exact bytes Stripe sent."""

from __future__ import annotations


def signature_is_valid(payload: bytes, signature_header: str, secret: str,
                       tolerance_seconds: int) -> bool:
    """Whether ``signature_header`` is Stripe's signature of ``payload`` with ``secret``,
    made within ``tolerance_seconds`` (replays of old deliveries are refused)."""
    import stripe  # lazy: only the webhook route pays for importing Stripe (cold start)

    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature_header,
                                              secret, tolerance_seconds)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
        return False
    return True

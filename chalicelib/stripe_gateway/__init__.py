"""The only place that talks to Stripe. Importing this package does not import ``stripe``:
the client is built, and ``stripe`` imported, on the first call that needs it (cold starts)."""

from chalicelib.stripe_gateway.client import StripeGateway

__all__ = ["StripeGateway"]

"""The composition root: settings, the one clock, the Stripe gateway, the store and the
mailer, built once per container and installed where the use cases find them
(``chalicelib.services.ports``; the store and the gateway are configured with the same
pieces).

``app.py`` calls ``build()`` at import, so a misconfigured Lambda fails at start naming the
variable. Tests, the local stack and the benchmark build the same way from their
environment, and swap pieces here (a fixed clock, a gateway pointing at a faulty Stripe)
with ``build(...)`` or ``override(...)``, never by patching modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

from chalicelib.config import Settings, load_settings
from chalicelib.services import ports as ports_module
from chalicelib.services.ports import Clock, Mailer, Ports
from chalicelib.store import base as store_base
from chalicelib.store import mail, pagination
from chalicelib.stripe_gateway import StripeGateway
from chalicelib.stripe_gateway import client as stripe_client


class SystemClock:
    """The real clock, aware and in UTC."""

    def now(self) -> datetime:
        """The current instant."""
        return datetime.now(UTC)


def stripe_gateway_for(settings: Settings) -> StripeGateway:
    """The Stripe gateway the settings describe."""
    return StripeGateway(lambda: settings.stripe_secret_key, settings.stripe_api_base,
                         settings.public_base_url)


def _install(built: Ports) -> None:
    store_base.configure(table_name=built.settings.table_name,
                         region=built.settings.aws_default_region,
                         endpoint=built.settings.aws_endpoint_url_dynamodb, clock=built.clock)
    settings = built.settings
    pagination.configure(lambda: settings.jwt_secret)
    stripe_client.install(built.stripe)
    ports_module.install(built)


def build(settings: Settings | None = None, *, clock: Clock | None = None,
          stripe: StripeGateway | None = None, mailer: Mailer | None = None) -> Ports:
    """Build every piece from ``settings`` (the environment when None) and install it."""
    settings = settings or load_settings()
    built = Ports(
        settings=settings,
        clock=clock or SystemClock(),
        stripe=stripe or stripe_gateway_for(settings),
        mailer=mailer or (mail.OutboxMailer() if settings.outbox_enabled
                          else mail.SesMailer(settings.email_sender)),
    )
    _install(built)
    return built


@contextmanager
def override(*, clock: Clock | None = None, stripe: StripeGateway | None = None,
             mailer: Mailer | None = None) -> Iterator[Ports]:
    """Swap some pieces for the duration of a block (tests), then put the old ones back."""
    before = ports_module.ports()
    changed = replace(before, clock=clock or before.clock, stripe=stripe or before.stripe,
                      mailer=mailer or before.mailer)
    _install(changed)
    try:
        yield changed
    finally:
        _install(before)

"""What the use cases need from outside the process, built once by ``chalicelib.bootstrap``.

Services ask for the clock, the Stripe gateway, the mailer and the settings here instead of
building them (or reading the environment) themselves, so production, the local stack and a
test differ only in what ``bootstrap.build`` installed: a fixed clock or a failing gateway is
swapped in one place, never by patching modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chalicelib.config import Settings
from chalicelib.stripe_gateway import StripeGateway


class Clock(Protocol):
    """The one source of "now" (aware, UTC)."""

    def now(self) -> datetime:
        """The current instant."""
        ...


class Mailer(Protocol):
    """The email port: SES in AWS, the local outbox in the local stack."""

    def send(self, to: str, subject: str, body: str) -> None:
        """Deliver (or queue) one plain-text email."""
        ...


@dataclass(frozen=True)
class Ports:
    """Everything a use case may reach outside the process, besides the store."""

    settings: Settings
    clock: Clock
    stripe: StripeGateway
    mailer: Mailer


_installed: Ports | None = None


def install(ports: Ports) -> None:
    """Make ``ports`` the ones every use case sees (``bootstrap.build`` calls it)."""
    global _installed
    _installed = ports


def ports() -> Ports:
    """The installed ports; building them is the composition root's job, never ours."""
    if _installed is None:
        raise RuntimeError("chalicelib.bootstrap.build() was not called")
    return _installed


def now() -> datetime:
    """The current instant from the installed clock."""
    return ports().clock.now()

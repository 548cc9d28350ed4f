"""Sending email through the port the composition root installed (SES in AWS, the local
outbox in the local stack), and reading that outbox."""

from __future__ import annotations

from chalicelib.services.ports import ports
from chalicelib.store import mail
from chalicelib.store.mail import OutboxMessage


def send_email(to: str, subject: str, body: str) -> None:
    """Send one plain-text email (the port logs no address, subject or body)."""
    ports().mailer.send(to, subject, body)


def list_outbox(to: str | None = None, limit: int = 100) -> list[OutboxMessage]:
    """Outbox messages (local stack), newest first, optionally for one recipient."""
    return mail.outbox(to, limit)

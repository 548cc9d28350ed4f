"""Sending email through the port the composition root installed (SES in AWS, the local
outbox in the local stack), and reading that outbox."""

from __future__ import annotations

from typing import Any

from chalicelib.services.ports import ports
from chalicelib.store import mail
from chalicelib.store.base import sortable_time


def send_email(to: str, subject: str, body: str) -> None:
    """Send one plain-text email."""
    ports().mailer.send(to, subject, body)


def list_outbox(to: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Outbox messages (local stack), newest first, optionally for one recipient."""
    return [{"to": item.to, "subject": item.subject, "body": item.body,
             "sent_at": sortable_time(item.sent_at)} for item in mail.outbox(to, limit)]

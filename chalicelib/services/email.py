"""The email port: SES in AWS, a local outbox (readable over HTTP) in the local stack."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

from chalicelib.config import get_settings
from chalicelib.store import keys
from chalicelib.store.activity import OutboxMessage
from chalicelib.store.base import sortable_time, utcnow

log = logging.getLogger(__name__)


class EmailSender(Protocol):
    """Anything that can deliver one email."""

    def send(self, to: str, subject: str, body: str) -> None:
        """Deliver (or queue) one plain-text email."""


class OutboxSender:
    """Local stack: stores the message; ``GET /v1/platform/outbox`` lists it."""

    def send(self, to: str, subject: str, body: str) -> None:
        """Store the message in the outbox partition."""
        now = utcnow()
        OutboxMessage(
            keys.OUTBOX_PK,
            keys.timeline_sk(sortable_time(now), uuid.uuid4().hex),
            to=to.lower(),
            subject=subject,
            body=body,
            sent_at=now,
        ).save()


class SesSender:
    """AWS: Amazon SES ``SendEmail``. A delivery failure is logged, never lost silently."""

    def __init__(self) -> None:
        self._client: Any = None

    def send(self, to: str, subject: str, body: str) -> None:
        """Send through SES."""
        if self._client is None:
            import boto3

            self._client = boto3.client("ses")
        try:
            self._client.send_email(
                Source=get_settings().email_sender,
                Destination={"ToAddresses": [to]},
                Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": body}}},
            )
        except Exception:
            log.exception("email to %s failed", to)


_sender: EmailSender | None = None


def email_sender() -> EmailSender:
    """The configured sender (outbox when ``OUTBOX_ENABLED``), built once."""
    global _sender
    if _sender is None:
        _sender = OutboxSender() if get_settings().outbox_enabled else SesSender()
    return _sender


def send_email(to: str, subject: str, body: str) -> None:
    """Send one email through the port."""
    email_sender().send(to, subject, body)


def list_outbox(to: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Outbox messages, newest first, optionally for one recipient."""
    messages = []
    for item in OutboxMessage.query(keys.OUTBOX_PK, scan_index_forward=False, limit=500):
        if to and item.to != to.strip().lower():
            continue
        messages.append({
            "to": item.to,
            "subject": item.subject,
            "body": item.body,
            "sent_at": sortable_time(item.sent_at),
        })
        if len(messages) >= limit:
            break
    return messages

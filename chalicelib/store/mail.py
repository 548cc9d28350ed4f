"""The email port's adapters: SES in AWS, the local outbox (a partition of the table) in the
local stack. Only ids ever reach the logs: never an address, a subject or a body."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
from pynamodb.attributes import UnicodeAttribute

from chalicelib.observability import logger
from chalicelib.store import keys
from chalicelib.store.base import TableItem, UTCDateTimeText, sortable_time, utcnow


class OutboxMessage(TableItem, discriminator="OutboxMessage"):
    """PK: ``OUTBOX`` / SK: ``<iso>#<mid>``. A message the local stack "sent"."""

    to = UnicodeAttribute()
    subject = UnicodeAttribute()
    body = UnicodeAttribute()
    sent_at = UTCDateTimeText()


class OutboxMailer:
    """Local stack: stores the message; ``GET /v1/platform/outbox`` lists it."""

    def send(self, to: str, subject: str, body: str) -> None:
        """Store the message in the outbox partition."""
        now = utcnow()
        OutboxMessage(
            keys.OUTBOX_PK,
            keys.timeline_sk(sortable_time(now), uuid.uuid4().hex),
            to=to.lower(), subject=subject, body=body, sent_at=now,
        ).save()


class SesMailer:
    """AWS: Amazon SES ``SendEmail``. A failed delivery is logged (without the address) and
    never fails the operation that sent it: the money or the invitation is already stored."""

    def __init__(self, sender: str) -> None:
        self.sender = sender
        self._client: Any = None

    def send(self, to: str, subject: str, body: str) -> None:
        """Send through SES."""
        if self._client is None:
            self._client = boto3.client("ses")
        try:
            self._client.send_email(
                Source=self.sender,
                Destination={"ToAddresses": [to]},
                Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": body}}},
            )
        except Exception as exc:
            logger.error("email not sent", extra={"error": type(exc).__name__})


def outbox(to: str | None = None, limit: int = 100) -> list[OutboxMessage]:
    """Outbox messages, newest first, optionally for one recipient."""
    messages: list[OutboxMessage] = []
    for item in OutboxMessage.query(keys.OUTBOX_PK, scan_index_forward=False, limit=500):
        if to and item.to != to.strip().lower():
            continue
        messages.append(item)
        if len(messages) >= limit:
            break
    return messages

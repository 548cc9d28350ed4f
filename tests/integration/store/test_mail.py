"""``store.mail``, the email port's adapters: the local outbox against the emulator (SPEC:
newest first, ``?to=``), and SES, whose failures are logged without the address."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from chalicelib.store import mail


class TestOutbox:
    def test_messages_are_listed_newest_first_and_by_recipient(self, table: None) -> None:
        mailer = mail.OutboxMailer()
        mailer.send("First@Example.com", "one", "body 1")
        mailer.send("second@example.com", "two", "body 2")
        mailer.send("first@example.com", "three", "body 3")
        assert [m.subject for m in mail.outbox()] == ["three", "two", "one"]
        mine = mail.outbox(" FIRST@example.com ")
        assert [(m.to, m.subject, m.body) for m in mine] == [
            ("first@example.com", "three", "body 3"), ("first@example.com", "one", "body 1")]
        assert [m.subject for m in mail.outbox(limit=1)] == ["three"]


class Lines(logging.Handler):
    """What the app's logger wrote."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.text: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.text.append(self.format(record))


class TestSes:
    def test_a_failed_delivery_is_logged_without_address_subject_or_body(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        import boto3

        from chalicelib.observability import SERVICE, logger

        class Refusing:
            def send_email(self, **request: Any) -> None:
                raise RuntimeError(f"rejected {request['Destination']['ToAddresses'][0]}")

        monkeypatch.setattr(boto3, "client", lambda service: Refusing())
        lines = Lines()
        lines.setFormatter(logger.registered_formatter)
        stdlib = logging.getLogger(SERVICE)
        stdlib.addHandler(lines)
        try:
            mail.SesMailer("noreply@platform.example.com").send(
                "victim@example.com", "Your invitation", "token=secret-token-1")
        finally:
            stdlib.removeHandler(lines)
        assert len(lines.text) == 1 and "RuntimeError" in lines.text[0]
        for secret in ("victim@example.com", "@", "Your invitation", "secret-token-1"):
            assert secret not in lines.text[0], secret

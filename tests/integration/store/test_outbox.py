"""``store.mail``'s local outbox against the emulator (SPEC: newest first, ``?to=``)."""

from __future__ import annotations

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

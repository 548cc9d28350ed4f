"""``store.idempotency`` against the emulator: the first answer is kept, never replaced."""

from __future__ import annotations

from chalicelib.store import idempotency


class TestStoredAnswers:
    def test_nothing_is_stored_before_the_first_answer(self, table: None) -> None:
        assert idempotency.find("agy#usr", "POST /x []", "key-1") is None

    def test_the_first_answer_is_kept_and_a_later_one_dropped(self, table: None) -> None:
        idempotency.remember("agy#usr", "POST /x []", "key-1", "hash-1", 201, '{"a": 1}',
                             "application/json", 2_000_000_000)
        idempotency.remember("agy#usr", "POST /x []", "key-1", "hash-2", 402, '{"b": 2}',
                             "application/json", 2_000_000_001)
        stored = idempotency.find("agy#usr", "POST /x []", "key-1")
        assert stored is not None
        assert (stored.body_hash, stored.status_code, stored.response_body,
                stored.content_type, stored.expires_at) == (
            "hash-1", 201, '{"a": 1}', "application/json", 2_000_000_000)

    def test_keys_are_scoped_to_the_caller_and_the_route(self, table: None) -> None:
        idempotency.remember("agy#usr", "POST /x []", "key-1", "h", 201, "{}",
                             "application/json", 2_000_000_000)
        assert idempotency.find("agy#other", "POST /x []", "key-1") is None
        assert idempotency.find("agy#usr", "POST /y []", "key-1") is None

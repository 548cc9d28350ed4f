"""The run deadline of scheduled sweeps: Lambda's remaining time minus a margin."""

from __future__ import annotations

import time

from chalicelib.services.sweeps import Deadline


class FakeContext:
    """What Lambda hands a handler: only the remaining time matters here."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class TestDeadline:
    def test_no_context_means_no_limit(self) -> None:
        assert Deadline.from_lambda_context(None) == Deadline()
        assert not Deadline().passed()

    def test_a_quarter_of_a_short_run_is_kept_free(self) -> None:
        before = time.monotonic_ns()
        deadline = Deadline.from_lambda_context(FakeContext(20_000))
        assert deadline.at_ns is not None
        assert before + 15 * 10**9 <= deadline.at_ns <= time.monotonic_ns() + 15 * 10**9
        assert not deadline.passed()

    def test_a_long_run_keeps_at_most_a_minute(self) -> None:
        before = time.monotonic_ns()
        deadline = Deadline.from_lambda_context(FakeContext(900_000))
        assert deadline.at_ns is not None
        assert before + 840 * 10**9 <= deadline.at_ns <= time.monotonic_ns() + 840 * 10**9

    def test_no_time_left_has_passed(self) -> None:
        assert Deadline.from_lambda_context(FakeContext(0)).passed()
        assert Deadline(time.monotonic_ns() - 1).passed()

"""Retries of a refused payout transfer (SPEC "Payouts"): ids and retry days, pure."""

from __future__ import annotations

from datetime import date

from chalicelib.domain.payouts import (
    MAX_TRANSFER_RETRIES,
    payout_id,
    payout_transaction_id,
    transfer_attempt,
    transfer_retry_date,
)


class TestRetryDates:
    def test_a_refused_transfer_is_tried_again_the_next_day(self) -> None:
        assert transfer_retry_date(1, date(2026, 3, 31), date(2026, 4, 30)) == date(2026, 4, 1)

    def test_three_retries_per_cycle_then_the_next_cycle_date(self) -> None:
        assert MAX_TRANSFER_RETRIES == 3
        next_cycle = date(2026, 4, 30)
        assert transfer_retry_date(3, date(2026, 4, 2), next_cycle) == date(2026, 4, 3)
        assert transfer_retry_date(4, date(2026, 4, 3), next_cycle) is None

    def test_no_retry_when_the_next_cycle_date_comes_first(self) -> None:
        assert transfer_retry_date(1, date(2026, 4, 29), date(2026, 4, 30)) is None


class TestAttemptIds:
    def test_each_attempt_has_its_own_payout_id_and_ledger_id(self) -> None:
        first = payout_id("agy_1", "2026-03-31")
        assert first == "pyt_agy_1_20260331"  # unchanged for the cycle's first attempt
        ids = {payout_id("agy_1", "2026-03-31", n) for n in range(1, 5)}
        assert len(ids) == 4
        assert payout_transaction_id("agy_1", "2026-03-31") == "payout:agy_1:2026-03-31"
        assert len({payout_transaction_id("agy_1", "2026-03-31", n) for n in range(1, 5)}) == 4

    def test_the_attempt_is_read_back_from_transfer_metadata(self) -> None:
        assert transfer_attempt({}) == 1
        assert transfer_attempt({"attempt": "3"}) == 3
        assert transfer_attempt({"attempt": "0"}) is None
        assert transfer_attempt({"attempt": "x"}) is None
        assert transfer_attempt({"attempt": 2}) is None

"""The move rule of SPEC "Move minutes": a move never creates platform supply.

received = min(sent, floor(sent × price(A) / price(B))): toward an equal or higher price the
USD value is kept (fewer seconds arrive), toward a lower price seconds arrive 1:1.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.money import move_received_seconds

SECONDS = st.integers(min_value=0, max_value=10**9)
PRICES = st.integers(min_value=1, max_value=10_000_000)


class TestMoveRule:
    def test_100_minutes_from_20_cents_to_16_cents_arrive_as_100(self) -> None:
        assert move_received_seconds(100 * 60, 200_000, 160_000) == 100 * 60

    def test_2000_minutes_from_16_cents_to_20_cents_arrive_as_1600(self) -> None:
        assert move_received_seconds(2000 * 60, 160_000, 200_000) == 1600 * 60

    def test_the_floor_remainder_stays_behind(self) -> None:
        # 125 s × 0.30 / 0.50 = 75 exactly; 1 s × 0.16 / 0.20 = 0.8 → 0
        assert move_received_seconds(125, 300_000, 500_000) == 75
        assert move_received_seconds(1, 160_000, 200_000) == 0

    @given(SECONDS, PRICES, PRICES)
    def test_never_more_seconds_arrive_than_were_sent(self, sent: int, price_a: int,
                                                      price_b: int) -> None:
        assert 0 <= move_received_seconds(sent, price_a, price_b) <= sent

    @given(SECONDS, PRICES, PRICES)
    def test_value_never_increases_toward_an_equal_or_higher_price(
            self, sent: int, price_a: int, price_b: int) -> None:
        low, high = sorted((price_a, price_b))
        received = move_received_seconds(sent, low, high)
        assert received * high <= sent * low
        # and no more than one second of value is kept back by the floor
        assert sent * low < (received + 1) * high

    @given(SECONDS, PRICES, PRICES)
    def test_seconds_arrive_one_to_one_toward_an_equal_or_lower_price(
            self, sent: int, price_a: int, price_b: int) -> None:
        low, high = sorted((price_a, price_b))
        assert move_received_seconds(sent, high, low) == sent

"""Money and minutes: exact parsing, rendering and the rounding rules of SPEC."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.money import (
    convert_seconds,
    micros_to_cents,
    parse_minutes,
    parse_usd,
    purchase_charge_micros,
    render_minutes,
    render_usd,
    round_half_up,
)


class TestParsing:
    @pytest.mark.parametrize("text,seconds", [("1.5", 90), ("80", 4800), (2, 120), ("0.05", 3)])
    def test_minutes_become_whole_seconds(self, text, seconds) -> None:
        assert parse_minutes(text) == seconds

    @pytest.mark.parametrize("bad", ["0.01", 1.5, True, "1e3", "NaN", "-1", "", "1.", " ", None,
                                     "0x10", "1,5", "١٢"])
    def test_bad_minute_amounts_are_refused(self, bad) -> None:
        with pytest.raises(ValidationFailed):
            parse_minutes(bad)

    def test_whole_minutes_only_where_asked(self) -> None:
        with pytest.raises(ValidationFailed):
            parse_minutes("1.5", whole_minutes=True)

    def test_prices_take_at_most_six_decimals(self) -> None:
        assert parse_usd("0.123456") == 123_456
        with pytest.raises(ValidationFailed):
            parse_usd("0.1234567")

    @given(st.integers(min_value=0, max_value=10**12))
    def test_usd_round_trips_exactly(self, micros: int) -> None:
        assert parse_usd(render_usd(micros)) == micros

    @given(st.integers(min_value=0, max_value=10**9))
    def test_minutes_rendering_rounds_down_to_hundredths(self, seconds: int) -> None:
        shown = Decimal(render_minutes(seconds))
        exact = Decimal(seconds) / 60
        assert shown <= exact < shown + Decimal("0.01")


class TestRounding:
    def test_purchase_of_2000_premium_minutes_at_20_cents_is_400_dollars(self) -> None:
        assert purchase_charge_micros(2000, 200_000) == 400_000_000

    def test_charge_rounds_half_up_to_the_cent(self) -> None:
        assert purchase_charge_micros(1, 123_450) == 120_000  # 0.12345 → 0.12
        assert purchase_charge_micros(1, 125_000) == 130_000  # 0.125 → 0.13

    @given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=1, max_value=10**6))
    def test_round_half_up_matches_decimal(self, numerator: int, denominator: int) -> None:
        expected = (Decimal(numerator) / Decimal(denominator)).quantize(
            Decimal(1), rounding="ROUND_HALF_UP")
        assert round_half_up(numerator, denominator) == int(expected)

    @given(st.integers(min_value=0, max_value=10**12))
    def test_cents_never_differ_from_micros_by_more_than_half_a_cent(self, micros: int) -> None:
        assert abs(micros_to_cents(micros) * 10_000 - micros) <= 5_000


class TestMoveConversion:
    def test_2000_minutes_from_16_to_20_cents_arrive_as_1600(self) -> None:
        assert convert_seconds(2000 * 60, 160_000, 200_000) == 1600 * 60

    @given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=100_000,
                                                                  max_value=10_000_000),
           st.integers(min_value=100_000, max_value=10_000_000))
    def test_value_is_never_created(self, sent: int, price_a: int, price_b: int) -> None:
        received = convert_seconds(sent, price_a, price_b)
        assert received * price_b <= sent * price_a < (received + 1) * price_b

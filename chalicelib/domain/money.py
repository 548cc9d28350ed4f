"""Integer money and minutes: parsing, rendering and the rounding rules of SPEC.

Minutes live as integer **seconds**, US dollars as integer **micro-dollars**
(1 USD = 1,000,000). Decimal strings are the only wire form; a binary float is refused
wherever it appears, because ``0.1`` cannot be represented and money must be exact.
"""

from __future__ import annotations

import re
from decimal import Decimal

from chalicelib.domain.errors import ValidationFailed

SECONDS_PER_MINUTE = 60
MICROS_PER_USD = 1_000_000
MICROS_PER_CENT = 10_000

_DECIMAL = re.compile(r"^(?P<sign>-?)(?P<int>[0-9]{1,15})(?:\.(?P<frac>[0-9]{1,12}))?$")


def _parse_decimal(value: object, field: str, *, signed: bool) -> Decimal:
    """Read a plain decimal string or an int; refuse floats, bools, exponents and NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValidationFailed(
            f"{field} must be a decimal string or an integer",
            details={"field": field},
        )
    text = str(value).strip()
    match = _DECIMAL.match(text)
    if match is None:
        raise ValidationFailed(f"{field} is not a plain decimal number", details={"field": field})
    if match["sign"] and not signed:
        raise ValidationFailed(f"{field} must not be negative", details={"field": field})
    return Decimal(text)


def parse_minutes(value: object, field: str = "amount", *, signed: bool = False,
                  whole_minutes: bool = False) -> int:
    """Parse a minute amount into whole seconds.

    ``"1.5"`` is 90 seconds; ``"0.01"`` (0.6 s) is refused because it is not a whole second.
    With ``whole_minutes`` only integral minutes are accepted (purchases, allocations).
    """
    minutes = _parse_decimal(value, field, signed=signed)
    if whole_minutes and minutes != minutes.to_integral_value():
        raise ValidationFailed(f"{field} must be a whole number of minutes",
                               details={"field": field})
    seconds = minutes * SECONDS_PER_MINUTE
    if seconds != seconds.to_integral_value():
        raise ValidationFailed(f"{field} must be a whole number of seconds",
                               details={"field": field})
    return int(seconds)


def parse_whole_number(value: object, field: str = "amount", *, signed: bool = False) -> int:
    """Parse an integral unit count (KP credits)."""
    number = _parse_decimal(value, field, signed=signed)
    if number != number.to_integral_value():
        raise ValidationFailed(f"{field} must be a whole number", details={"field": field})
    return int(number)


def parse_usd(value: object, field: str = "price", *, signed: bool = False,
              max_decimals: int = 6) -> int:
    """Parse a USD decimal string into micro-dollars (at most ``max_decimals`` decimals)."""
    amount = _parse_decimal(value, field, signed=signed)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > max_decimals:
        raise ValidationFailed(f"{field} has more than {max_decimals} decimals",
                               details={"field": field})
    return int(amount * MICROS_PER_USD)


def render_minutes(seconds: int) -> str:
    """Seconds as minutes with 2 decimals, rounded toward zero (display only)."""
    sign = "-" if seconds < 0 else ""
    hundredths = abs(seconds) * 100 // SECONDS_PER_MINUTE
    return f"{sign}{hundredths // 100}.{hundredths % 100:02d}"


def render_usd(micros: int) -> str:
    """Micro-dollars as a decimal string: at least 2 decimals, no trailing noise."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_USD)
    frac_text = f"{frac:06d}".rstrip("0")
    frac_text = frac_text.ljust(2, "0")
    return f"{sign}{whole}.{frac_text}"


def round_half_up(numerator: int, denominator: int) -> int:
    """Integer division rounding half away from zero (for non-negative inputs, half up)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    return sign * ((abs(numerator) * 2 + denominator) // (2 * denominator))


def micros_to_cents(micros: int) -> int:
    """Micro-dollars to whole cents, half up: what Stripe is asked to charge."""
    return round_half_up(micros, MICROS_PER_CENT)


def cents_to_micros(cents: int) -> int:
    """Whole cents to micro-dollars."""
    return cents * MICROS_PER_CENT


def minutes_cost(seconds: int, price_micros_per_minute: int) -> int:
    """Exact value of ``seconds`` at a per-minute price, half up to the micro-dollar."""
    return round_half_up(seconds * price_micros_per_minute, SECONDS_PER_MINUTE)


def purchase_charge_micros(minutes: int, price_micros_per_minute: int) -> int:
    """The charge for a purchase: N × price, rounded to whole cents half up (SPEC)."""
    return cents_to_micros(micros_to_cents(minutes * price_micros_per_minute))


def convert_seconds(sent_seconds: int, from_price: int, to_price: int) -> int:
    """Value-preserving conversion: floor(sent × price(A) / price(B)) seconds."""
    if from_price <= 0 or to_price <= 0:
        raise ValueError("prices must be positive")
    return sent_seconds * from_price // to_price


def move_received_seconds(sent_seconds: int, from_price: int, to_price: int) -> int:
    """What a move (or a removal's transfer) delivers: min(sent, floor(sent × A / B)).

    Minutes are platform supply paid for at base cost, so a move never creates any: toward
    an equal or higher price the USD value is kept (fewer seconds arrive), toward a lower
    price seconds arrive 1:1 (their margin was already paid to the agency as profit).
    """
    return min(sent_seconds, convert_seconds(sent_seconds, from_price, to_price))

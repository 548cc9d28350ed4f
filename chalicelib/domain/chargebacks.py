"""Refunds and disputes of one card charge: what they hold and what they take back.

Pure: no I/O. The services read a purchase (``ChargeState``) and a dispute record, ask this
module what an event does, and write the answer in one transaction.

SPEC "Profit":
- a refund or a lost dispute of X out of a charge C reverses profit × X / C (micro-dollars,
  half up). Shares are computed on the cumulative amount taken back, so partial refunds add
  up exactly to the whole profit, and refunds plus lost disputes never take back more than C;
- a dispute holds its own share (profit × disputed / C, rounded down: several open disputes
  never hold more than the profit) when it is created; ``won`` or ``warning_closed`` releases
  that hold, ``lost`` turns it into the reversal (any rounding micro-dollar of the reversal
  beyond the hold comes from the available profit);
- Stripe may deliver ``created`` and ``closed`` in either order, or twice: a dispute's record
  (``open`` / ``closed``) makes every later event of a closed dispute a no-op, so the end state
  is the same in every order and nothing stays held once the dispute is closed;
- a lost dispute is not a refund: Stripe's ``amount_refunded`` counts refunds only, so lost
  disputes are kept apart (``dispute_lost_cents``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from chalicelib.domain.money import round_half_up

DISPUTE_CREATED = "charge.dispute.created"
DISPUTE_CLOSED = "charge.dispute.closed"

#: Closed dispute statuses that leave the money with us: the held profit is released.
RELEASING_OUTCOMES = frozenset({"won", "warning_closed"})
LOST = "lost"
FINAL_OUTCOMES = RELEASING_OUTCOMES | {LOST}


def profit_share(profit_micros: int, part_cents: int, charge_cents: int) -> int:
    """profit × part / charge, half up (``part`` clamped to ``[0, charge]``)."""
    if charge_cents <= 0:
        return 0
    part = min(max(part_cents, 0), charge_cents)
    return round_half_up(profit_micros * part, charge_cents)


def held_share(profit_micros: int, part_cents: int, charge_cents: int) -> int:
    """What a dispute of ``part`` holds: profit × part / charge, rounded down."""
    if charge_cents <= 0:
        return 0
    part = min(max(part_cents, 0), charge_cents)
    return profit_micros * part // charge_cents


def seconds_share(seconds: int, part_cents: int, charge_cents: int) -> int:
    """The seconds bought by ``part`` of the charge, rounded down (never more than bought)."""
    if charge_cents <= 0:
        return 0
    part = min(max(part_cents, 0), charge_cents)
    return seconds * part // charge_cents


@dataclass(frozen=True)
class ChargeState:
    """What a purchase records of its charge and of what went back to the card."""

    charge_cents: int
    profit_micros: int
    refunded_cents: int = 0  # Stripe's ``amount_refunded``: refunds only
    dispute_lost_cents: int = 0  # disputes lost, summed
    profit_reversed_micros: int = 0
    profit_held_micros: int = 0  # held by the open disputes together

    @property
    def taken_cents(self) -> int:
        """Cents gone back to the card in all (refunds and lost disputes, at most C)."""
        return min(self.refunded_cents + self.dispute_lost_cents, self.charge_cents)

    @property
    def unheld_profit_micros(self) -> int:
        """The purchase's profit neither reversed nor held (what a new hold may take)."""
        return max(self.profit_micros - self.profit_reversed_micros
                   - self.profit_held_micros, 0)


@dataclass(frozen=True)
class TakeBack:
    """Money going back to the card (a refund, a lost dispute) and its profit effect.

    ``reversed_micros`` leaves the profit for good, taken from held profit first
    (``from_held_micros``); ``released_micros`` is held profit that goes back to the available
    profit (the part of a lost dispute's hold that its reversal did not need).
    """

    taken_before_cents: int
    taken_after_cents: int
    reversed_micros: int
    from_held_micros: int = 0
    released_micros: int = 0

    @property
    def cash_cents(self) -> int:
        """Cents newly returned to the card."""
        return self.taken_after_cents - self.taken_before_cents

    @property
    def available_delta_micros(self) -> int:
        """Change of the agency's available profit."""
        return self.released_micros - (self.reversed_micros - self.from_held_micros)

    @property
    def held_delta_micros(self) -> int:
        """Change of the purchase's held profit."""
        return -(self.from_held_micros + self.released_micros)


def _reversal(state: ChargeState, taken_after: int) -> int:
    """Profit still to reverse so that the total reversed is the share of ``taken_after``."""
    return max(profit_share(state.profit_micros, taken_after, state.charge_cents)
               - state.profit_reversed_micros, 0)


def apply_refund(state: ChargeState, amount_refunded_cents: int
                 ) -> tuple[ChargeState, TakeBack] | None:
    """A ``charge.refunded`` whose cumulative ``amount_refunded`` is given.

    None when it is not newer than what is recorded (a late or repeated event). Refunds take
    from held profit first (a refund settles that money for good).
    """
    if amount_refunded_cents <= state.refunded_cents:
        return None
    after = replace(state, refunded_cents=amount_refunded_cents)
    taken_after = after.taken_cents
    reversed_micros = _reversal(state, taken_after)
    from_held = min(reversed_micros, state.profit_held_micros)
    take = TakeBack(state.taken_cents, taken_after, reversed_micros, from_held)
    return _applied(after, take), take


def _applied(state: ChargeState, take: TakeBack) -> ChargeState:
    return replace(state,
                   profit_reversed_micros=state.profit_reversed_micros + take.reversed_micros,
                   profit_held_micros=state.profit_held_micros + take.held_delta_micros)


class DisputeStatus(StrEnum):
    """Our record of a dispute."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class DisputeRecord:
    """One dispute as recorded: its state, the profit it holds, its outcome once closed."""

    status: DisputeStatus
    amount_cents: int
    held_micros: int = 0
    outcome: str | None = None


class DisputeStep(StrEnum):
    """What a dispute event does."""

    HOLD = "hold"  # opened: its share of the profit is held
    RELEASE = "release"  # closed in our favour: its hold goes back to the profit
    LOSE = "lose"  # closed lost: taken back like a refund, its hold becomes the reversal
    NOTHING = "nothing"  # a repeat, a late ``created``, or a status that closes nothing


def dispute_step(recorded: DisputeStatus | None, event_type: str, status: str) -> DisputeStep:
    """The step an event takes, given the dispute's record (None: never seen).

    A closed dispute never changes again. A ``created`` event whose object already carries a
    final status (an object read after the close) closes it at once.
    """
    if recorded is DisputeStatus.CLOSED:
        return DisputeStep.NOTHING
    final = status in FINAL_OUTCOMES
    if event_type == DISPUTE_CREATED:
        if recorded is not None:
            return DisputeStep.NOTHING
        if not final:
            return DisputeStep.HOLD
    elif event_type != DISPUTE_CLOSED or not final:
        return DisputeStep.NOTHING
    return DisputeStep.LOSE if status == LOST else DisputeStep.RELEASE


@dataclass(frozen=True)
class DisputeEffect:
    """The outcome of one dispute event: new purchase state, new record, profit moves.

    ``hold_micros`` moves available → held (negative: a release); ``take_back`` is set for a
    lost dispute. ``record`` is None when nothing changes.
    """

    step: DisputeStep
    state: ChargeState
    record: DisputeRecord | None
    hold_micros: int = 0
    take_back: TakeBack | None = None


def apply_dispute_event(state: ChargeState, record: DisputeRecord | None, event_type: str,
                        status: str, amount_cents: int) -> DisputeEffect:
    """What a dispute event does to the purchase (``amount_cents``: the disputed amount)."""
    step = dispute_step(record.status if record else None, event_type, status)
    if step is DisputeStep.NOTHING:
        return DisputeEffect(step, state, None)
    amount = min(max(amount_cents, 0), state.charge_cents)
    if step is DisputeStep.HOLD:
        hold = min(held_share(state.profit_micros, amount, state.charge_cents),
                   state.unheld_profit_micros)
        return DisputeEffect(
            step, replace(state, profit_held_micros=state.profit_held_micros + hold),
            DisputeRecord(DisputeStatus.OPEN, amount, hold), hold_micros=hold)
    # A hold may have been used by a refund meanwhile: release no more than is still held.
    held = min(record.held_micros if record else 0, state.profit_held_micros)
    closed = DisputeRecord(DisputeStatus.CLOSED, amount, 0, status)
    if step is DisputeStep.RELEASE:
        return DisputeEffect(step, replace(state,
                                           profit_held_micros=state.profit_held_micros - held),
                             closed, hold_micros=-held)
    after = replace(state, dispute_lost_cents=state.dispute_lost_cents + amount)
    reversed_micros = _reversal(state, after.taken_cents)
    from_held = min(reversed_micros, held)
    take = TakeBack(state.taken_cents, after.taken_cents, reversed_micros, from_held,
                    held - from_held)
    return DisputeEffect(step, _applied(after, take), closed, take_back=take)

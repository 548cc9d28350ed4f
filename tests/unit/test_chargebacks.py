"""Refund and dispute rules (SPEC "Profit"), pure: shares, holds, event order."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.chargebacks import (
    DISPUTE_CLOSED,
    DISPUTE_CREATED,
    ChargeState,
    DisputeRecord,
    DisputeStatus,
    DisputeStep,
    apply_dispute_event,
    apply_refund,
    dispute_step,
    held_share,
    profit_share,
    seconds_share,
)


def spec_share(profit: int, part: int, charge: int) -> int:
    """SPEC: profit × X / C in micro-dollars, half up (computed with exact fractions)."""
    exact = Fraction(profit * part, charge)
    return int(exact + Fraction(1, 2)) if exact >= 0 else -int(-exact + Fraction(1, 2))


charges = st.integers(min_value=50, max_value=10_000_000)


@st.composite
def charge_states(draw: st.DrawFn) -> ChargeState:
    charge = draw(charges)
    # Profit is at most the charge (in micro-dollars): price ≥ base cost.
    profit = draw(st.integers(min_value=0, max_value=charge * 10_000))
    return ChargeState(charge_cents=charge, profit_micros=profit)


class TestProfitShare:
    @given(charge_states(), st.data())
    def test_share_is_profit_times_part_over_charge_half_up(self, state: ChargeState,
                                                           data: st.DataObject) -> None:
        part = data.draw(st.integers(min_value=0, max_value=state.charge_cents))
        share = profit_share(state.profit_micros, part, state.charge_cents)
        assert share == spec_share(state.profit_micros, part, state.charge_cents)
        assert 0 <= share <= state.profit_micros

    @given(charge_states())
    def test_the_whole_charge_is_the_whole_profit(self, state: ChargeState) -> None:
        assert profit_share(state.profit_micros, state.charge_cents,
                            state.charge_cents) == state.profit_micros
        assert profit_share(state.profit_micros, state.charge_cents + 1,
                            state.charge_cents) == state.profit_micros

    def test_half_a_micro_dollar_rounds_up(self) -> None:
        assert profit_share(70_000, 3, 119) == 1_765  # 1,764.7…
        assert profit_share(1, 1, 2) == 1  # exactly one half

    @given(st.integers(min_value=0, max_value=10**9), charges, st.data())
    def test_minutes_share_never_exceeds_what_was_bought(self, seconds: int, charge: int,
                                                        data: st.DataObject) -> None:
        part = data.draw(st.integers(min_value=0, max_value=charge))
        share = seconds_share(seconds, part, charge)
        assert 0 <= share <= seconds
        assert share == int(Fraction(seconds * part, charge))


class TestRefunds:
    @given(charge_states(), st.data())
    def test_partial_refunds_add_up_to_the_share_of_their_total(
            self, state: ChargeState, data: st.DataObject) -> None:
        cumulative = sorted(data.draw(st.lists(
            st.integers(min_value=1, max_value=state.charge_cents), min_size=1, max_size=6)))
        reversed_total = 0
        for amount in cumulative:
            result = apply_refund(state, amount)
            if result is None:
                continue
            state, take = result
            reversed_total += take.reversed_micros
            assert take.available_delta_micros + take.held_delta_micros == -take.reversed_micros
        assert reversed_total == spec_share(state.profit_micros, cumulative[-1],
                                            state.charge_cents)
        assert state.profit_reversed_micros == reversed_total

    @given(charge_states())
    def test_an_older_or_repeated_refund_changes_nothing(self, state: ChargeState) -> None:
        half = state.charge_cents // 2 or 1
        state, _take = apply_refund(state, half)  # type: ignore[misc]
        assert apply_refund(state, half) is None
        assert apply_refund(state, half - 1) is None


class TestDisputeSteps:
    def test_the_step_table(self) -> None:
        open_, closed = DisputeStatus.OPEN, DisputeStatus.CLOSED
        assert dispute_step(None, DISPUTE_CREATED, "needs_response") is DisputeStep.HOLD
        assert dispute_step(open_, DISPUTE_CREATED, "needs_response") is DisputeStep.NOTHING
        assert dispute_step(closed, DISPUTE_CREATED, "needs_response") is DisputeStep.NOTHING
        assert dispute_step(open_, DISPUTE_CLOSED, "won") is DisputeStep.RELEASE
        assert dispute_step(open_, DISPUTE_CLOSED, "warning_closed") is DisputeStep.RELEASE
        assert dispute_step(open_, DISPUTE_CLOSED, "lost") is DisputeStep.LOSE
        assert dispute_step(None, DISPUTE_CLOSED, "lost") is DisputeStep.LOSE
        assert dispute_step(None, DISPUTE_CLOSED, "won") is DisputeStep.RELEASE
        assert dispute_step(closed, DISPUTE_CLOSED, "lost") is DisputeStep.NOTHING
        assert dispute_step(open_, DISPUTE_CLOSED, "under_review") is DisputeStep.NOTHING
        # A created event whose object was read after the close closes it at once.
        assert dispute_step(None, DISPUTE_CREATED, "lost") is DisputeStep.LOSE

    def test_disputes_never_hold_more_than_the_profit(self) -> None:
        # Two halves of a 1-micro-dollar profit: rounded down, the holds stay within it.
        state = ChargeState(charge_cents=50, profit_micros=1)
        first = apply_dispute_event(state, None, DISPUTE_CREATED, "needs_response", 25)
        second = apply_dispute_event(first.state, None, DISPUTE_CREATED, "needs_response", 25)
        assert first.hold_micros + second.hold_micros <= 1
        assert held_share(80_000_000, 10_000, 40_000) == 20_000_000

    def test_a_partial_dispute_holds_its_share_and_a_loss_reverses_only_that(self) -> None:
        # SPEC's example: USD 100 lost out of a USD 400 charge with USD 80 profit.
        state = ChargeState(charge_cents=40_000, profit_micros=80_000_000)
        opened = apply_dispute_event(state, None, DISPUTE_CREATED, "needs_response", 10_000)
        assert opened.hold_micros == 20_000_000
        lost = apply_dispute_event(opened.state, opened.record, DISPUTE_CLOSED, "lost", 10_000)
        assert lost.take_back is not None
        assert lost.take_back.reversed_micros == 20_000_000
        assert lost.take_back.cash_cents == 10_000
        assert lost.state.profit_held_micros == 0
        assert lost.state.refunded_cents == 0  # a lost dispute is not a refund
        assert lost.state.dispute_lost_cents == 10_000


@st.composite
def dispute_histories(draw: st.DrawFn
                      ) -> tuple[ChargeState, list[tuple[str, ...]], int, bool]:
    """A charge, and its events (disputes, each created and closed once or twice, plus
    refunds) in any order; also what is taken back in the end, and whether the amounts fit
    in the charge (as Stripe's do: it never disputes and refunds more than was charged)."""
    state = draw(charge_states())
    events: list[tuple[str, ...]] = []
    lost_total = 0
    for n in range(draw(st.integers(min_value=1, max_value=3))):
        amount = draw(st.integers(min_value=1, max_value=state.charge_cents))
        outcome = draw(st.sampled_from(["won", "warning_closed", "lost"]))
        lost_total += amount if outcome == "lost" else 0
        events += [("created", f"dp_{n}", str(amount))] * draw(st.integers(1, 2))
        events += [("closed", f"dp_{n}", str(amount), outcome)] * draw(st.integers(1, 2))
    refunds = draw(st.lists(st.integers(min_value=1, max_value=state.charge_cents),
                            max_size=3))
    events += [("refund", str(amount)) for amount in refunds]
    order = draw(st.permutations(events))
    disputed = sum(int(e[2]) for e in set(events) if e[0] == "created")
    taken = min(max(refunds, default=0) + lost_total, state.charge_cents)
    return state, list(order), taken, disputed + max(refunds, default=0) <= state.charge_cents


class TestDisputeEventOrder:
    @given(dispute_histories())
    def test_the_end_state_is_the_same_in_every_order_and_nothing_stays_held(
            self, history: tuple[ChargeState, list[tuple[str, ...]], int, bool]) -> None:
        state, events, taken, fits = history
        profit = state.profit_micros
        records: dict[str, DisputeRecord] = {}
        for event in events:
            before = state
            if event[0] == "refund":
                result = apply_refund(state, int(event[1]))
                if result is not None:
                    state = result[0]
            else:
                kind = DISPUTE_CREATED if event[0] == "created" else DISPUTE_CLOSED
                status = "needs_response" if event[0] == "created" else event[3]
                effect = apply_dispute_event(state, records.get(event[1]), kind, status,
                                             int(event[2]))
                if effect.record is not None:
                    records[event[1]] = effect.record
                state = effect.state
            assert state.profit_held_micros >= 0
            assert state.profit_reversed_micros >= before.profit_reversed_micros
            if fits:  # what is reversed or held never exceeds the profit
                assert state.profit_reversed_micros + state.profit_held_micros <= profit
        assert state.profit_held_micros == 0
        assert state.profit_reversed_micros == spec_share(profit, taken, state.charge_cents)
        assert all(record.status is DisputeStatus.CLOSED for record in records.values())

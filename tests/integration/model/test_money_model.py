"""Issue 17: a model-based test of the money rules (SPEC "Money rules", "Profit", "Payouts",
"Sub-account lifecycle", "Reporting").

A Hypothesis state machine drives one agency with two or three sub-accounts at different prices
through the HTTP routes (``chalice.test.Client``), the Stripe emulator over HTTP and signed
webhook events in Stripe's own shapes, interleaving purchases and auto-recharges, refunds,
disputes (created and closed in either order, duplicated), moves, usage with and without holds,
hold expiry, suspension, removal and payout sweeps with failing transfers and bank payouts.
After every step it reads the ledger once and checks the SPEC's invariants.

``make test`` runs a bounded search (8 examples of 25 steps, under a minute on 2 cores);
``MODEL_EXAMPLES=500`` (and ``MODEL_STEPS``) run a longer one, ``MODEL_VERBOSE=1`` shows it.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import pytest
import requests
from hypothesis import HealthCheck, Verbosity, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.billing_oracle import cycle_on, next_cycle_after
from tests.conftest import reset_table
from tests.e2e.payments.support import add_card, new_subaccount
from tests.helpers import AgencyFixture, call, create_agency
from tests.integration.model.support import (
    ASSET_OF_TIER,
    BASE_MICROS,
    MINUTE_ASSETS,
    TIERS,
    DisputeModel,
    PurchaseModel,
    Snapshot,
    StripeEvents,
    charge_cents,
    entry_day,
    margin_micros,
    received_seconds,
    snapshot,
    stripe_request,
    usd_micros,
    webhooks_off,
)

ANCHOR = "2026-01-31"
HOLD_GRACE = timedelta(minutes=30)  # README "Call holds": released hold_seconds + 30 min after
# Secondary prices per minute, micro-USD: equal to, just above and well above the base cost,
# so that moves go toward higher, equal and lower prices.
BASIC_PRICES = (100_000, 120_000, 250_000)
PREMIUM_PRICES = (160_000, 200_000, 330_000)
# Small purchases, and large ones whose profit passes the USD 100 payout threshold.
MINUTES = st.one_of(st.integers(1, 60), st.integers(2000, 6000))
MAX_CALL_SECONDS = 86_400  # SPEC: a usage record's duration_seconds
PROFIT_CODES = frozenset({"purchase", "refund", "dispute", "dispute_won", "dispute_lost"})


#: Rule name → steps run, over the session (printed by the test: which rules the search reached).
STEPS: Counter[str] = Counter()
F = TypeVar("F", bound=Callable[..., None])


def counted(function: F) -> F:
    """Count the rule's runs in ``STEPS``."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        STEPS[function.__name__] += 1
        function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def price_text(micros: int) -> str:
    return str(Decimal(micros) / 1_000_000)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def minutes_text(seconds: int) -> str:
    """Seconds as the API's decimal minutes (exact: callers pass multiples of 3 seconds)."""
    return str(Decimal(seconds) / 60)


@dataclass
class SubModel:
    """A sub-account as the model knows it."""

    sid: str
    prices: dict[str, int]  # tier → micro-USD per minute
    primary: bool = False
    status: str = "active"  # active | suspended | removed
    card_pm: str = ""  # the card that pays (the default one)
    failing_pm: str | None = None

    @property
    def live(self) -> bool:
        return self.status != "removed"


@dataclass
class HoldModel:
    call_id: str
    sub: SubModel
    tier: str
    hold_seconds: int
    expired: bool = False  # released by ``expire_every_hold`` (past every expiry)


class MoneyModel(RuleBasedStateMachine):
    """One agency per example; the table and the emulator are reset before each."""

    client: ClassVar[Any]
    emulator: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.ready = False
        self.subs: list[SubModel] = []
        self.purchases: dict[str, PurchaseModel] = {}
        self.granted = {asset: 0 for asset in (*MINUTE_ASSETS, "kp_credits")}
        self.holds: list[HoldModel] = []
        self.recorded_calls: list[dict[str, Any]] = []
        self.snap: Snapshot | None = None
        # ``fail_next`` calls not consumed yet (a queue): the next transfers fail, whoever
        # sends them
        self.transfer_failures_queued = 0

    # -- setup -------------------------------------------------------------------------------

    @initialize(prices=st.lists(st.tuples(st.sampled_from(BASIC_PRICES),
                                          st.sampled_from(PREMIUM_PRICES)),
                                min_size=1, max_size=2))
    def an_agency_with_priced_subaccounts(self, prices: list[tuple[int, int]]) -> None:
        reset_table()
        requests.post(f"{self.emulator}/_devstack/reset", timeout=10)
        # transfers draw on the platform's Stripe balance
        stripe_request(self.emulator, "POST", "/v1/test_helpers/balance/add_available",
                       amount=10_000_000)
        self.events = StripeEvents(self.client, self.emulator)
        self.agency: AgencyFixture = create_agency(self.client, subscription_start=ANCHOR)
        self.subs.append(SubModel(self.agency.primary_id, dict(BASE_MICROS), primary=True))
        for basic, premium in prices:
            sid = new_subaccount(self.client, self.agency, basic=price_text(basic),
                                 premium=price_text(premium))
            self.subs.append(SubModel(sid, {"basic": basic, "premium": premium}))
        for sub in self.subs:
            sub.card_pm = add_card(self.client, self.agency.owner_token, sub.sid)["id"]
            if not sub.primary:
                sub.failing_pm = add_card(self.client, self.agency.owner_token, sub.sid,
                                          "pm_card_chargeCustomerFail")["id"]
        self._connect()
        self.sweep_day = next_cycle_after(date.fromisoformat(ANCHOR), datetime.now(UTC).date())
        self.pump()
        self.ready = True

    def _connect(self) -> None:
        started = call(self.client, "POST", "/v1/agency/connect/onboarding", token=self.token)
        assert started.status == 200, started.body
        self.account_id = started.body["account_id"]
        answer = stripe_request(self.emulator, "POST", f"/v1/test_helpers/accounts/"
                                f"{self.account_id}/complete_onboarding")
        assert answer.status_code == 200, answer.text
        self.pump()
        state = call(self.client, "GET", "/v1/agency/connect", token=self.token).body
        assert state["status"] == "connected", state

    @property
    def token(self) -> str:
        return self.agency.owner_token

    def pump(self, keep: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Deliver every new emulator event, in order, except those of the ``keep`` types
        (returned: the machine delivers those itself, when a rule says so)."""
        kept = []
        for event in self.events.fresh():
            if event["type"] in keep:
                kept.append(event)
            else:
                self.events.deliver(event)
        return kept

    # -- choices -----------------------------------------------------------------------------

    def _live(self, *, secondary: bool = False, status: str | None = None) -> list[SubModel]:
        return [s for s in self.subs if s.live and not (secondary and s.primary)
                and (status is None or s.status == status)]

    def _funded(self, asset: str) -> list[SubModel]:
        """Live sub-accounts with a balance of ``asset`` (as of the last step)."""
        assert self.snap is not None
        return [s for s in self._live() if self.snap.balance(f"sub:{s.sid}", asset) > 0]

    def has_live_secondary(self) -> bool:
        return bool(self._live(secondary=True))

    # -- purchases and auto-recharge ---------------------------------------------------------

    @rule(data=st.data(), tier=st.sampled_from(TIERS), minutes=MINUTES,
          declined=st.sampled_from((False, False, False, True)))
    @counted
    def purchase(self, data: st.DataObject, tier: str, minutes: int, declined: bool) -> None:
        self._purchase(data.draw(st.sampled_from(self._live())), tier, minutes, declined)

    def _purchase(self, sub: SubModel, tier: str, minutes: int, declined: bool) -> bool:
        """Buy, check the answer against SPEC and remember the charge; True when credited."""
        body: dict[str, Any] = {"tier": tier, "minutes": minutes}
        if declined and sub.failing_pm:  # a card that attaches, then declines every charge
            body["payment_method_id"] = sub.failing_pm
        answer = call(self.client, "POST", f"/v1/subaccounts/{sub.sid}/purchases",
                      token=self.token, body=body)
        self.pump()
        if sub.status == "suspended" and answer.status == 423:
            return False
        if "payment_method_id" in body:
            assert answer.status == 402, answer.body  # never credited: checked by Σ bought
            return False
        assert answer.status == 201, answer.body
        expected = charge_cents(minutes, sub.prices[tier])
        assert usd_micros(answer.body["amount_usd"]) == expected * 10_000, answer.body
        margin = margin_micros(minutes, tier, sub.prices[tier])
        assert usd_micros(answer.body["profit_usd"]) == margin, answer.body
        self.purchases[answer.body["id"]] = PurchaseModel(
            answer.body["id"], sub.sid, tier, minutes, expected, margin,
            answer.body["payment_intent_id"])
        return True

    @rule(data=st.data(), tier=st.sampled_from(TIERS), threshold=st.integers(1, 60),
          recharge=st.integers(1, 120), enabled=st.booleans())
    @counted
    def auto_recharge_rule(self, data: st.DataObject, tier: str, threshold: int,
                           recharge: int, enabled: bool) -> None:
        sub = data.draw(st.sampled_from(self._live()))
        answer = call(self.client, "PUT", f"/v1/subaccounts/{sub.sid}/auto-recharge",
                      token=self.token, body={"tier": tier, "threshold_minutes": threshold,
                                              "recharge_minutes": recharge,
                                              "enabled": enabled})
        assert answer.status in ((200, 423) if sub.status == "suspended" else (200,)), answer.body

    def _set_default_card(self, sub: SubModel, pm: str) -> None:
        answer = call(self.client, "POST",
                      f"/v1/subaccounts/{sub.sid}/payment-methods/{pm}/default", token=self.token)
        assert answer.status == 200, answer.body

    @precondition(lambda self: bool(self._live(status="active")) if self.ready else False)
    @rule(data=st.data(), tier=st.sampled_from(TIERS), recharge=st.integers(1, 120),
          declined=st.sampled_from((False, False, True)))
    @counted
    def threshold_crossing(self, data: st.DataObject, tier: str, recharge: int,
                           declined: bool) -> None:
        """Steering (the search alone hardly ever lines these up): an enabled rule on a funded
        active sub-account whose balance is at or above the threshold, then one usage debit
        that takes it below: the top-up starts at once (declined when the default card is
        the failing one), then the ``auto-recharge`` job runs as its schedule would."""
        sub = data.draw(st.sampled_from(self._live(status="active")))
        asset = ASSET_OF_TIER[tier]
        assert self.snap is not None
        balance = self.snap.balance(f"sub:{sub.sid}", asset)
        if balance < 60:  # fund it: the threshold is at least one minute
            minutes = data.draw(st.integers(1, 120))
            self._grant(sub, asset, minutes)
            balance += minutes * 60
        # at or below the balance, and near enough that one call (≤ 86400 s) crosses it
        lowest = max(1, -(-(balance - MAX_CALL_SECONDS + 600) // 60))
        threshold = data.draw(st.integers(lowest, balance // 60)) * 60
        declined = declined and sub.failing_pm is not None
        if declined:
            assert sub.failing_pm is not None
            self._set_default_card(sub, sub.failing_pm)
        answer = call(self.client, "PUT", f"/v1/subaccounts/{sub.sid}/auto-recharge",
                      token=self.token, body={"tier": tier, "threshold_minutes": threshold // 60,
                                              "recharge_minutes": recharge, "enabled": True})
        assert answer.status == 200, answer.body
        below = data.draw(st.integers(1, min(threshold, 600)))  # how far below it ends
        before = {p.purchase_id for p in snapshot(self.agency.agency_id).purchases}
        result = self._usage({
            "call_id": f"call-{uuid.uuid4().hex}", "subaccount_id": sub.sid, "tier": tier,
            "duration_seconds": balance - threshold + below, "direction": "outbound",
            "status": "completed", "started_at": iso(datetime.now(UTC))})
        assert result["status"] == "recorded", result
        job = call(self.client, "POST", "/v1/platform/jobs/auto-recharge/runs", platform=True,
                   body={"as_of": iso(datetime.now(UTC))})
        assert job.status == 200, job.body
        assert job.body["failed"] == 0, job.body
        self.pump()
        if declined:
            self._set_default_card(sub, sub.card_pm)  # purchases expect a paying card
        # exactly one top-up for this crossing, of at least recharge_minutes
        [top_up] = [p for p in snapshot(self.agency.agency_id).purchases
                    if p.purchase_id not in before]
        assert (top_up.source, top_up.subaccount_id, top_up.tier) == (
            "auto_recharge", sub.sid, tier), top_up.purchase_id
        assert top_up.status == ("failed" if declined else "succeeded"), top_up.status
        seconds = top_up.basic_seconds if tier == "basic" else top_up.premium_seconds
        assert seconds == max(recharge * 60, -(-below // 60) * 60), (seconds, recharge, below)
        STEPS["~auto_recharge_declined"] += declined

    # -- grants, usage, holds ----------------------------------------------------------------

    @rule(data=st.data(), asset=st.sampled_from((*MINUTE_ASSETS, "kp_credits")),
          amount=st.integers(1, 300))
    @counted
    def platform_grant(self, data: st.DataObject, asset: str, amount: int) -> None:
        self._grant(data.draw(st.sampled_from(self._live())), asset, amount)

    def _grant(self, sub: SubModel, asset: str, amount: int) -> None:
        """The platform credits ``amount`` minutes (or credits) to ``sub``."""
        answer = call(self.client, "POST", "/v1/platform/adjustments", platform=True,
                      body={"subaccount_id": sub.sid, "asset": asset, "amount": str(amount),
                            "reason": "model grant"})
        assert answer.status == 201, answer.body
        self.granted[asset] += amount * (60 if asset in MINUTE_ASSETS else 1)

    def _usage(self, record: dict[str, Any]) -> dict[str, Any]:
        answer = call(self.client, "POST", "/v1/platform/usage", platform=True,
                      body={"records": [record]})
        self.pump()  # an auto-recharge may have charged a card
        assert answer.status == 200, answer.body
        return answer.body["results"][0]

    @rule(data=st.data(), tier=st.sampled_from(TIERS), seconds=st.integers(1, 5400),
          replay=st.booleans())
    @counted
    def usage(self, data: st.DataObject, tier: str, seconds: int, replay: bool) -> None:
        sub = data.draw(st.sampled_from(self.subs))
        record = {"call_id": f"call-{uuid.uuid4().hex}", "subaccount_id": sub.sid,
                  "tier": tier, "duration_seconds": seconds, "direction": "outbound",
                  "status": "completed", "started_at": iso(datetime.now(UTC))}
        result = self._usage(record)
        if not sub.live:
            assert (result["status"], result["error"]["code"]) == (
                "rejected", "subaccount_removed"), result
            return
        assert result["status"] == "recorded", result
        if replay:  # a replay never debits twice
            assert self._usage(record)["status"] == "duplicate"

    @rule(data=st.data(), tier=st.sampled_from(TIERS), hold_seconds=st.integers(1, 3600))
    @counted
    def authorize_call(self, data: st.DataObject, tier: str, hold_seconds: int) -> None:
        sub = data.draw(st.sampled_from(self._funded(ASSET_OF_TIER[tier]) or self._live()))
        call_id = f"held-{uuid.uuid4().hex}"
        answer = call(self.client, "POST", "/v1/platform/calls/authorize", platform=True,
                      body={"subaccount_id": sub.sid, "tier": tier, "call_id": call_id,
                            "hold_seconds": hold_seconds})
        assert answer.status == 200, answer.body
        if sub.status == "suspended":
            assert answer.body["allowed"] is False, answer.body
        if answer.body.get("hold"):
            assert answer.body["hold"]["seconds"] <= hold_seconds
            self.holds.append(HoldModel(call_id, sub, tier, hold_seconds))

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data(), extra=st.integers(-3600, 300))
    @counted
    def settle_held_call(self, data: st.DataObject, extra: int) -> None:
        hold = data.draw(st.sampled_from(self.holds))
        self.holds.remove(hold)
        record = {"call_id": hold.call_id, "subaccount_id": hold.sub.sid, "tier": hold.tier,
                  "duration_seconds": max(hold.hold_seconds + extra, 1),
                  "direction": "inbound", "status": "completed",
                  "started_at": iso(datetime.now(UTC))}
        result = self._usage(record)
        if hold.sub.live:
            assert result["status"] == "recorded", result
        else:
            assert result["status"] == "rejected", result

    @precondition(lambda self: bool(self.holds))
    @rule(after_seconds=st.integers(0, 4000))
    @counted
    def expire_holds(self, after_seconds: int) -> None:
        as_of = datetime.now(UTC) + HOLD_GRACE + timedelta(seconds=after_seconds)
        answer = call(self.client, "POST", "/v1/platform/jobs/call-holds/runs", platform=True,
                      body={"as_of": iso(as_of)})
        assert answer.status == 200, answer.body
        assert answer.body["failed"] == 0, answer.body
        STEPS["~holds_expired"] += answer.body["succeeded"]

    @precondition(lambda self: any(not h.expired for h in self.holds))
    @rule()
    @counted
    def expire_every_hold(self) -> None:
        """Steering: the call-holds job at a time past every hold's expiry releases them all."""
        longest = max(h.hold_seconds for h in self.holds)
        as_of = datetime.now(UTC) + HOLD_GRACE + timedelta(seconds=longest + 60)
        answer = call(self.client, "POST", "/v1/platform/jobs/call-holds/runs", platform=True,
                      body={"as_of": iso(as_of)})
        assert answer.status == 200, answer.body
        assert answer.body["failed"] == 0, answer.body
        STEPS["~holds_expired"] += answer.body["succeeded"]
        for hold in self.holds:  # their calls may still report usage: settle_held_call
            hold.expired = True
        held = {k: v for k, v in snapshot(self.agency.agency_id).balances.items()
                if v and k[0].startswith("held:")}
        assert not held, held

    # -- moves -------------------------------------------------------------------------------

    @rule(data=st.data(), asset=st.sampled_from((*MINUTE_ASSETS, "kp_credits")),
          share=st.integers(0, 120))
    @counted
    def move(self, data: st.DataObject, asset: str, share: int) -> None:
        live, funded = self._live(), self._funded(asset)
        if len(live) < 2 or not funded:
            return
        source = data.draw(st.sampled_from(funded))
        target = data.draw(st.sampled_from([s for s in live if s is not source]))
        assert self.snap is not None
        balance = self.snap.balance(f"sub:{source.sid}", asset)
        # share > 100: more than there is, which must be refused
        amount = balance * share // 100
        if asset in MINUTE_ASSETS:
            amount -= amount % 3  # whole seconds as exact decimal minutes
            text = minutes_text(amount)
        else:
            text = str(amount)
        if amount <= 0:
            return
        quote = call(self.client, "POST", "/v1/transfers/quotes", token=self.token, body={
            "from_subaccount_id": source.sid, "to_subaccount_id": target.sid,
            "asset": asset, "amount": text})
        too_much = amount > balance
        # SPEC blocks a suspended sub-account's own users, not the agency: either answer
        suspended = "suspended" in (source.status, target.status)
        if quote.status != 201:
            assert too_much or suspended, quote.body  # a move within the balance is quoted
            assert quote.status in (409, 422, 423), quote.body
            return
        if asset in MINUTE_ASSETS:
            tier = "basic" if asset == "basic_minutes" else "premium"
            expected = received_seconds(amount, source.prices[tier], target.prices[tier])
            assert quote.body["received_seconds"] == expected, quote.body
        moved = call(self.client, "POST", "/v1/transfers", token=self.token,
                     body={"quote_id": quote.body["quote_id"]})
        if too_much:  # never more than there is (the invariants check that nothing moved)
            assert moved.status == 409, moved.body
            return
        if suspended and moved.status == 423:
            return
        assert moved.status == 201, moved.body
        STEPS["~moved"] += 1

    # -- refunds and disputes ----------------------------------------------------------------

    def _refundable(self) -> list[PurchaseModel]:
        return [p for p in self.purchases.values() if p.refunded_cents < p.charge_cents]

    @precondition(lambda self: bool(self._refundable()))
    @rule(data=st.data(), full=st.booleans())
    @counted
    def refund(self, data: st.DataObject, full: bool) -> None:
        purchase = data.draw(st.sampled_from(self._refundable()))
        remaining = purchase.charge_cents - purchase.refunded_cents
        amount = remaining if full else data.draw(st.integers(1, remaining))
        answer = stripe_request(self.emulator, "POST", "/v1/refunds",
                                payment_intent=purchase.payment_intent_id, amount=amount)
        assert answer.status_code == 200, answer.text
        purchase.refunded_cents += amount
        self.pump()

    def _disputes(self, decided: bool | None = None) -> list[DisputeModel]:
        return [d for p in self.purchases.values() for d in p.disputes
                if decided is None or d.decided == decided]

    @precondition(lambda self: bool(self.purchases))
    @rule(data=st.data(), inquiry=st.booleans())
    @counted
    def open_dispute(self, data: st.DataObject, inquiry: bool) -> None:
        # a charge with profit when there is one: only those hold anything
        profitable = [p for p in self.purchases.values() if p.margin_micros > 0]
        purchase = data.draw(st.sampled_from(profitable or list(self.purchases.values())))
        amount = data.draw(st.integers(1, purchase.charge_cents))
        intent = stripe_request(self.emulator, "GET",
                                f"/v1/payment_intents/{purchase.payment_intent_id}").json()
        answer = stripe_request(
            self.emulator, "POST", f"/v1/test_helpers/charges/{intent['latest_charge']}/dispute",
            amount=amount, status="warning_needs_response" if inquiry else "needs_response")
        assert answer.status_code == 200, answer.text
        [created] = self.pump(keep=("charge.dispute.created",))
        dispute = DisputeModel(answer.json()["id"], amount, inquiry, answer.json()["status"],
                               created)
        purchase.disputes.append(dispute)
        # what happens next, at once: its events in any order, repeated, or nothing yet
        order = data.draw(st.permutations(("created", "decide", "closed", "created",
                                           "closed")))
        stop = data.draw(st.sampled_from((5, 5, 0, 1, 2, 3, 4)))
        outcome = data.draw(st.sampled_from(("won", "lost")))
        for step in order[:stop]:
            self._dispute_step(dispute, step, outcome, data.draw(st.booleans()))

    def _deliver_dispute_event(self, dispute: DisputeModel, event: dict[str, Any],
                               new_id: bool) -> None:
        answer = self.events.deliver(event, new_id=new_id)
        first, dispute.delivered = not dispute.delivered, True
        # an event id seen before is answered as a duplicate and applies nothing; a
        # ``created`` after the first one is not looked up at Stripe
        if (dispute.decided and not answer.body.get("duplicate")
                and (first or event["type"] == "charge.dispute.closed")):
            STEPS[f"~dispute_{dispute.stripe_status}_applied"] += not dispute.decision_applied
            dispute.decision_applied = True  # the app applies Stripe's status, read now

    @precondition(lambda self: bool(self._disputes()))
    @rule(data=st.data(), step=st.sampled_from(("created", "decide", "closed")),
          outcome=st.sampled_from(("won", "lost")), new_id=st.booleans())
    @counted
    def dispute_goes_on(self, data: st.DataObject, step: str, outcome: str,
                        new_id: bool) -> None:
        """One more thing happens to a dispute: its ``created`` event is delivered (again),
        Stripe decides it, or its ``closed`` event is delivered (again): in any order."""
        self._dispute_step(data.draw(st.sampled_from(self._disputes())), step, outcome, new_id)

    def _dispute_step(self, dispute: DisputeModel, step: str, outcome: str,
                      new_id: bool) -> None:
        if step == "decide" and not dispute.decided:
            status = "warning_closed" if dispute.inquiry else outcome
            answer = stripe_request(self.emulator, "POST",
                                    f"/v1/test_helpers/disputes/{dispute.dispute_id}/close",
                                    status=status)
            assert answer.status_code == 200, answer.text
            dispute.stripe_status = status
            [dispute.closed_event] = self.pump(keep=("charge.dispute.closed",))
        elif step == "closed" and dispute.closed_event is not None:
            self._deliver_dispute_event(dispute, dispute.closed_event, new_id)
        else:
            self._deliver_dispute_event(dispute, dispute.created_event, new_id)

    @precondition(lambda self: bool(self.events.delivered) if self.ready else False)
    @rule(data=st.data(), new_id=st.booleans())
    @counted
    def stripe_redelivers(self, data: st.DataObject, new_id: bool) -> None:
        event = data.draw(st.sampled_from(self.events.delivered))
        if event["type"].startswith("charge.dispute."):
            return  # the dispute rules track what their deliveries apply
        self.events.deliver(event, new_id=new_id)

    # -- lifecycle ---------------------------------------------------------------------------

    @precondition(lambda self: bool(self._live(secondary=True, status="active")))
    @rule(data=st.data())
    @counted
    def suspend(self, data: st.DataObject) -> None:
        sub = data.draw(st.sampled_from(self._live(secondary=True, status="active")))
        answer = call(self.client, "POST", f"/v1/subaccounts/{sub.sid}/suspend",
                      token=self.token, body={"note": "model"})
        assert answer.status == 200, answer.body
        sub.status = "suspended"

    @precondition(lambda self: bool(self._live(secondary=True, status="suspended")))
    @rule(data=st.data())
    @counted
    def restore(self, data: st.DataObject) -> None:
        sub = data.draw(st.sampled_from(self._live(secondary=True, status="suspended")))
        answer = call(self.client, "POST", f"/v1/subaccounts/{sub.sid}/restore",
                      token=self.token)
        assert answer.status == 200, answer.body
        sub.status = "active"

    @precondition(has_live_secondary)
    @rule(data=st.data())
    @counted
    def remove(self, data: st.DataObject) -> None:
        sub = data.draw(st.sampled_from(self._live(secondary=True)))
        target = data.draw(st.sampled_from([s for s in self._live() if s is not sub]))
        assert self.snap is not None
        before = self.snap
        answer = call(self.client, "POST", f"/v1/subaccounts/{sub.sid}/removal",
                      token=self.token, body={"minutes_destination_id": target.sid})
        assert answer.status == 200, answer.body
        sub.status = "removed"
        after = snapshot(self.agency.agency_id)
        for tier in TIERS:  # held seconds are released first and move with the rest
            asset = ASSET_OF_TIER[tier]
            sent = (before.balance(f"sub:{sub.sid}", asset)
                    + before.balance(f"held:{sub.sid}", asset))
            arrived = (after.balance(f"sub:{target.sid}", asset)
                       - before.balance(f"sub:{target.sid}", asset))
            assert arrived == received_seconds(sent, sub.prices[tier], target.prices[tier]), (
                tier, sent, arrived)

    # -- payouts -----------------------------------------------------------------------------

    def _sweep(self, day: date) -> dict[str, Any]:
        answer = call(self.client, "POST", "/v1/platform/jobs/payout-sweep/runs", platform=True,
                      body={"as_of": f"{day.isoformat()}T02:00:00Z"})
        assert answer.status == 200, answer.body
        STEPS["~payouts_sent"] += answer.body["succeeded"]
        STEPS["~payouts_failed"] += answer.body["failed"]
        self.transfer_failures_queued = max(
            self.transfer_failures_queued - answer.body["failed"], 0)
        self.pump()
        return dict(answer.body)

    def _fail_next_transfer(self, code: str) -> None:
        answer = stripe_request(self.emulator, "POST", "/v1/test_helpers/transfers/fail_next",
                                code=code, status=400)
        assert answer.status_code == 200, answer.text
        self.transfer_failures_queued += 1

    def _next_cycle_day(self) -> date:
        """The first billing cycle date after the last sweep's day."""
        anchor = date.fromisoformat(ANCHOR)
        months = 0
        while cycle_on(anchor, months) <= self.sweep_day:
            months += 1
        return cycle_on(anchor, months)

    @rule(next_cycle=st.booleans(), transfer_fails=st.sampled_from(
        (None, None, "balance_insufficient", "account_restricted")))
    @counted
    def payout_sweep(self, next_cycle: bool, transfer_fails: str | None) -> None:
        """The daily sweep on the day after the last one (where a refused transfer is
        retried), or on the next billing cycle date (where profit is paid); Stripe may
        refuse the transfer (a failure queued when nothing is paid hits a later one)."""
        if transfer_fails:
            self._fail_next_transfer(transfer_fails)
        if next_cycle:
            self.sweep_day = self._next_cycle_day()
        self._sweep(self.sweep_day)
        self.sweep_day += timedelta(days=1)

    def _profitable(self) -> list[tuple[SubModel, str]]:
        return [(s, tier) for s in self._live(status="active") for tier in TIERS
                if s.prices[tier] > BASE_MICROS[tier]]

    @precondition(lambda self: bool(self._profitable()) if self.ready else False)
    @rule(data=st.data(), extra_usd=st.integers(0, 150), transfer_fails=st.sampled_from(
        (None, None, None, "balance_insufficient")),
        bank=st.sampled_from((None, "pay_out", "pay_out", "fail_payout")))
    @counted
    def profit_then_payout(self, data: st.DataObject, extra_usd: int,
                           transfer_fails: str | None, bank: str | None) -> None:
        """Steering: a purchase whose profit lifts the available balance past the USD 100
        threshold, the sweep on the next billing cycle date (the transfer sent, or refused
        by Stripe), then Stripe pays the bank, or the bank refuses, or nothing yet."""
        sub, tier = data.draw(st.sampled_from(self._profitable()))
        assert self.snap is not None
        missing = 100_000_000 + extra_usd * 1_000_000 - self.snap.balance("profit", "usd")
        per_minute = sub.prices[tier] - BASE_MICROS[tier]
        # + 1 minute: the charge is rounded to the cent
        minutes = max(-(-missing // per_minute) + 1, 1)
        assert self._purchase(sub, tier, minutes, declined=False)
        available = snapshot(self.agency.agency_id).balance("profit", "usd")
        assert available >= 100_000_000, available
        if transfer_fails:
            self._fail_next_transfer(transfer_fails)
        refused = self.transfer_failures_queued > 0
        self.sweep_day = self._next_cycle_day()
        swept = self._sweep(self.sweep_day)
        self.sweep_day += timedelta(days=1)
        after = snapshot(self.agency.agency_id)
        if refused:  # the amount is back in the available profit
            assert swept["failed"] == 1, swept
            assert after.balance("profit", "usd") == available, swept
            return
        assert swept["succeeded"] == 1, swept  # the whole available profit is in transit
        assert after.balance("payouts_in_flight", "usd") > 0, swept
        if bank is not None:
            self.bank_payout(fails=bank == "fail_payout")

    def _in_flight(self) -> bool:
        return self.snap is not None and self.snap.balance("payouts_in_flight", "usd") > 0

    @precondition(_in_flight)
    @rule(fails=st.booleans())
    @counted
    def bank_payout_rule(self, fails: bool) -> None:
        self.bank_payout(fails)

    def bank_payout(self, fails: bool) -> None:
        path = "fail_payout" if fails else "pay_out"
        form = {"failure_code": "account_closed"} if fails else {}
        answer = stripe_request(self.emulator, "POST",
                                f"/v1/test_helpers/accounts/{self.account_id}/{path}", **form)
        if answer.status_code != 200:  # nothing to pay out at the connected account
            return
        STEPS["~bank_" + path] += 1
        self.pump()

    def teardown(self) -> None:
        """Count the example's payouts by how they ended (the report shows they happened)."""
        if not self.ready:
            return
        answer = call(self.client, "GET", "/v1/agency/payouts?limit=100", token=self.token)
        assert answer.status == 200, answer.body
        for payout in answer.body["payouts"]:
            stage = f"_{payout['failure_stage']}" if payout["failure_stage"] else ""
            STEPS[f"~payout_{payout['status']}{stage}"] += 1

    # -- invariants --------------------------------------------------------------------------

    def _learn_auto_recharges(self, snap: Snapshot) -> None:
        """Auto-recharge charges the machine did not ask for itself: their margin comes from
        SPEC's rule applied to the minutes bought, at the sub-account's own price."""
        prices = {s.sid: s.prices for s in self.subs}
        for item in snap.purchases:
            if item.status != "succeeded" or item.purchase_id in self.purchases:
                continue
            assert item.source == "auto_recharge", (item.source, item.purchase_id)
            tier = item.tier
            seconds = item.basic_seconds if tier == "basic" else item.premium_seconds
            assert seconds % 60 == 0, seconds
            minutes = seconds // 60
            price = prices[item.subaccount_id][tier]
            expected = charge_cents(minutes, price)
            assert item.amount_cents == expected, (item.amount_cents, expected)
            assert item.payment_intent_id
            STEPS["~auto_recharged"] += 1
            self.purchases[item.purchase_id] = PurchaseModel(
                item.purchase_id, item.subaccount_id, tier, minutes, expected,
                margin_micros(minutes, tier, price), item.payment_intent_id)

    @invariant()
    def the_money_rules_hold(self) -> None:
        if not self.ready:
            return
        snap = self.snap = snapshot(self.agency.agency_id)
        self._learn_auto_recharges(snap)
        self._check_conservation(snap)
        self._check_nothing_minted(snap)
        self._check_removed_and_disputes(snap)
        self._check_profit(snap)
        self._check_report(snap)

    def _check_conservation(self, snap: Snapshot) -> None:
        per_asset: dict[str, int] = {}
        for (_account, asset), amount in snap.entry_sums.items():
            per_asset[asset] = per_asset.get(asset, 0) + amount
        assert all(total == 0 for total in per_asset.values()), per_asset
        nonzero = {k: v for k, v in snap.balances.items() if v}
        assert nonzero == {k: v for k, v in snap.entry_sums.items() if v}
        negative = {k: v for k, v in snap.balances.items() if v < 0 and k[0].startswith("sub:")}
        assert not negative, negative

    def _check_nothing_minted(self, snap: Snapshot) -> None:
        for asset in (*MINUTE_ASSETS, "kp_credits"):
            # seconds come out of supply only: no other account may owe any
            owing = {k: v for k, v in snap.balances.items()
                     if k[1] == asset and v < 0 and not k[0].startswith("supply:")}
            assert not owing, owing
            bought = sum(p.minutes * 60 for p in self.purchases.values()
                         if ASSET_OF_TIER[p.tier] == asset)
            issued = -snap.total("supply:", asset)
            assert issued <= bought + self.granted[asset], (asset, issued, bought,
                                                           self.granted[asset])

    def _check_removed_and_disputes(self, snap: Snapshot) -> None:
        for sub in self.subs:
            if not sub.live:
                left = {k: v for k, v in snap.balances.items() if v and k[0] in (
                    f"sub:{sub.sid}", f"held:{sub.sid}") and k[1] != "usd"}
                assert not left, left
        for purchase in self.purchases.values():
            if purchase.disputes_settled:
                held = snap.balance(f"profit_held:{purchase.purchase_id}", "usd")
                assert held == 0, (purchase.purchase_id, held)

    def _check_profit(self, snap: Snapshot) -> None:
        margins = sum(p.margin_micros for p in self.purchases.values())
        reversed_ = sum(p.reversed_micros for p in self.purchases.values())
        accounted = (snap.balance("profit", "usd") + snap.total("profit_held:", "usd")
                     + snap.balance("payouts_in_flight", "usd")
                     + snap.balance("paid_out", "usd") + reversed_)
        assert accounted == margins, {
            "available": snap.balance("profit", "usd"),
            "held": snap.total("profit_held:", "usd"),
            "in_transit": snap.balance("payouts_in_flight", "usd"),
            "paid": snap.balance("paid_out", "usd"), "reversed": reversed_,
            "margins": margins}

    def _check_report(self, snap: Snapshot) -> None:
        today = datetime.now(UTC).date()
        start, end = today - timedelta(days=1), today + timedelta(days=1)
        answer = call(self.client, "GET",
                      f"/v1/reports/subaccounts?from={start}&to={end}&daily=false",
                      token=self.token)
        assert answer.status == 200, answer.body
        totals = answer.body["totals"]
        inside = [e for e in snap.entries if start <= entry_day(e) <= end]
        used = {tier: sum(e.amount for e in inside if e.account.startswith("usage:")
                          and e.asset == ASSET_OF_TIER[tier]) for tier in TIERS}
        cash_in = -sum(e.amount for e in inside
                       if e.account.startswith("cardpay:") and e.code == "purchase")
        cash_back = sum(e.amount for e in inside if e.account.startswith("cardpay:")
                        and e.code in ("refund", "dispute_lost"))
        profit = sum(e.amount for e in inside
                     if (e.account == "profit" or e.account.startswith("profit_held:"))
                     and e.code in PROFIT_CODES)
        reported = {"seconds": totals["seconds_used"],
                    "purchases": usd_micros(totals["purchases_usd"]),
                    "refunds": usd_micros(totals["refunds_usd"]),
                    "profit": usd_micros(totals["profit_usd"])}
        assert reported == {"seconds": used, "purchases": cash_in, "refunds": cash_back,
                            "profit": profit}, reported




def model_settings() -> settings:
    examples = int(os.environ.get("MODEL_EXAMPLES", "8"))
    steps = int(os.environ.get("MODEL_STEPS", "25"))
    return settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                    database=None, print_blob=True,
                    verbosity=Verbosity.verbose if os.environ.get("MODEL_VERBOSE")
                    else Verbosity.normal,
                    suppress_health_check=list(HealthCheck))


@pytest.mark.timeout(1800)
def test_the_money_rules_hold_in_any_interleaving(app_client: Any, stripe_emulator: str,
                                                  live_app_url: str) -> None:
    MoneyModel.client, MoneyModel.emulator = app_client, stripe_emulator
    with webhooks_off(stripe_emulator, live_app_url):
        run_state_machine_as_test(MoneyModel, settings=model_settings())
    print("model steps:", dict(sorted(STEPS.items())))

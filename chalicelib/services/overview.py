"""The Monthly Overview card (SPEC section 2): this billing period's profit and usage, the
available profit, the next payout, the last payout, the Connect status and what needs action.

Bounded reads: the agency, its Connect item, its payout schedule, the profit balance, the
newest payout, the period's counters (pre-aggregated daily rows, never entries or scans) and
each sub-account's usage-sink balances (the all-time minutes, one BatchGetItem).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from chalicelib.domain.billing import current_period
from chalicelib.domain.ledger import AGENCY_PROFIT, Asset
from chalicelib.domain.payouts import PAYOUT_THRESHOLD_MICROS, ConnectStatus, decide_payout
from chalicelib.domain.roles import Action, Principal, authorize_agency
from chalicelib.domain.timezones import DEFAULT_TIMEZONE, local_date
from chalicelib.services.access import get_agency
from chalicelib.services.ports import now
from chalicelib.services.reports import (
    agency_subaccount_ids,
    agency_usage_totals,
    lifetime_used_seconds,
)
from chalicelib.store import connect_accounts, payout_schedules, payouts
from chalicelib.store.connect_accounts import ConnectAccount
from chalicelib.store.ledger import read_balance
from chalicelib.store.payouts import Payout


@dataclass(frozen=True)
class ActionNeeded:
    """Something the agency has to do before (or to keep) being paid: a stable ``code``, a
    sentence, and what the code is about (requirements, Stripe's reason or failure code, the
    clawback amount)."""

    code: str
    message: str
    requirements_due: tuple[str, ...] = ()
    disabled_reason: str | None = None
    failure_code: str | None = None
    clawback_micros: int = 0


#: The codes of ``ActionNeeded``.
CONNECT_NOT_CONNECTED = "connect_not_connected"
ONBOARDING_INCOMPLETE = "connect_onboarding_incomplete"
CONNECT_RESTRICTED = "connect_restricted"
BANK_DETAILS = "bank_details_need_fixing"
PROFIT_CLAWBACK = "profit_clawback"


def action_needed(connect: ConnectAccount | None, available_micros: int
                  ) -> list[ActionNeeded]:
    """What the agency has to do before (or to keep) being paid."""
    actions: list[ActionNeeded] = []
    if connect is None:
        actions.append(ActionNeeded(CONNECT_NOT_CONNECTED,
                                    "Connect Stripe to receive your profit payouts."))
    elif connect.status == ConnectStatus.INITIATING.value:
        actions.append(ActionNeeded(ONBOARDING_INCOMPLETE,
                                    "Finish the Stripe onboarding to receive payouts.",
                                    requirements_due=tuple(connect.requirements_due or [])))
    elif connect.status == ConnectStatus.RESTRICTED.value:
        actions.append(ActionNeeded(CONNECT_RESTRICTED,
                                    "Stripe needs more information before payouts resume.",
                                    requirements_due=tuple(connect.requirements_due or []),
                                    disabled_reason=connect.disabled_reason))
    if connect is not None and connect.bank_action_needed:
        actions.append(ActionNeeded(BANK_DETAILS,
                                    "Your bank refused the last payout; update your bank "
                                    "details in Stripe.",
                                    failure_code=connect.bank_failure_code))
    if available_micros < 0:
        actions.append(ActionNeeded(PROFIT_CLAWBACK,
                                    "A refund or dispute after a payout left a negative profit "
                                    "balance; it is netted out of the next payout.",
                                    clawback_micros=-available_micros))
    return actions


@dataclass(frozen=True)
class MonthlyOverview:
    """The figures of the Monthly Overview card. Periods are dates of the agency's timezone;
    seconds are by tier (``basic``, ``premium``)."""

    period_start: date
    period_end: date
    timezone: str
    profit_this_period_micros: int
    available_profit_micros: int
    payout_threshold_micros: int
    next_payout_date: str | None
    payout_expected: bool
    last_payout: Payout | None
    connect_status: str
    plan_renewal_date: date
    #: Global: every second any sub-account of the agency ever used (removed ones too).
    total_used_seconds: dict[str, int]
    used_seconds_this_period: dict[str, int]
    action_needed: list[ActionNeeded]


def monthly_overview(principal: Principal, today: date | None = None) -> MonthlyOverview:
    """``GET /v1/agency/overview`` (every agency role may view it)."""
    authorize_agency(principal, Action.VIEW_OVERVIEW)
    agency_id = principal.agency_id
    agency = get_agency(agency_id)
    day = today or local_date(now(), agency.timezone)  # the period in its dates
    start, end_exclusive = current_period(date.fromisoformat(agency.subscription_start), day)
    connect = connect_accounts.get(agency_id)
    schedule = payout_schedules.get(agency_id) if connect is not None else None
    available = read_balance(agency_id, AGENCY_PROFIT, Asset.USD.value).balance
    last = payouts.latest(agency_id)
    every_subaccount = agency_subaccount_ids(agency_id)
    totals = agency_usage_totals(agency_id, start, end_exclusive - timedelta(days=1),
                                 every_subaccount)
    lifetime = lifetime_used_seconds(agency_id, every_subaccount)
    decision = decide_payout(
        available,
        connected=connect is not None,
        payouts_enabled=bool(connect and connect.payouts_enabled
                             and connect.status == ConnectStatus.CONNECTED.value))
    return MonthlyOverview(
        period_start=start,
        period_end=end_exclusive - timedelta(days=1),
        timezone=agency.timezone or DEFAULT_TIMEZONE,
        profit_this_period_micros=int(totals["profit_micros"]),
        available_profit_micros=available,
        payout_threshold_micros=PAYOUT_THRESHOLD_MICROS,
        next_payout_date=schedule.next_date if schedule is not None else None,
        payout_expected=decision.pay,
        last_payout=last,
        connect_status=connect.status if connect else ConnectStatus.NOT_CONNECTED.value,
        plan_renewal_date=end_exclusive,
        total_used_seconds=dict(lifetime),
        used_seconds_this_period=dict(totals["total_used_seconds"]),
        action_needed=action_needed(connect, available),
    )

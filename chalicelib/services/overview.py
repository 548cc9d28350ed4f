"""The Monthly Overview card (SPEC section 2): this billing period's profit and usage, the
available profit, the next payout, the last payout, the Connect status and what needs action.

Bounded reads: the agency, its Connect item, its payout schedule, the profit balance, the
newest payout, the period's counters (pre-aggregated daily rows, never entries or scans) and
each sub-account's usage-sink balances (the all-time minutes, one BatchGetItem).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.domain.billing import current_period
from chalicelib.domain.ledger import AGENCY_PROFIT, Asset
from chalicelib.domain.money import render_minutes, render_usd
from chalicelib.domain.payouts import PAYOUT_THRESHOLD_MICROS, ConnectStatus, decide_payout
from chalicelib.domain.roles import Action, Principal, authorize_agency
from chalicelib.domain.timezones import DEFAULT_TIMEZONE, local_date
from chalicelib.services.access import get_agency
from chalicelib.services.payouts import latest_payout, render_payout
from chalicelib.services.reports import (
    agency_subaccount_ids,
    agency_usage_totals,
    lifetime_used_seconds,
)
from chalicelib.store.connect import ConnectAccount, get_connect_account, get_schedule
from chalicelib.store.ledger import read_balance

log = logging.getLogger(__name__)


def action_needed(connect: ConnectAccount | None, available_micros: int) -> list[dict[str, Any]]:
    """What the agency has to do before (or to keep) being paid."""
    actions: list[dict[str, Any]] = []
    if connect is None:
        actions.append({"code": "connect_not_connected",
                        "message": "Connect Stripe to receive your profit payouts."})
    elif connect.status == ConnectStatus.INITIATING.value:
        actions.append({"code": "connect_onboarding_incomplete",
                        "message": "Finish the Stripe onboarding to receive payouts.",
                        "requirements_due": list(connect.requirements_due or [])})
    elif connect.status == ConnectStatus.RESTRICTED.value:
        actions.append({"code": "connect_restricted",
                        "message": "Stripe needs more information before payouts resume.",
                        "requirements_due": list(connect.requirements_due or []),
                        "disabled_reason": connect.disabled_reason})
    if connect is not None and connect.bank_action_needed:
        actions.append({"code": "bank_details_need_fixing",
                        "message": "Your bank refused the last payout; update your bank "
                                   "details in Stripe.",
                        "failure_code": connect.bank_failure_code})
    if available_micros < 0:
        actions.append({"code": "profit_clawback",
                        "message": "A refund or dispute after a payout left a negative profit "
                                   "balance; it is netted out of the next payout.",
                        "amount_usd": render_usd(-available_micros)})
    return actions


def _minutes_figure(seconds: dict[str, int]) -> dict[str, Any]:
    basic, premium = int(seconds.get("basic", 0)), int(seconds.get("premium", 0))
    return {"basic": render_minutes(basic), "premium": render_minutes(premium),
            "total": render_minutes(basic + premium), "basic_seconds": basic,
            "premium_seconds": premium}


def monthly_overview(principal: Principal, today: date | None = None) -> dict[str, Any]:
    """``GET /v1/agency/overview`` (every agency role may view it)."""
    authorize_agency(principal, Action.VIEW_OVERVIEW)
    agency_id = principal.agency_id
    agency = get_agency(agency_id)
    day = today or local_date(datetime.now(UTC), agency.timezone)  # the period in its dates
    start, end_exclusive = current_period(date.fromisoformat(agency.subscription_start), day)
    end = end_exclusive - timedelta(days=1)
    connect = get_connect_account(agency_id)
    schedule = get_schedule(agency_id) if connect is not None else None
    available = read_balance(agency_id, AGENCY_PROFIT, Asset.USD.value).balance
    last = latest_payout(agency_id)
    every_subaccount = agency_subaccount_ids(agency_id)
    totals = agency_usage_totals(agency_id, start, end, every_subaccount)
    lifetime = lifetime_used_seconds(agency_id, every_subaccount)
    decision = decide_payout(
        available,
        connected=connect is not None,
        payouts_enabled=bool(connect and connect.payouts_enabled
                             and connect.status == ConnectStatus.CONNECTED.value))
    return {
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "timezone": agency.timezone or DEFAULT_TIMEZONE,
        "profit_this_period_usd": render_usd(totals["profit_micros"]),
        "available_profit_usd": render_usd(available),
        "payout_threshold_usd": render_usd(PAYOUT_THRESHOLD_MICROS),
        "next_payout_date": schedule.next_date if schedule is not None else None,
        "payout_expected": decision.pay,
        "last_payout": render_payout(last) if last is not None else None,
        "connect_status": connect.status if connect else ConnectStatus.NOT_CONNECTED.value,
        "plan_renewal_date": end_exclusive.isoformat(),
        # Global: every minute any sub-account of the agency ever used (removed ones too).
        "total_minutes_used": _minutes_figure(lifetime),
        "minutes_used_this_period": _minutes_figure(totals["total_used_seconds"]),
        "action_needed": action_needed(connect, available),
    }

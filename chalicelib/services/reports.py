"""Reports per sub-account and for the agency, read from the pre-aggregated daily counters.

Reads are bounded and never scan, and none is made per sub-account: the sub-accounts come
from one Query on the agency partition (removed ones included: they keep their history), the
counter rows of every sub-account for the range from ONE Query of the agency-by-date index
(paged), and the wallet balances of every reported sub-account from BatchGetItem (two known
keys per sub-account). A single sub-account's report reads only its own partition (one
Query, ≤ 366 items). Agency-wide figures are sums of per-sub-account day rows; there is no
agency-wide counter row (SPEC "No hot items").

The list shows every live sub-account the caller may see, and a removed one only for a
range in which it had activity; the totals sum every listed row (SPEC "Reporting").

Days are dates in the agency's timezone (the caller's principal carries it, read with the
user on every request), because each counter row is keyed by the local date of its event
(README "Reports"); "today" for the next billing date is today in that timezone as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TypedDict

from chalicelib.domain.ledger import usage_sink, wallet
from chalicelib.domain.plans import TIERS, asset_of_tier
from chalicelib.domain.reporting import (
    Counters,
    DateRange,
    SubaccountFacts,
    SubaccountReport,
    build_report,
    had_activity,
    parse_date_range,
    sum_counters,
)
from chalicelib.domain.roles import Action, Principal, can_see
from chalicelib.domain.timezones import local_date
from chalicelib.services.access import load_subaccount, ref_of
from chalicelib.services.ports import now
from chalicelib.store import ledger, stats
from chalicelib.store.accounts import Subaccount, subaccounts_of


def _today(timezone: str) -> date:
    return local_date(now(), timezone)


def counters_by_day(agency_id: str, subaccount_id: str, span: DateRange) -> dict[date, Counters]:
    """One sub-account's counter rows inside ``span``, by day: exactly one Query."""
    return {row.day: row.counters
            for row in stats.days_of(agency_id, subaccount_id, span.start, span.end)}


def agency_counters_by_day(agency_id: str, span: DateRange
                           ) -> dict[str, dict[date, Counters]]:
    """Every sub-account's counter rows inside ``span`` (sub-account → day → counters): one
    Query of the agency-by-date index, however many sub-accounts there are."""
    result: dict[str, dict[date, Counters]] = {}
    for row in stats.agency_days(agency_id, span.start, span.end):
        result.setdefault(row.subaccount_id, {})[row.day] = row.counters
    return result


def wallet_seconds(agency_id: str, subaccount_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Minute balances now (tier → seconds) of each sub-account: BatchGetItem, no Query each."""
    rows = ledger.balances(agency_id, [wallet(sid) for sid in subaccount_ids],
                           [asset_of_tier(tier) for tier in TIERS])
    return {sid: {tier: rows[wallet(sid)][asset_of_tier(tier)].balance for tier in TIERS}
            for sid in subaccount_ids}


def _facts(sub: Subaccount, balances: dict[str, int]) -> SubaccountFacts:
    return SubaccountFacts(
        subaccount_id=sub.subaccount_id,
        name=sub.name,
        subscription_start=date.fromisoformat(sub.subscription_start),
        prices={tier: sub.price(tier) for tier in TIERS},
        balance_seconds=balances,
        status=sub.status,
    )


def _reports(subs: Sequence[Subaccount], span: DateRange, today: date, include_daily: bool,
             counters: dict[str, dict[date, Counters]]) -> list[SubaccountReport]:
    if not subs:
        return []
    agency_id = subs[0].agency_id
    balances = wallet_seconds(agency_id, [sub.subaccount_id for sub in subs])
    return [
        build_report(_facts(sub, balances[sub.subaccount_id]), span,
                     counters.get(sub.subaccount_id, {}), today, include_daily=include_daily)
        for sub in subs
    ]


def subaccount_report(principal: Principal, subaccount_id: str, raw_from: str | None,
                      raw_to: str | None, *, today: date | None = None) -> SubaccountReport:
    """One sub-account's report with its daily series (404 outside the caller's reach).

    Reads the sub-account's own counter partition only, never the agency's index.
    """
    span = parse_date_range(raw_from, raw_to, principal.timezone)
    sub = load_subaccount(principal, subaccount_id, Action.READ_REPORTS)
    counters = {sub.subaccount_id: counters_by_day(sub.agency_id, sub.subaccount_id, span)}
    return _reports([sub], span, today or _today(span.timezone), True, counters)[0]


def subaccounts_report(principal: Principal, raw_from: str | None, raw_to: str | None, *,
                       include_daily: bool = True,
                       today: date | None = None) -> tuple[DateRange, list[SubaccountReport]]:
    """Reports of every sub-account the caller may see, primary first, then by name.

    Live sub-accounts are always listed; a removed one only when it had activity in the
    range (its history stays, so the totals of that range still count it).
    """
    span = parse_date_range(raw_from, raw_to, principal.timezone)
    counters = agency_counters_by_day(principal.agency_id, span)
    subs = sorted(
        (sub for sub in subaccounts_of(principal.agency_id)
         if can_see(principal, ref_of(sub))
         and (sub.status != "removed"
              or had_activity(counters.get(sub.subaccount_id, {}).values()))),
        key=lambda s: (not s.is_primary, s.name.lower(), s.subaccount_id))
    return span, _reports(subs, span, today or _today(span.timezone), include_daily, counters)


def agency_subaccount_ids(agency_id: str) -> list[str]:
    """Every sub-account the agency ever had, removed ones included: one Query."""
    return [sub.subaccount_id for sub in subaccounts_of(agency_id)]


def lifetime_used_seconds(agency_id: str, subaccount_ids: Sequence[str]) -> dict[str, int]:
    """Seconds ever used (tier → seconds) across ``subaccount_ids``: the balances of their
    usage-sink accounts (every debited call second lands there, nothing else does), read
    with BatchGetItem. No counter row that every call of the agency rewrites."""
    sinks = [usage_sink(sid) for sid in subaccount_ids]
    rows = ledger.balances(agency_id, sinks, [asset_of_tier(tier) for tier in TIERS])
    return {tier: sum(rows[sink][asset_of_tier(tier)].balance for sink in sinks)
            for tier in TIERS}


class UsageTotals(TypedDict):
    """An agency's figures over a range, as integers."""

    total_used_seconds: dict[str, int]  # tier → seconds
    profit_micros: int
    purchases_micros: int
    spent_micros: int
    refunds_micros: int
    calls_total: int
    shortfall_seconds: int
    subaccounts: int


def agency_usage_totals(agency_id: str, start: date, end: date,
                        subaccount_ids: Sequence[str] | None = None) -> UsageTotals:
    """Figures of the whole agency from ``start`` to ``end`` inclusive (its local dates).

    Sums every sub-account the agency ever had, removed ones included (their usage and
    purchases happened in the range), or only ``subaccount_ids`` when given: one Query of
    the agency-by-date index, none per sub-account. Integers only:
    ``{total_used_seconds: {basic, premium}, profit_micros, purchases_micros, spent_micros,
    refunds_micros, calls_total, shortfall_seconds, subaccounts}``. Used by the Monthly
    Overview (its current billing period).
    """
    if end < start:
        raise ValueError("end must not be before start")
    by_subaccount = agency_counters_by_day(agency_id, DateRange(start, end))
    sids = list(subaccount_ids) if subaccount_ids is not None else agency_subaccount_ids(
        agency_id)
    total = sum_counters(
        counters
        for sid in sids
        for counters in by_subaccount.get(sid, {}).values()
    )
    return UsageTotals(
        total_used_seconds={tier: total[f"used_{tier}_seconds"] for tier in TIERS},
        profit_micros=total["profit_micros"],
        purchases_micros=total["purchases_micros"],
        spent_micros=total["spent_micros"],
        refunds_micros=total["refunds_micros"],
        calls_total=total["calls_total"],
        shortfall_seconds=total["shortfall_seconds"],
        subaccounts=len(sids),
    )

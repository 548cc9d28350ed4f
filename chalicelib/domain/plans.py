"""Plan catalogue and base costs: configuration as data, not code."""

from __future__ import annotations

from dataclasses import dataclass

TIERS: tuple[str, ...] = ("basic", "premium")

#: Platform base cost per minute, micro-USD (Basic USD 0.10, Premium USD 0.16).
BASE_COST_MICROS: dict[str, int] = {"basic": 100_000, "premium": 160_000}


@dataclass(frozen=True)
class Plan:
    """An agency plan: how many secondary sub-accounts, and what each cycle includes."""

    code: str
    subaccount_cap: int | None
    included_premium_minutes: int = 0


PLANS: dict[str, Plan] = {
    plan.code: plan
    for plan in (
        Plan("agency_lite", 10),
        Plan("agency_pro", 50),
        Plan("agency_unlimited", None),
        Plan("partner_legacy", None, included_premium_minutes=1_000),
    )
}


def tier_of_asset(asset: str) -> str:
    """``basic_minutes`` → ``basic``; raises for non-minute assets."""
    tier = asset.removesuffix("_minutes")
    if tier not in TIERS or tier == asset:
        raise ValueError(f"{asset} is not a minute asset")
    return tier


def asset_of_tier(tier: str) -> str:
    """``basic`` → ``basic_minutes``."""
    return f"{tier}_minutes"

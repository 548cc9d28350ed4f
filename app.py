"""Chalice application: wiring only (blueprints, schedules, webhook). No business logic here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice import Chalice, Cron, Rate

from chalicelib.api import (
    agency,
    audit,
    auth,
    connect,
    health,
    invitations,
    notifications,
    payments,
    platform,
    reports,
    resources,
    subaccounts,
    transfers,
    users,
    wallets,
    webhooks,
)
from chalicelib.config import get_settings

get_settings()  # fail fast at import with the names of missing/malformed variables

app = Chalice(app_name="agency-accounts")

for blueprint_module in (
    health, platform, auth, agency, users, invitations, subaccounts, resources, audit,
    wallets, transfers, payments, notifications, webhooks, connect, reports,
):
    app.register_blueprint(blueprint_module.bp)


def _run(job: str) -> dict[str, Any]:
    from chalicelib.jobs import run_job

    return run_job(job, datetime.now(UTC))


@app.schedule(Cron(15, 0, "*", "*", "?", "*"), name="auto_allocation_daily")
def auto_allocation_daily(event: Any) -> dict[str, Any]:
    """Daily: monthly allocations due today, and retries of declined ones."""
    return _run("auto-allocation")


@app.schedule(Cron(30, 0, "*", "*", "?", "*"), name="plan_renewal_daily")
def plan_renewal_daily(event: Any) -> dict[str, Any]:
    """Daily: credit plan-included minutes to primaries whose cycle starts today."""
    return _run("plan-renewal")


@app.schedule(Cron(0, 2, "*", "*", "?", "*"), name="payout_sweep_daily")
def payout_sweep_daily(event: Any) -> dict[str, Any]:
    """Daily: pay agencies whose billing cycle date is due."""
    return _run("payout-sweep")


@app.schedule(Rate(6, unit=Rate.HOURS), name="reconciliation")
def reconciliation(event: Any) -> dict[str, Any]:
    """Every 6 hours: compare the ledger with Stripe, finish interrupted purchases."""
    return _run("reconciliation")


@app.schedule(Rate(15, unit=Rate.MINUTES), name="call_hold_release")
def call_hold_release(event: Any) -> dict[str, Any]:
    """Every 15 minutes: give back the seconds of expired call holds."""
    return _run("call-holds")

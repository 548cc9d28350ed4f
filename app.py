"""Chalice application: wiring only (blueprints, schedules, webhook). No business logic here."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Cron, Rate

from chalicelib import bootstrap
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
from chalicelib.jobs import run_job
from chalicelib.services.sweeps import Deadline

# The composition root, once per container: a misconfigured Lambda fails here, at import,
# with the names of the missing or malformed variables.
bootstrap.build()

app = Chalice(app_name="agency-accounts")

for blueprint_module in (
    health, platform, auth, agency, users, invitations, subaccounts, resources, audit,
    wallets, transfers, payments, notifications, webhooks, connect, reports,
):
    app.register_blueprint(blueprint_module.bp)


def _run(job: str, event: Any) -> dict[str, Any]:
    # Stop taking new items before Lambda's time limit; what is left stays due.
    deadline = Deadline.from_lambda_context(getattr(event, "context", None))
    return run_job(job, None, deadline)


# The sweeps run hourly although their items fall due by the day: a run that reaches its
# time limit leaves the rest due, and the next hour finishes it (every item is idempotent).
@app.schedule(Cron(15, "*", "*", "*", "?", "*"), name="auto_allocation_sweep")
def auto_allocation_sweep(event: Any) -> dict[str, Any]:
    """Hourly: monthly allocations due, and retries of declined ones (one a day)."""
    return _run("auto-allocation", event)


@app.schedule(Cron(30, "*", "*", "*", "?", "*"), name="plan_renewal_sweep")
def plan_renewal_sweep(event: Any) -> dict[str, Any]:
    """Hourly: credit plan-included minutes to primaries whose cycle has started."""
    return _run("plan-renewal", event)


@app.schedule(Cron(45, "*", "*", "*", "?", "*"), name="payout_sweep")
def payout_sweep(event: Any) -> dict[str, Any]:
    """Hourly: pay agencies whose billing cycle date is due."""
    return _run("payout-sweep", event)


@app.schedule(Rate(6, unit=Rate.HOURS), name="reconciliation")
def reconciliation(event: Any) -> dict[str, Any]:
    """Every 6 hours: compare the ledger with Stripe, finish interrupted purchases."""
    return _run("reconciliation", event)


@app.schedule(Rate(15, unit=Rate.MINUTES), name="call_hold_release")
def call_hold_release(event: Any) -> dict[str, Any]:
    """Every 15 minutes: give back the seconds of expired call holds."""
    return _run("call-holds", event)


@app.schedule(Rate(15, unit=Rate.MINUTES), name="auto_recharge_sweep")
def auto_recharge_sweep(event: Any) -> dict[str, Any]:
    """Every 15 minutes: start the auto-recharge top-ups that usage marked due."""
    return _run("auto-recharge", event)


@app.schedule(Rate(5, unit=Rate.MINUTES), name="subaccount_suspensions")
def subaccount_suspensions(event: Any) -> dict[str, Any]:
    """Every 5 minutes: finish the resource batches of an interrupted suspend or restore."""
    return _run("subaccount-suspensions", event)

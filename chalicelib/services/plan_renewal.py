"""Plan renewal: plan-included minutes credited to each primary once per billing cycle.

Agencies on a plan with included minutes (``partner_legacy``: 1,000 Premium minutes) carry a
``PlanRenewal`` item in GSI2 ``DUE#plan-renewal`` keyed by the next cycle date. The credit's
ledger id is ``plan:<aid>:<cycle date>`` and the item moves to the following cycle in the SAME
transaction, so a rerun (or a concurrent run) credits a cycle once.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from chalicelib.domain.billing import current_period, next_cycle_date
from chalicelib.domain.errors import Conflict
from chalicelib.domain.ledger import Asset, Code, LedgerTransaction, supply, transfer, wallet
from chalicelib.domain.money import SECONDS_PER_MINUTE
from chalicelib.domain.plans import PLANS
from chalicelib.services.sweeps import Deadline, run_sweep
from chalicelib.store import agencies, plan_renewals
from chalicelib.store.accounts import Agency
from chalicelib.store.ledger import AlreadyPosted, post_transaction
from chalicelib.store.plan_renewals import PlanRenewal
from chalicelib.store.transact import ConditionFailed, Op, commit

log = logging.getLogger(__name__)


def first_cycle(anchor: date, today: date) -> date:
    """The first cycle to credit: the one in progress (the anchor if still ahead)."""
    return anchor if today < anchor else current_period(anchor, today)[0]


def schedule_op(agency: Agency, today: date) -> Op | None:
    """The op that schedules an agency's plan renewals (None for plans without minutes)."""
    plan = PLANS.get(agency.plan)
    if plan is None or not plan.included_premium_minutes:
        return None
    cycle = first_cycle(date.fromisoformat(agency.subscription_start), today)
    return plan_renewals.schedule_op(
        agency_id=agency.agency_id, primary_subaccount_id=agency.primary_subaccount_id,
        anchor=agency.subscription_start, first_cycle=cycle)


def resume_op(renewal: PlanRenewal, today: date) -> Op:
    """Put a stopped schedule back in the due index (the agency returned to a plan with
    included minutes): the cycle in progress, unless that one was credited already.

    The condition (still stopped) makes two concurrent resumes one; the ledger id of each
    cycle keeps a cycle from being credited twice whatever the schedule says.
    """
    anchor = date.fromisoformat(renewal.anchor)
    cycle = first_cycle(anchor, today)
    if renewal.last_cycle and cycle <= date.fromisoformat(renewal.last_cycle):
        cycle = next_cycle_date(anchor, date.fromisoformat(renewal.last_cycle))
    return plan_renewals.resume_op(
        renewal, cycle, Conflict("the plan changed meanwhile; retry", code="concurrent_update"))


def _stop(renewal: PlanRenewal) -> None:
    """Out of the due index (agency closed, or its plan includes no minutes any more)."""
    commit([plan_renewals.stop_op(renewal)])


def renew(agency_id: str, as_of: datetime) -> str:
    """Credit one due cycle of one agency: ``succeeded`` or ``skipped``."""
    renewal = plan_renewals.get(agency_id)
    if (renewal is None or not renewal.is_scheduled
            or renewal.next_cycle > as_of.date().isoformat()):
        return "skipped"
    agency = agencies.get(agency_id)
    plan = PLANS.get(agency.plan) if agency else None
    if agency is None or agency.status != "active" or plan is None \
            or not plan.included_premium_minutes:
        _stop(renewal)
        return "skipped"
    cycle = date.fromisoformat(renewal.next_cycle)
    following = next_cycle_date(date.fromisoformat(renewal.anchor), cycle)
    primary = renewal.primary_subaccount_id
    seconds = plan.included_premium_minutes * SECONDS_PER_MINUTE
    move_on = plan_renewals.move_on_op(renewal, following)
    tx = LedgerTransaction(
        agency_id=agency_id, transaction_id=f"plan:{agency_id}:{cycle.isoformat()}",
        code=Code.PLAN_INCLUDED,
        postings=transfer(supply(primary), wallet(primary), Asset.PREMIUM_MINUTES, seconds),
        subaccount_id=primary, memo=f"{agency.plan} included minutes, cycle {cycle}",
        metadata={"plan": agency.plan, "cycle": cycle.isoformat()},
    )
    try:
        post_transaction(tx, also=[move_on])
    except AlreadyPosted:
        return "skipped"  # a concurrent run credited this cycle
    except ConditionFailed:
        return "skipped"  # a concurrent run moved the schedule on
    return "succeeded"


def plan_renewal_sweep(as_of: datetime, deadline: Deadline | None = None) -> dict[str, Any]:
    """Credit every plan renewal due at ``as_of`` (GSI2 ``DUE#plan-renewal``, no scan); past
    the ``deadline`` the rest stays due for the next run (``deferred``)."""
    due = [renewal.agency_id for renewal in plan_renewals.due(as_of)]
    return run_sweep("plan-renewal", as_of, due, renew, deadline=deadline)

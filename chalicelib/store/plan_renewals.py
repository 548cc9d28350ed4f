"""Plan renewals: when an agency's plan-included minutes are next credited to its primary.

The ``PlanRenewal`` item (model in ``store.payments``) sits in the sparse due index
(GSI2 ``DUE#plan-renewal``) under its next cycle date while the agency's plan includes
minutes; it moves on in the same transaction as the cycle's ledger credit, conditioned on
the cycle it read, so a rerun or a concurrent run credits a cycle once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

from chalicelib.domain.errors import DomainError
from chalicelib.store import keys
from chalicelib.store.payments import PLAN_RENEWAL_JOB, PlanRenewal, due_items, get_plan_renewal
from chalicelib.store.transact import Op, save, update

__all__ = ["PlanRenewal", "due", "get", "move_on_op", "resume_op", "schedule_op", "stop_op"]


def _due_sk(agency_id: str, cycle: date) -> str:
    return keys.due_sk(f"{cycle.isoformat()}T00:00:00Z", agency_id)


def _key_item(renewal: PlanRenewal) -> PlanRenewal:
    return PlanRenewal(renewal.PK, renewal.SK)


def get(agency_id: str) -> PlanRenewal | None:
    """An agency's plan renewal schedule, or None (one consistent GetItem)."""
    return get_plan_renewal(agency_id)


def due(as_of: datetime) -> Iterator[PlanRenewal]:
    """Schedules due at or before ``as_of``: the due index only, never a scan."""
    return (item for item in due_items(PLAN_RENEWAL_JOB, as_of)
            if isinstance(item, PlanRenewal))


def schedule_op(*, agency_id: str, primary_subaccount_id: str, anchor: str,
                first_cycle: date) -> Op:
    """Create the agency's schedule, due on ``first_cycle`` (refused when it has one)."""
    return save(PlanRenewal(
        keys.agency_pk(agency_id), keys.PLAN_RENEWAL_SK,
        agency_id=agency_id, primary_subaccount_id=primary_subaccount_id,
        anchor=anchor, next_cycle=first_cycle.isoformat(),
        DUEPK=keys.due_pk(PLAN_RENEWAL_JOB, agency_id),
        DUESK=_due_sk(agency_id, first_cycle),
    ), condition=PlanRenewal.PK.does_not_exist())


def resume_op(renewal: PlanRenewal, cycle: date, error: DomainError) -> Op:
    """Put a stopped schedule back in the due index at ``cycle``; ``error`` unless it is
    still stopped (two concurrent resumes make one)."""
    return update(
        _key_item(renewal),
        [PlanRenewal.next_cycle.set(cycle.isoformat()),
         PlanRenewal.DUEPK.set(keys.due_pk(PLAN_RENEWAL_JOB, renewal.agency_id)),
         PlanRenewal.DUESK.set(_due_sk(renewal.agency_id, cycle))],
        condition=PlanRenewal.DUESK.does_not_exist(),
        error=error,
    )


def stop_op(renewal: PlanRenewal) -> Op:
    """Take the schedule out of the due index (the agency closed, or its plan includes no
    minutes any more); ``last_cycle`` is kept so a resume never credits a cycle twice."""
    return update(_key_item(renewal), [PlanRenewal.DUEPK.remove(), PlanRenewal.DUESK.remove()])


def move_on_op(renewal: PlanRenewal, following: date) -> Op:
    """The cycle read is credited: due next on ``following``. Refused (``ConditionFailed``)
    when a concurrent run moved the schedule on first."""
    return update(
        _key_item(renewal),
        [PlanRenewal.next_cycle.set(following.isoformat()),
         PlanRenewal.last_cycle.set(renewal.next_cycle),
         PlanRenewal.DUESK.set(_due_sk(renewal.agency_id, following))],
        condition=PlanRenewal.next_cycle == renewal.next_cycle,
    )

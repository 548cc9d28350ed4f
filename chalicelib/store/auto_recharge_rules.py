"""Auto-recharge rules: one per sub-account and tier, in the agency's partition.

A rule (model ``AutoRechargeRule`` in ``store.payments``) is claimed for one top-up at a
time (``in_flight``, set on the condition that the claim read is still there), and this
month's spend is reserved by the claim on the condition that it is still what was read. A
usage debit that crosses the threshold marks the rule due (GSI2 ``DUE#auto-recharge``) in
its own transaction; the claim, a recorded failure or the sweep clears the mark.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import DomainError
from chalicelib.store import keys
from chalicelib.store.base import TableItem, read_items
from chalicelib.store.payments import AutoRechargeRule, due_items, get_recharge_rule
from chalicelib.store.transact import Op, delete, save, update

__all__ = ["DUE_JOB", "AutoRechargeRule", "claim_op", "clear_due_op", "delete_op", "due",
           "failure_op", "get", "mark_due_op", "new", "read_settings", "release_op",
           "replace_op", "settings_keys"]

#: GSI2 partition (``keys.due_pk``) of rules whose crossing waits for its top-up.
DUE_JOB = "auto-recharge"


def _key_item(rule: AutoRechargeRule) -> AutoRechargeRule:
    return AutoRechargeRule(rule.PK, rule.SK)


def _clear_due_actions() -> list[Any]:
    return [AutoRechargeRule.DUEPK.remove(), AutoRechargeRule.DUESK.remove()]


# -- reads -----------------------------------------------------------------------------------


def get(agency_id: str, subaccount_id: str, tier: str) -> AutoRechargeRule | None:
    """A sub-account's rule of one tier, or None (one consistent GetItem)."""
    return get_recharge_rule(agency_id, subaccount_id, tier)


def settings_keys(agency_id: str, subaccount_id: str, tier: str) -> list[tuple[str, str]]:
    """Keys of what a usage debit's hook needs (the agency, the tier's rule), for a batch
    read of the caller's own."""
    return [(keys.agency_pk(agency_id), keys.AGENCY_SK),
            (keys.agency_pk(agency_id), keys.auto_recharge_sk(subaccount_id, tier))]


def read_settings(agency_id: str, subaccount_id: str, tier: str) -> list[TableItem]:
    """The agency and the tier's rule, those that exist (one consistent BatchGetItem)."""
    return list(read_items(settings_keys(agency_id, subaccount_id, tier)).values())


def due(as_of: datetime) -> Iterator[AutoRechargeRule]:
    """Rules marked due at or before ``as_of``: the due index only, never a scan. The index
    may lag behind a write: read a rule again before acting on it."""
    return (item for item in due_items(DUE_JOB, as_of) if isinstance(item, AutoRechargeRule))


# -- writes ----------------------------------------------------------------------------------


def new(*, agency_id: str, subaccount_id: str, tier: str, threshold_seconds: int,
        recharge_minutes: int, enabled: bool, monthly_cap_micros: int | None,
        existing: AutoRechargeRule | None, at: datetime) -> AutoRechargeRule:
    """An unsaved rule replacing ``existing`` (or the first one). What the rule is doing is
    kept: this month's spend and an in-flight top-up (re-saving a rule must not reopen the
    cap), and a crossing still waiting for its top-up stays due."""
    return AutoRechargeRule(
        keys.agency_pk(agency_id), keys.auto_recharge_sk(subaccount_id, tier),
        agency_id=agency_id, subaccount_id=subaccount_id, tier=tier,
        threshold_seconds=threshold_seconds, recharge_minutes=recharge_minutes,
        enabled=enabled, monthly_cap_micros=monthly_cap_micros, updated_at=at,
        in_flight=existing.in_flight if existing else None,
        in_flight_micros=existing.in_flight_micros if existing else None,
        month=existing.month if existing else None,
        month_spent_micros=(existing.month_spent_micros or 0) if existing else 0,
        failures=0, last_purchase_id=existing.last_purchase_id if existing else None,
        DUEPK=existing.DUEPK if existing else None, DUESK=existing.DUESK if existing else None,
    )


def replace_op(rule: AutoRechargeRule, existing: AutoRechargeRule | None,
               error: DomainError) -> Op:
    """Save ``rule`` (from ``new``) over ``existing`` as read, or as the first rule of its
    tier; ``error`` when the stored rule is not that any more."""
    guard = (AutoRechargeRule.updated_at == existing.updated_at if existing
             else AutoRechargeRule.PK.does_not_exist())
    return save(rule, condition=guard, error=error)


def delete_op(rule: AutoRechargeRule) -> Op:
    """Delete the rule."""
    return delete(_key_item(rule))


def mark_due_op(rule: AutoRechargeRule, at: datetime, error: DomainError) -> Op:
    """For the crossing debit's own transaction: the rule is due for a top-up since ``at``;
    ``error`` when the rule changed (edited, disabled, deleted) since it was read."""
    return update(_key_item(rule), [
        AutoRechargeRule.DUEPK.set(keys.due_pk(DUE_JOB, rule.agency_id)),
        AutoRechargeRule.DUESK.set(keys.due_sk(
            at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            f"{rule.agency_id}:{rule.subaccount_id}:{rule.tier}")),
    ], condition=(AutoRechargeRule.updated_at == rule.updated_at)
        & (AutoRechargeRule.enabled == True),  # noqa: E712
        error=error)


def claim_op(rule: AutoRechargeRule, *, purchase_id: str, charge_micros: int, month: str,
             month_spent_micros: int) -> Op:
    """Claim the rule for the top-up ``purchase_id`` and reserve its charge in ``month``'s
    spend (now ``month_spent_micros``); the due mark goes (the top-up started). Refused
    (``ConditionFailed``) unless the claim and the spend are still as read and the rule is
    enabled: a concurrent debit claimed it first."""
    claimed = (AutoRechargeRule.in_flight == rule.in_flight if rule.in_flight
               else AutoRechargeRule.in_flight.does_not_exist())
    same_spend = (AutoRechargeRule.month_spent_micros == rule.month_spent_micros
                  if rule.month_spent_micros is not None
                  else AutoRechargeRule.month_spent_micros.does_not_exist())
    return update(_key_item(rule), [
        AutoRechargeRule.in_flight.set(purchase_id),
        AutoRechargeRule.in_flight_micros.set(charge_micros),
        AutoRechargeRule.month.set(month),
        AutoRechargeRule.month_spent_micros.set(month_spent_micros),
        AutoRechargeRule.last_purchase_id.set(purchase_id),
        *_clear_due_actions(),
    ], condition=claimed & same_spend & (AutoRechargeRule.enabled == True))  # noqa: E712


def release_op(rule: AutoRechargeRule, purchase_id: str) -> Op:
    """The top-up ``purchase_id`` succeeded: release its claim, failures back to zero.
    Refused (``ConditionFailed``) when the rule is not claimed by it any more."""
    return update(_key_item(rule), [
        AutoRechargeRule.in_flight.remove(), AutoRechargeRule.in_flight_micros.remove(),
        AutoRechargeRule.failures.set(0)],
        condition=AutoRechargeRule.in_flight == purchase_id)


def failure_op(rule: AutoRechargeRule, *, code: str, at: datetime,
               failed_purchase_id: str | None = None, unreserve_micros: int = 0) -> Op:
    """Count a failure and end the crossing (the due mark goes). With ``failed_purchase_id``
    the top-up it claimed failed: its claim is released and ``unreserve_micros`` go back to
    this month's spend, on the condition that it still holds the claim. Refused
    (``ConditionFailed``) when the rule is gone or claimed by another top-up."""
    actions = [AutoRechargeRule.failures.add(1),
               AutoRechargeRule.last_failure_code.set(code),
               AutoRechargeRule.last_failure_at.set(at),
               *_clear_due_actions()]
    if failed_purchase_id is None:
        return update(_key_item(rule), actions, condition=AutoRechargeRule.PK.exists())
    actions += [AutoRechargeRule.in_flight.remove(),
                AutoRechargeRule.in_flight_micros.remove(),
                AutoRechargeRule.month_spent_micros.add(-unreserve_micros)]
    return update(_key_item(rule), actions,
                  condition=AutoRechargeRule.in_flight == failed_purchase_id)


def clear_due_op(rule: AutoRechargeRule) -> Op:
    """Drop the due mark read. Refused (``ConditionFailed``) when a newer crossing set
    another meanwhile."""
    return update(_key_item(rule), _clear_due_actions(),
                  condition=AutoRechargeRule.DUESK == rule.DUESK)

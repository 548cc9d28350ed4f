"""Monthly auto-allocation rules: one per sub-account, in the agency's partition.

A rule (model ``AutoAllocationRule`` in ``store.payments``) is in the sparse due index
(GSI2 ``DUE#auto-allocation``) only while active and enabled, under the day it is next due
(its cycle date, or a retry day after a decline). Every write after creation is
conditioned on the ``version`` read and bumps it, so a sweep that lost a race changes
nothing.

The index projects whole items, so the sweep acts on the rule as the index returned it. The
rule carries copies of what buying needs (the agency's primary sub-account and timezone, the
sub-account's anchor); ``guard_pending`` makes the transaction that records a purchase require
that the rule, the sub-account and the agency are still what those copies say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime

from pynamodb.expressions.condition import Condition

from chalicelib.domain.errors import DomainError
from chalicelib.domain.timezones import DEFAULT_TIMEZONE
from chalicelib.store import keys
from chalicelib.store.accounts import Agency, Subaccount
from chalicelib.store.base import read_items
from chalicelib.store.payments import (
    ALLOCATION_JOB,
    AutoAllocationRule,
    due_items,
    get_allocation_rule,
)
from chalicelib.store.transact import Op, check, delete, save, update

__all__ = ["AutoAllocationRule", "advance_op", "delete_op", "due", "failure_op", "get",
           "get_with_agency", "guard_pending", "load", "new", "replace_op", "with_copies"]


def _due_attrs(agency_id: str, subaccount_id: str, day: date) -> tuple[str, str]:
    return (keys.due_pk(ALLOCATION_JOB, agency_id),
            keys.due_sk(f"{day.isoformat()}T00:00:00Z", f"{agency_id}#{subaccount_id}"))


def _key_item(rule: AutoAllocationRule) -> AutoAllocationRule:
    return AutoAllocationRule(rule.PK, rule.SK)


def _unchanged(rule: AutoAllocationRule) -> Condition:
    return AutoAllocationRule.version == (rule.version or 0)


# -- reads -----------------------------------------------------------------------------------


def get(agency_id: str, subaccount_id: str) -> AutoAllocationRule | None:
    """A sub-account's rule, or None (one consistent GetItem)."""
    return get_allocation_rule(agency_id, subaccount_id)


def get_with_agency(agency_id: str, subaccount_id: str
                    ) -> tuple[AutoAllocationRule | None, Agency | None]:
    """A sub-account's rule and its agency (each None when absent): one consistent
    BatchGetItem."""
    pk = keys.agency_pk(agency_id)
    rule_sk = keys.auto_allocation_sk(subaccount_id)
    found = read_items([(pk, rule_sk), (pk, keys.AGENCY_SK)])
    rule, agency = found.get((pk, rule_sk)), found.get((pk, keys.AGENCY_SK))
    return (rule if isinstance(rule, AutoAllocationRule) else None,
            agency if isinstance(agency, Agency) else None)


def load(agency_id: str, subaccount_id: str
         ) -> tuple[AutoAllocationRule | None, Subaccount | None, Agency | None]:
    """The rule, its sub-account and the agency (each None when absent): all three live in
    the agency's partition, so one consistent BatchGetItem."""
    pk = keys.agency_pk(agency_id)
    rule_sk, sub_sk = keys.auto_allocation_sk(subaccount_id), keys.subaccount_sk(subaccount_id)
    found = read_items([(pk, rule_sk), (pk, sub_sk), (pk, keys.AGENCY_SK)])
    rule, sub, agency = (found.get((pk, rule_sk)), found.get((pk, sub_sk)),
                         found.get((pk, keys.AGENCY_SK)))
    return (rule if isinstance(rule, AutoAllocationRule) else None,
            sub if isinstance(sub, Subaccount) else None,
            agency if isinstance(agency, Agency) else None)


def due(as_of: datetime) -> Iterator[AutoAllocationRule]:
    """Rules due at or before ``as_of``, whole: the due index only, never a scan. The index
    may lag behind a write: act on a rule under ``guard_pending`` and version-conditioned
    writes, or read it again (``load``)."""
    return (item for item in due_items(ALLOCATION_JOB, as_of)
            if isinstance(item, AutoAllocationRule))


# -- writes ----------------------------------------------------------------------------------


def new(*, agency_id: str, subaccount_id: str, basic_minutes: int, premium_minutes: int,
        enabled: bool, period: date, existing: AutoAllocationRule | None, at: datetime,
        primary_subaccount_id: str | None = None, anchor: str | None = None,
        timezone: str | None = None) -> AutoAllocationRule:
    """An unsaved rule replacing ``existing`` (or the first one): active, due on ``period``
    when enabled, with the copies the sweep buys with. Attempt numbers name purchases, so
    they never restart (no purchase id is reused); last period done carries over."""
    rule = AutoAllocationRule(
        keys.agency_pk(agency_id), keys.auto_allocation_sk(subaccount_id),
        agency_id=agency_id, subaccount_id=subaccount_id, basic_minutes=basic_minutes,
        premium_minutes=premium_minutes, enabled=enabled, status="active",
        period=period.isoformat(),
        attempt=(existing.attempt or 0) + 1 if existing else 0,
        failures=0, last_period_done=existing.last_period_done if existing else None,
        version=(existing.version or 0) + 1 if existing else 1, updated_at=at,
        primary_subaccount_id=primary_subaccount_id, anchor=anchor, timezone=timezone,
    )
    if enabled:
        rule.DUEPK, rule.DUESK = _due_attrs(agency_id, subaccount_id, period)
    return rule


def replace_op(rule: AutoAllocationRule, existing: AutoAllocationRule | None,
               error: DomainError) -> Op:
    """Save ``rule`` (from ``new``) over ``existing`` as read, or as the first rule;
    ``error`` when the stored rule is not that any more."""
    condition = (AutoAllocationRule.version == existing.version if existing
                 else AutoAllocationRule.PK.does_not_exist())
    return save(rule, condition=condition, error=error)


def delete_op(rule: AutoAllocationRule) -> Op:
    """Delete the rule (its due entry goes with it)."""
    return delete(_key_item(rule))


def advance_op(rule: AutoAllocationRule, following: date, at: datetime) -> Op:
    """The rule's period is done (bought or skipped): due on ``following`` with a fresh
    failure count. Refused (``ConditionFailed``) when the rule changed since it was read."""
    due_pk, due_sk = _due_attrs(rule.agency_id, rule.subaccount_id, following)
    return update(_key_item(rule), [
        AutoAllocationRule.period.set(following.isoformat()),
        AutoAllocationRule.last_period_done.set(rule.period),
        AutoAllocationRule.attempt.add(1),
        AutoAllocationRule.failures.set(0),
        AutoAllocationRule.last_failure_code.remove(),
        AutoAllocationRule.DUEPK.set(due_pk),
        AutoAllocationRule.DUESK.set(due_sk),
        AutoAllocationRule.version.add(1),
        AutoAllocationRule.updated_at.set(at),
    ], condition=_unchanged(rule))


def failure_op(rule: AutoAllocationRule, *, code: str, failures: int, at: datetime,
               paused_reason: str | None = None, retry_on: date | None = None) -> Op:
    """Count a failed attempt: the next attempt is due on ``retry_on``, or (with
    ``paused_reason``) the rule pauses and leaves the due index. Refused
    (``ConditionFailed``) when the rule changed since it was read."""
    actions = [
        AutoAllocationRule.failures.set(failures),
        AutoAllocationRule.attempt.add(1),
        AutoAllocationRule.last_failure_code.set(code),
        AutoAllocationRule.version.add(1),
        AutoAllocationRule.updated_at.set(at),
    ]
    if paused_reason is not None:
        actions += [AutoAllocationRule.status.set("paused"),
                    AutoAllocationRule.paused_reason.set(paused_reason),
                    AutoAllocationRule.DUEPK.remove(), AutoAllocationRule.DUESK.remove()]
    elif retry_on is not None:
        due_pk, due_sk = _due_attrs(rule.agency_id, rule.subaccount_id, retry_on)
        actions += [AutoAllocationRule.DUEPK.set(due_pk), AutoAllocationRule.DUESK.set(due_sk)]
    else:
        raise ValueError("a failure either pauses the rule or retries it")
    return update(_key_item(rule), actions, condition=_unchanged(rule))


def with_copies(rule: AutoAllocationRule, *, primary_subaccount_id: str, anchor: str,
                timezone: str, at: datetime) -> tuple[AutoAllocationRule, Op]:
    """``rule`` with fresh copies of the agency's primary and timezone and the sub-account's
    anchor, and the op that stores them (``ConditionFailed`` when the rule changed since it
    was read)."""
    op = update(_key_item(rule), [
        AutoAllocationRule.primary_subaccount_id.set(primary_subaccount_id),
        AutoAllocationRule.anchor.set(anchor),
        AutoAllocationRule.timezone.set(timezone),
        AutoAllocationRule.version.add(1),
        AutoAllocationRule.updated_at.set(at),
    ], condition=_unchanged(rule))
    fresh = AutoAllocationRule.from_raw_data(rule.serialize())
    fresh.primary_subaccount_id, fresh.anchor, fresh.timezone = (
        primary_subaccount_id, anchor, timezone)
    fresh.version, fresh.updated_at = (rule.version or 0) + 1, at
    return fresh, op


def guard_pending(rule: AutoAllocationRule, error: DomainError
                  ) -> Callable[[list[Op]], list[Op]]:
    """Conditions for the transaction that records the rule's purchase
    (``payments.record_pending``): the rule unchanged since read, the agency active with the
    rule's timezone, the sub-account active with the rule's anchor; ``error`` when one fails.

    A transaction writes an item once, so the sub-account's condition joins the op that marks
    the purchase in flight on it (there must be one).
    """
    agency_pk = keys.agency_pk(rule.agency_id)
    sub_key = (agency_pk, keys.subaccount_sk(rule.subaccount_id))
    sub_condition = ((Subaccount.status == "active")
                     & (Subaccount.subscription_start == rule.anchor))
    same_zone = Agency.timezone == rule.timezone
    if rule.timezone == DEFAULT_TIMEZONE:
        # Agencies saved before timezones existed have no attribute: they read as the default.
        same_zone = same_zone | Agency.timezone.does_not_exist()
    guards = [
        check(_key_item(rule), _unchanged(rule), error),
        check(Agency(agency_pk, keys.AGENCY_SK), (Agency.status == "active") & same_zone, error),
    ]

    def guarded(ops: list[Op]) -> list[Op]:
        if not any(sub_key == (op.item.PK, op.item.SK) for op in ops):
            raise ValueError("no op on the sub-account to carry its condition")
        return [*guards, *(
            replace(op, condition=sub_condition if op.condition is None
                    else op.condition & sub_condition, on_condition_failed=error)
            if sub_key == (op.item.PK, op.item.SK) else op for op in ops)]

    return guarded

"""Reconciliation findings: where the ledger and Stripe disagree, kept for a person to look at.

Two writers, one place to read: a run of the reconciliation job, and a webhook event whose
object Stripe contradicts. Written only when something is wrong, so the platform partition
(``RECONCILIATION``) stays small.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute

from chalicelib.store import keys
from chalicelib.store.base import TableItem, UTCDateTimeText, sortable_time
from chalicelib.store.transact import Op, save


class ReconciliationReport(TableItem, discriminator="ReconciliationReport"):
    """PK: ``RECONCILIATION`` / SK: ``<as_of iso>#<run id>``. Written only when the ledger and
    Stripe disagree: every difference found for the period, for a person to look at.

    Two writers, one place to read: a run of the reconciliation job (``source`` absent or
    ``job``), and a webhook event whose object Stripe contradicts (``source`` ``webhook``,
    SK ``<at iso>#<event id>``, one difference, period = the moment it arrived). The platform
    partition is fine here: reports are rare, written only when something is wrong.
    """

    period_start = UTCDateTimeText()
    period_end = UTCDateTimeText()
    differences = JSONAttribute()  # [{kind, agency_id, stripe_id, expected, found, ...}]
    created_at = UTCDateTimeText()
    source = UnicodeAttribute(null=True)  # job (absent on older reports) | webhook


def save_report(*, as_of: datetime, period_start: datetime, period_end: datetime,
                differences: list[dict[str, Any]], at: datetime) -> None:
    """Keep the differences a reconciliation run found for its period (one PutItem; a new
    run id each time)."""
    ReconciliationReport(
        keys.RECONCILIATION_PK, f"{sortable_time(as_of)}#{uuid.uuid4().hex}",
        period_start=period_start, period_end=period_end, differences=differences,
        created_at=at,
    ).save()


def webhook_finding_op(event_id: str, difference: dict[str, Any], at: datetime) -> Op:
    """Save the finding of a webhook event that did not match Stripe (commit it with the
    event's marker: a redelivered event adds no second finding)."""
    return save(ReconciliationReport(
        keys.RECONCILIATION_PK, f"{sortable_time(at)}#{event_id}", period_start=at,
        period_end=at, differences=[difference], created_at=at, source="webhook"))


def reports() -> list[ReconciliationReport]:
    """Every report, oldest first (one Query of the platform partition)."""
    return list(ReconciliationReport.query(keys.RECONCILIATION_PK))

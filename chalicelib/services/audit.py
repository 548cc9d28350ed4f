"""Audit log: every admin action, written in the same transaction as the change it records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from chalicelib.store import keys
from chalicelib.store.activity import AuditEvent
from chalicelib.store.base import sortable_time, utcnow
from chalicelib.store.transact import Op, save


def audit_op(agency_id: str, actor_user_id: str, action: str, *, subaccount_id: str | None = None,
             target: str | None = None, before: Any = None, after: Any = None,
             at: datetime | None = None) -> Op:
    """An op that records ``action`` (include it in the change's own ``commit``)."""
    when = at or utcnow()
    event_id = uuid.uuid4().hex
    return save(
        AuditEvent(
            keys.audit_pk(agency_id),
            keys.timeline_sk(sortable_time(when), event_id),
            agency_id=agency_id,
            event_id=event_id,
            action=action,
            actor_user_id=actor_user_id,
            subaccount_id=subaccount_id,
            target=target,
            before=before,
            after=after,
            at=when,
        )
    )

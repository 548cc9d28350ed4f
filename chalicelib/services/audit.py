"""Audit log: every admin action, written in the same transaction as the change it records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.services.ports import now
from chalicelib.store import audit
from chalicelib.store.transact import Op


def audit_op(agency_id: str, actor_user_id: str, action: str, *, subaccount_id: str | None = None,
             target: str | None = None, before: Any = None, after: Any = None,
             at: datetime | None = None) -> Op:
    """An op that records ``action`` (include it in the change's own ``commit``)."""
    return audit.event(agency_id, actor_user_id, action, subaccount_id=subaccount_id,
                       target=target, before=before, after=after, at=at or now())

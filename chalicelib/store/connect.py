"""Names other areas import from before the Connect repositories were split (issue 19).

The models and their access patterns live in ``store.connect_accounts``,
``store.payout_schedules``, ``store.payouts`` and ``store.findings``; import from there.
This module goes once its last importer (``services.webhooks``) does.
"""

from __future__ import annotations

from chalicelib.store.connect_accounts import ConnectAccount
from chalicelib.store.findings import ReconciliationReport, webhook_finding_op
from chalicelib.store.payout_schedules import PayoutSchedule
from chalicelib.store.payouts import Payout

__all__ = ["ConnectAccount", "Payout", "PayoutSchedule", "ReconciliationReport",
           "webhook_finding_op"]

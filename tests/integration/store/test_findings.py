"""The findings repository against DynamoDB (moto): run reports and webhook findings in one
place, a redelivered event's finding kept once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.services.webhooks import marker_op
from chalicelib.store import findings
from chalicelib.store.transact import commit

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


class TestFindings:
    def test_no_report_until_something_differs(self, table) -> None:
        assert findings.reports() == []

    def test_each_run_keeps_its_own_report_of_every_difference(self, table) -> None:
        differences = [{"kind": "transfer_without_payout", "stripe_id": "tr_1"},
                       {"kind": "charge_without_purchase", "stripe_id": "ch_1"}]
        for _ in range(2):  # two runs at the same moment: two reports
            findings.save_report(as_of=AT, period_start=AT - timedelta(days=2),
                                 period_end=AT, differences=differences, at=AT)
        reports = findings.reports()
        assert len(reports) == 2
        assert reports[0].differences == differences
        assert (reports[0].period_start, reports[0].period_end, reports[0].source) == (
            AT - timedelta(days=2), AT, None)

    def test_a_webhook_finding_is_kept_once_with_its_events_marker(self, table) -> None:
        event = {"id": "evt_1", "type": "payout.paid"}
        finding = {"kind": "webhook_event_mismatch", "event_id": "evt_1"}
        commit([marker_op(event), findings.webhook_finding_op("evt_1", finding, AT)])
        with pytest.raises(Conflict):  # the redelivery: the marker refuses the whole write
            commit([marker_op(event),
                    findings.webhook_finding_op("evt_1", finding, AT + timedelta(seconds=5))])
        [report] = findings.reports()
        assert (report.source, report.differences) == ("webhook", [finding])

"""The processed-event markers against DynamoDB (moto): an event is recorded once, and a
second delivery's marker refuses the transaction it rides in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.store import webhooks
from chalicelib.store.transact import commit

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
SEEN = Conflict("seen", code="event_already_processed")


class TestMarkers:
    def test_an_event_is_not_processed_until_its_marker_is_written(self, table) -> None:
        assert webhooks.processed("evt_1") is False
        commit([webhooks.marker_op("evt_1", "payment_intent.succeeded", AT, SEEN)])
        assert webhooks.processed("evt_1") is True
        assert webhooks.processed("evt_2") is False

    def test_a_second_marker_of_the_same_event_is_refused_with_the_error_given(self,
                                                                             table) -> None:
        commit([webhooks.marker_op("evt_1", "charge.refunded", AT, SEEN)])
        with pytest.raises(Conflict) as refused:
            commit([webhooks.marker_op("evt_1", "charge.refunded", AT, SEEN)])
        assert refused.value is SEEN

"""A money transaction whose answer was lost is retried as the same transaction.

SPEC §5: a write that committed but whose answer never came is neither applied twice nor
reported as a failure or a conflict: every money ``TransactWriteItems`` carries a
``ClientRequestToken``, and the retry with the same token is answered as the same
transaction.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.errors import TemporarilyUnavailable
from chalicelib.domain.ledger import wallet
from chalicelib.services.moves import confirm_move, quote_move
from chalicelib.services.usage import ingest_usage
from chalicelib.services.wallets import adjust_balance
from chalicelib.store.ledger import AlreadyPosted, read_balance
from tests.integration.ledger.test_conservation import new_agency
from tests.ledger_support import assert_each_transaction_posted_once, assert_ledger_consistent


def lose_the_next_transaction_answer(faults: Any) -> None:
    """The next TransactWriteItems is applied, and its answer never reaches the app."""
    faults.set(lost_response=1.0, operations={"TransactWriteItems"}, limit=1)


class TestLostAnswers:
    def test_a_grant_whose_answer_was_lost_is_applied_once_and_reported_as_done(
            self, table, dynamodb_faults) -> None:
        principal, subs = new_agency()
        lose_the_next_transaction_answer(dynamodb_faults)
        granted = adjust_balance(subs[1], "premium_minutes", 100, "grant", None)
        assert dynamodb_faults.injected["lost_response"] == 1
        assert granted["amount_units"] == 100 * 60
        assert read_balance(principal.agency_id, wallet(subs[1]),
                            "premium_minutes").balance == 6000
        assert_ledger_consistent()

    def test_a_move_whose_answer_was_lost_is_confirmed_once(self, table,
                                                             dynamodb_faults) -> None:
        principal, subs = new_agency()
        adjust_balance(subs[1], "kp_credits", 50, "seed", None)
        quote = quote_move(principal, subs[1], subs[2], "kp_credits", 20)
        lose_the_next_transaction_answer(dynamodb_faults)
        confirm_move(principal, quote.quote_id)
        assert dynamodb_faults.injected["lost_response"] == 1
        agency_id = principal.agency_id
        assert read_balance(agency_id, wallet(subs[1]), "kp_credits").balance == 30
        assert read_balance(agency_id, wallet(subs[2]), "kp_credits").balance == 20
        assert_ledger_consistent()

    def test_a_call_whose_answer_was_lost_is_recorded_once_not_as_a_duplicate(
            self, table, dynamodb_faults) -> None:
        principal, subs = new_agency()
        adjust_balance(subs[1], "premium_minutes", 10, "seed", None)
        lose_the_next_transaction_answer(dynamodb_faults)
        answer = ingest_usage([{"call_id": "lost-1", "subaccount_id": subs[1],
                                "tier": "premium", "duration_seconds": 90,
                                "direction": "inbound", "status": "completed",
                                "started_at": "2026-11-20T10:00:00Z"}])
        assert answer["results"][0]["status"] == "recorded"
        assert read_balance(principal.agency_id, wallet(subs[1]),
                            "premium_minutes").balance == 510
        assert_ledger_consistent()

    def test_a_grant_whose_every_answer_is_lost_is_unavailable_yet_applied_exactly_once(
            self, table, dynamodb_faults) -> None:
        principal, subs = new_agency()
        dynamodb_faults.set(lost_response=1.0, operations={"TransactWriteItems"})
        with pytest.raises(TemporarilyUnavailable):
            adjust_balance(subs[1], "premium_minutes", 100, "grant", "grant-key")
        dynamodb_faults.off()
        assert read_balance(principal.agency_id, wallet(subs[1]),
                            "premium_minutes").balance == 6000
        with pytest.raises(AlreadyPosted):  # the caller's retry with its key: done already
            adjust_balance(subs[1], "premium_minutes", 100, "grant", "grant-key")
        assert_ledger_consistent()
        assert_each_transaction_posted_once()


class TestTokenMisuse:
    def test_a_token_reused_for_another_request_is_an_internal_error_not_retried_nor_a_conflict(
            self, app_client, monkeypatch) -> None:
        """A token DynamoDB already saw with another request would be a bug in how tokens are
        made: the app must not mistake it for a conflict nor retry it, and must log it."""
        import logging

        from botocore.client import BaseClient

        from tests.helpers import call, create_agency

        agency = create_agency(app_client)
        sends: list[str] = []
        original = BaseClient._make_api_call

        def one_token_for_everything(self: BaseClient, operation: str, params: dict) -> Any:
            if operation == "TransactWriteItems":
                params = {**params, "ClientRequestToken": "one-token-for-two-requests"}
                sends.append(operation)
            return original(self, operation, params)

        records: list[logging.LogRecord] = []
        handler = logging.Handler(level=logging.ERROR)
        handler.emit = records.append  # type: ignore[method-assign]
        logging.getLogger("chalicelib").addHandler(handler)
        monkeypatch.setattr(BaseClient, "_make_api_call", one_token_for_everything)
        try:
            grants = []
            for amount in ("10", "20"):
                sends.clear()
                grants.append(call(app_client, "POST", "/v1/platform/adjustments",
                                   platform=True, body={"subaccount_id": agency.primary_id,
                                                        "asset": "premium_minutes",
                                                        "amount": amount, "reason": "grant"}))
        finally:
            logging.getLogger("chalicelib").removeHandler(handler)
        assert grants[0].status == 201, grants[0].body
        assert grants[1].status == 500, grants[1].body
        assert grants[1].error_code == "internal_error"
        assert sends == ["TransactWriteItems"]  # sent once: a mismatch is not retried
        assert any("ClientRequestToken" in record.getMessage() for record in records)
        monkeypatch.undo()
        assert read_balance(agency.agency_id, wallet(agency.primary_id),
                            "premium_minutes").balance == 600

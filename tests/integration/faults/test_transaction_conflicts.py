"""The local DynamoDB meets transaction conflicts the way DynamoDB does, and stays isolated.

DynamoDB: a transaction touching an item that another transaction is writing is cancelled
with a ``TransactionConflict`` reason on that item; a plain ``PutItem``/``UpdateItem``/
``DeleteItem`` on such an item is refused with ``TransactionConflictException``; reads never
see half of a transaction. Transactions on other items do not wait. The emulator's own
checks stay: at most 100 actions, one action per item, all or nothing when a write fails.

``transaction_hold_seconds`` keeps transactions "in progress" (their items claimed) for that
long, or until the switch changes, so that a test can meet them (``transaction_hold_count``:
only the first ones).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.faults.support import (
    TABLE,
    counter_update,
    error_code,
    key,
    raw_client,
    read_n,
)


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


@pytest.fixture
def held_transaction(table: None, dynamodb_faults: Any) -> Iterator[Callable[..., None]]:
    """Start a transaction in the background and return once it holds its items; it ends
    when the fault switch is turned off (by the test, or at teardown)."""
    from devstack.moto_dynamodb import transactions_in_progress

    threads: list[threading.Thread] = []

    def start(*actions: dict[str, Any]) -> None:
        dynamodb_faults.set(transaction_hold_seconds=30, transaction_hold_count=1)
        thread = threading.Thread(
            target=raw_client().transact_write_items, kwargs={"TransactItems": list(actions)})
        thread.start()
        threads.append(thread)
        wait_until(lambda: transactions_in_progress() > 0)

    yield start
    dynamodb_faults.off()
    for thread in threads:
        thread.join(timeout=30)


class TestRealTransactionConflicts:
    def test_a_transaction_meeting_one_in_progress_is_cancelled_with_transaction_conflict(
            self, held_transaction, dynamodb_faults) -> None:
        client = raw_client()
        held_transaction(counter_update("X", by=1))
        with pytest.raises(ClientError) as caught:
            client.transact_write_items(TransactItems=[counter_update("Y", by=1),
                                                       counter_update("X", by=10)])
        assert error_code(caught.value) == "TransactionCanceledException"
        assert [reason["Code"] for reason in caught.value.response["CancellationReasons"]] == [
            "None", "TransactionConflict"]
        assert dynamodb_faults.observed["transaction_conflict"] == 1
        dynamodb_faults.off()
        wait_until(lambda: read_n(client, "X") == 1)
        assert read_n(client, "Y") is None

    def test_a_plain_write_on_an_item_inside_a_transaction_gets_transaction_conflict(
            self, held_transaction) -> None:
        client = raw_client()
        client.put_item(TableName=TABLE, Item={**key("X"), "n": {"N": "0"}})
        held_transaction(counter_update("X", by=1))
        for write in (
            lambda: client.put_item(TableName=TABLE, Item={**key("X"), "n": {"N": "9"}}),
            lambda: client.update_item(TableName=TABLE, Key=key("X"), UpdateExpression="ADD n :o",
                                       ExpressionAttributeValues={":o": {"N": "1"}}),
            lambda: client.delete_item(TableName=TABLE, Key=key("X")),
        ):
            with pytest.raises(ClientError) as caught:
                write()
            assert error_code(caught.value) == "TransactionConflictException"
        client.put_item(TableName=TABLE, Item={**key("Z"), "n": {"N": "4"}})  # another item

    def test_reads_during_a_transaction_see_none_of_it_and_afterwards_all_of_it(
            self, held_transaction, dynamodb_faults) -> None:
        client = raw_client()
        client.put_item(TableName=TABLE, Item={**key("X"), "n": {"N": "0"}})
        held_transaction(counter_update("X", by=1), counter_update("Y", by=1))
        assert read_n(client, "X") == 0
        assert read_n(client, "Y") is None
        batch = client.batch_get_item(RequestItems={TABLE: {"Keys": [key("X"), key("Y")]}})
        assert [item["n"]["N"] for item in batch["Responses"][TABLE]] == ["0"]
        dynamodb_faults.off()
        wait_until(lambda: read_n(client, "Y") == 1)
        assert read_n(client, "X") == 1

    def test_a_transaction_on_other_items_does_not_wait_for_one_in_progress(
            self, held_transaction) -> None:
        client = raw_client()
        held_transaction(counter_update("X", by=1))
        started = time.monotonic()
        client.transact_write_items(TransactItems=[counter_update("Z", by=1)])
        assert time.monotonic() - started < 10  # not the 30 s the other one is held
        assert read_n(client, "Z") == 1


class TestEmulatorChecksStay:
    def test_more_than_100_actions_are_refused(self, table) -> None:
        with pytest.raises(ClientError) as caught:
            raw_client().transact_write_items(
                TransactItems=[counter_update(f"K{n}") for n in range(101)])
        assert error_code(caught.value) == "ValidationException"

    def test_two_actions_on_one_item_are_refused(self, table) -> None:
        client = raw_client()
        with pytest.raises(ClientError) as caught:
            client.transact_write_items(TransactItems=[counter_update("A"), counter_update("A")])
        assert error_code(caught.value) == "ValidationException"
        assert read_n(client, "A") is None

    def test_a_write_that_fails_midway_undoes_the_writes_before_it(self, table) -> None:
        client = raw_client()
        client.put_item(TableName=TABLE, Item={**key("A"), "n": {"N": "1"}})
        too_large = {"Put": {"TableName": TABLE,
                             "Item": {**key("B"), "blob": {"S": "x" * 410_000}}}}
        with pytest.raises(ClientError):
            client.transact_write_items(TransactItems=[counter_update("A", by=5), too_large])
        assert read_n(client, "A") == 1
        assert read_n(client, "B") is None


class TestCommitMeetsRealConflicts:
    def test_a_grant_meeting_another_on_one_balance_row_waits_its_turn_and_both_land_once(
            self, table, dynamodb_faults) -> None:
        from chalicelib.domain.ledger import wallet
        from chalicelib.services.wallets import adjust_balance
        from chalicelib.store.ledger import read_balance
        from devstack.moto_dynamodb import transactions_in_progress
        from tests.integration.ledger.test_conservation import new_agency
        from tests.ledger_support import assert_ledger_consistent

        principal, subs = new_agency()
        outcomes: list[Any] = []

        def grant(minutes: int) -> None:
            try:
                outcomes.append(adjust_balance(subs[1], "premium_minutes", minutes, "race",
                                               None)["amount_units"])
            except Exception as exc:
                outcomes.append(exc)

        dynamodb_faults.set(transaction_hold_seconds=30, transaction_hold_count=1)
        first = threading.Thread(target=grant, args=(7,))
        first.start()
        wait_until(lambda: transactions_in_progress() > 0)
        second = threading.Thread(target=grant, args=(5,))
        second.start()
        wait_until(lambda: dynamodb_faults.observed["transaction_conflict"] >= 1)
        dynamodb_faults.off()  # the first one commits; a retry of the second then goes through
        first.join(timeout=30)
        second.join(timeout=30)
        assert sorted(outcomes) == [5 * 60, 7 * 60], outcomes
        assert read_balance(principal.agency_id, wallet(subs[1]),
                            "premium_minutes").balance == 12 * 60
        assert_ledger_consistent()

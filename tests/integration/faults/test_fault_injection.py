"""The local DynamoDB fails the way the real service does, on demand (SPEC §5 Faults).

Throttling (``ProvisionedThroughputExceededException``, ``ThrottlingException``) on reads and
writes, transactions cancelled with ``TransactionConflict``, ``InternalServerError``, and a
lost response: the write commits but the caller only sees the connection drop. Rates are
per fault type and the draws follow a seed.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, HTTPClientError

from tests.integration.faults.support import (
    TABLE,
    counter_update,
    error_code,
    key,
    raw_client,
    read_n,
)

THROTTLES = {"ProvisionedThroughputExceededException", "ThrottlingException"}


class TestDynamoDBFaultInjection:
    def test_throttling_answers_reads_and_writes_with_both_throttle_errors(
            self, table, dynamodb_faults) -> None:
        client = raw_client()
        dynamodb_faults.set(throttle=1.0, seed=1)
        seen = set()
        for n in range(12):
            for call in (lambda: client.get_item(TableName=TABLE, Key=key("T")),
                         lambda n=n: client.put_item(TableName=TABLE,
                                                     Item={**key(f"T{n}"), "n": {"N": "1"}}),
                         lambda: client.query(TableName=TABLE, KeyConditionExpression="PK = :p",
                                              ExpressionAttributeValues={":p": {"S": "T"}})):
                with pytest.raises(ClientError) as caught:
                    call()
                assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
                seen.add(error_code(caught.value))
        assert seen == THROTTLES
        dynamodb_faults.off()
        assert all(read_n(client, f"T{n}") is None for n in range(12))  # nothing written

    def test_a_conflict_cancels_a_transaction_with_a_transaction_conflict_reason(
            self, table, dynamodb_faults) -> None:
        client = raw_client()
        dynamodb_faults.set(conflict=1.0)
        with pytest.raises(ClientError) as caught:
            client.transact_write_items(TransactItems=[counter_update("A"), counter_update("B")])
        assert error_code(caught.value) == "TransactionCanceledException"
        reasons = [reason["Code"] for reason in caught.value.response["CancellationReasons"]]
        assert "TransactionConflict" in reasons
        assert set(reasons) <= {"TransactionConflict", "None"}
        with pytest.raises(ClientError) as plain:
            client.put_item(TableName=TABLE, Item={**key("A"), "n": {"N": "5"}})
        assert error_code(plain.value) == "TransactionConflictException"
        dynamodb_faults.off()
        assert read_n(client, "A") is None and read_n(client, "B") is None

    def test_an_internal_server_error_applies_nothing(self, table, dynamodb_faults) -> None:
        client = raw_client()
        dynamodb_faults.set(internal_error=1.0)
        with pytest.raises(ClientError) as caught:
            client.transact_write_items(TransactItems=[counter_update("A")])
        assert error_code(caught.value) == "InternalServerError"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        dynamodb_faults.off()
        assert read_n(client, "A") is None

    def test_a_lost_response_commits_the_write_but_the_caller_sees_the_connection_drop(
            self, table, dynamodb_faults) -> None:
        client = raw_client()
        dynamodb_faults.set(lost_response=1.0)
        with pytest.raises(HTTPClientError):  # botocore's ConnectionClosedError / timeouts
            client.transact_write_items(TransactItems=[counter_update("A", by=7)])
        dynamodb_faults.off()
        assert read_n(client, "A") == 7

    def test_rates_are_per_fault_type_and_the_draws_follow_the_seed(
            self, table, dynamodb_faults) -> None:
        client = raw_client()

        def outcomes(seed: int) -> list[str]:
            dynamodb_faults.set(throttle=0.3, internal_error=0.2, seed=seed)
            seen = []
            for _ in range(40):
                try:
                    client.get_item(TableName=TABLE, Key=key("S"))
                    seen.append("ok")
                except ClientError as exc:
                    seen.append("throttle" if error_code(exc) in THROTTLES else error_code(exc))
            return seen

        first, again, other = outcomes(5), outcomes(5), outcomes(6)
        assert first == again
        assert first != other
        assert {"ok", "throttle", "InternalServerError"} == set(first)
        dynamodb_faults.set(throttle=0.1, seed=5)
        quiet = sum(1 for _ in range(200) if _throttled(client))
        assert 5 <= quiet <= 40  # about 10 %

    def test_faults_can_target_one_operation_and_stop_after_a_budget(
            self, table, dynamodb_faults) -> None:
        client = raw_client()
        dynamodb_faults.set(throttle=1.0, operations={"TransactWriteItems"}, limit=1)
        client.put_item(TableName=TABLE, Item={**key("A"), "n": {"N": "1"}})  # not targeted
        with pytest.raises(ClientError):
            client.transact_write_items(TransactItems=[counter_update("A")])
        client.transact_write_items(TransactItems=[counter_update("A")])  # budget spent
        assert read_n(client, "A") == 2
        assert dynamodb_faults.injected["throttle"] == 1


def _throttled(client: object) -> bool:
    try:
        client.get_item(TableName=TABLE, Key=key("Q"))  # type: ignore[attr-defined]
    except ClientError:
        return True
    return False


class TestTheSwitchOverHTTP:
    def test_the_local_stack_switches_faults_on_and_off_over_http(self, table,
                                                                  dynamodb_faults) -> None:
        """``make run`` starts moto in its own process: the same switch, on its port."""
        import requests

        from devstack.moto_dynamodb import CONTROL_PATH
        from tests.conftest import TEST_ENV

        url = TEST_ENV["AWS_ENDPOINT_URL_DYNAMODB"] + CONTROL_PATH
        client = raw_client()
        switched = requests.post(url, json={"throttle": 1.0, "seed": 3}, timeout=10)
        assert switched.status_code == 200
        assert switched.json()["settings"]["throttle"] == 1.0
        with pytest.raises(ClientError):
            client.get_item(TableName=TABLE, Key=key("H"))
        assert requests.get(url, timeout=10).json()["injected"] == {"throttle": 1}
        assert requests.post(url, json={"throttle": 2}, timeout=10).status_code == 400
        assert requests.delete(url, timeout=10).status_code == 200
        assert read_n(client, "H") is None

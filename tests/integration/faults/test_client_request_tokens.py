"""The local DynamoDB honours ``ClientRequestToken`` on ``TransactWriteItems`` like DynamoDB.

DynamoDB's API reference: multiple identical calls with one token have the effect of one
call; a token is valid for 10 minutes after the first request that uses it completes; the
same token with other parameters inside that window is ``IdempotentParameterMismatch``. A
cancelled transaction applied nothing, so its token is not spent: the same request may be
sent again and apply.
"""

from __future__ import annotations

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


class TestClientRequestTokens:
    def test_the_same_token_and_request_within_ten_minutes_apply_once(self, table) -> None:
        client = raw_client()
        for _ in range(3):
            client.transact_write_items(TransactItems=[counter_update("A", by=5)],
                                        ClientRequestToken="token-apply-once")
        assert read_n(client, "A") == 5

    def test_the_same_token_with_another_request_is_an_idempotent_parameter_mismatch(
            self, table) -> None:
        client = raw_client()
        client.transact_write_items(TransactItems=[counter_update("A", by=5)],
                                    ClientRequestToken="token-mismatch")
        with pytest.raises(ClientError) as caught:
            client.transact_write_items(TransactItems=[counter_update("A", by=6)],
                                        ClientRequestToken="token-mismatch")
        assert error_code(caught.value) == "IdempotentParameterMismatchException"
        assert read_n(client, "A") == 5

    def test_a_cancelled_transaction_does_not_consume_its_token(self, table) -> None:
        client = raw_client()
        guarded = [counter_update("A", by=5, condition="attribute_exists(PK)")]
        with pytest.raises(ClientError) as caught:
            client.transact_write_items(TransactItems=guarded, ClientRequestToken="token-cancel")
        assert error_code(caught.value) == "TransactionCanceledException"
        client.put_item(TableName=TABLE, Item={**key("A"), "n": {"N": "0"}})
        client.transact_write_items(TransactItems=guarded, ClientRequestToken="token-cancel")
        assert read_n(client, "A") == 5

    def test_a_token_is_a_new_request_again_after_ten_minutes(self, table, monkeypatch) -> None:
        from devstack import moto_dynamodb

        client = raw_client()
        now = [1_000.0]
        monkeypatch.setattr(moto_dynamodb, "_clock", lambda: now[0])
        client.transact_write_items(TransactItems=[counter_update("A", by=5)],
                                    ClientRequestToken="token-expiry")
        now[0] += 599
        client.transact_write_items(TransactItems=[counter_update("A", by=5)],
                                    ClientRequestToken="token-expiry")
        assert read_n(client, "A") == 5
        now[0] += 2
        client.transact_write_items(TransactItems=[counter_update("A", by=5)],
                                    ClientRequestToken="token-expiry")
        assert read_n(client, "A") == 10

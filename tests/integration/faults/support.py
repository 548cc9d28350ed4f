"""A raw DynamoDB client on the local emulator (no SDK retries), to see its answers as sent."""

from __future__ import annotations

from typing import Any

from tests.conftest import TEST_ENV

TABLE = TEST_ENV["TABLE_NAME"]


def raw_client() -> Any:
    """botocore's DynamoDB client with retries off: every fault reaches the test as is."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb", endpoint_url=TEST_ENV["AWS_ENDPOINT_URL_DYNAMODB"],
        region_name=TEST_ENV["AWS_DEFAULT_REGION"],
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                      read_timeout=10, connect_timeout=5),
    )


def key(pk: str, sk: str = "X") -> dict[str, Any]:
    """A primary key of the single table."""
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def counter_update(pk: str, by: int = 1, condition: str | None = None) -> dict[str, Any]:
    """A transaction action adding ``by`` to the item's ``n``."""
    update: dict[str, Any] = {"TableName": TABLE, "Key": key(pk), "UpdateExpression": "ADD n :by",
                              "ExpressionAttributeValues": {":by": {"N": str(by)}}}
    if condition is not None:
        update["ConditionExpression"] = condition
    return {"Update": update}


def read_n(client: Any, pk: str) -> int | None:
    """The item's ``n`` (strongly consistent), or None when the item is absent."""
    item = client.get_item(TableName=TABLE, Key=key(pk), ConsistentRead=True).get("Item")
    if item is None:
        return None
    return int(item["n"]["N"]) if "n" in item else 0


def error_code(exc: Any) -> str:
    """The DynamoDB error code of a botocore ClientError."""
    return exc.response["Error"]["Code"]

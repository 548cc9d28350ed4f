"""Create the single table from ``infra/table.json`` (local stack and tests only).

The CloudFormation template is the one definition of the table; the emulator gets exactly
the keys and indexes that production gets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib.store.base import connection, table_name

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "table.json"


def table_properties() -> dict[str, Any]:
    """The ``AWS::DynamoDB::Table`` properties of the template."""
    template = json.loads(TEMPLATE.read_text())
    return template["Resources"]["AppTable"]["Properties"]


def create_table(name: str | None = None) -> None:
    """Create the table (and its TTL) unless it already exists (default: the configured one)."""
    table = name or table_name()
    props = table_properties()
    client = connection().client
    existing = client.list_tables().get("TableNames", [])
    if table in existing:
        return
    client.create_table(
        TableName=table,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )
    ttl = props["TimeToLiveSpecification"]
    client.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
    )


def delete_table(name: str | None = None) -> None:
    """Drop the table (tests; default: the configured one)."""
    connection().client.delete_table(TableName=name or table_name())

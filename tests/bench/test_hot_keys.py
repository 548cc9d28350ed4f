"""Writes per partition key, as DynamoDB spends them (SPEC 5 "No hot partition").

An item write is one write on its table partition and one on each index partition whose key
the item has before or after the write; a write that fails its condition, and every item of
a cancelled transaction, writes nothing. The counter is checked here against plain DynamoDB
calls on the emulated table, then the benchmark step is run small, end to end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench.hot_keys import counting_writes, key_shape


def _client() -> Any:
    import boto3

    return boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])


def _s(value: str) -> dict[str, str]:
    return {"S": value}


TABLE_NAME = os.environ.get("TABLE_NAME", "agency-accounts-test")


class TestCountingWrites:
    def test_a_put_writes_its_table_partition_and_each_index_key_it_has(self, table: None
                                                                         ) -> None:
        db = _client()
        with counting_writes(TABLE_NAME) as counts:
            db.put_item(TableName=TABLE_NAME, Item={
                "PK": _s("P1"), "SK": _s("A"), "GSI1PK": _s("G1"), "GSI1SK": _s("x")})
            db.put_item(TableName=TABLE_NAME, Item={
                "PK": _s("P1"), "SK": _s("B"), "DUEPK": _s("D1"), "DUESK": _s("y")})
        assert dict(counts.counts) == {("table", "P1"): 2, ("GSI1", "G1"): 1, ("GSI2", "D1"): 1}
        assert counts.total == 4 and counts.items_written == 2

    def test_moving_an_index_key_writes_the_old_and_the_new_index_partition(
            self, table: None) -> None:
        db = _client()
        db.put_item(TableName=TABLE_NAME, Item={
            "PK": _s("P1"), "SK": _s("A"), "GSI1PK": _s("G1"), "GSI1SK": _s("x")})
        with counting_writes(TABLE_NAME) as counts:
            db.update_item(TableName=TABLE_NAME, Key={"PK": _s("P1"), "SK": _s("A")},
                           UpdateExpression="SET GSI1PK = :g", ExpressionAttributeValues={
                               ":g": _s("G2")})
            db.update_item(TableName=TABLE_NAME, Key={"PK": _s("P1"), "SK": _s("A")},
                           UpdateExpression="SET n = :n", ExpressionAttributeValues={
                               ":n": {"N": "1"}})
            db.update_item(TableName=TABLE_NAME, Key={"PK": _s("P1"), "SK": _s("A")},
                           UpdateExpression="REMOVE GSI1PK, GSI1SK")
        # G1 → G2 writes both; a change elsewhere rewrites G2's entry; the removal deletes it.
        assert dict(counts.counts) == {("table", "P1"): 3, ("GSI1", "G1"): 1, ("GSI1", "G2"): 3}

    def test_a_delete_writes_the_index_partitions_it_leaves(self, table: None) -> None:
        db = _client()
        db.put_item(TableName=TABLE_NAME, Item={
            "PK": _s("P1"), "SK": _s("A"), "DUEPK": _s("D1"), "DUESK": _s("y")})
        with counting_writes(TABLE_NAME) as counts:
            db.delete_item(TableName=TABLE_NAME, Key={"PK": _s("P1"), "SK": _s("A")})
        assert dict(counts.counts) == {("table", "P1"): 1, ("GSI2", "D1"): 1}

    def test_batch_writes_count_each_item(self, table: None) -> None:
        db = _client()
        with counting_writes(TABLE_NAME) as counts:
            db.batch_write_item(RequestItems={TABLE_NAME: [
                {"PutRequest": {"Item": {"PK": _s(f"P{n}"), "SK": _s("A")}}} for n in range(3)]})
        assert dict(counts.counts) == {("table", "P0"): 1, ("table", "P1"): 1,
                                       ("table", "P2"): 1}

    def test_a_committed_transaction_counts_every_item_and_a_cancelled_one_nothing(
            self, table: None) -> None:
        db = _client()
        db.put_item(TableName=TABLE_NAME, Item={"PK": _s("P1"), "SK": _s("A")})
        with counting_writes(TABLE_NAME) as counts:
            db.transact_write_items(TransactItems=[
                {"Put": {"TableName": TABLE_NAME, "Item": {
                    "PK": _s("P2"), "SK": _s("A"), "GSI1PK": _s("G1"), "GSI1SK": _s("x")}}},
                {"Update": {"TableName": TABLE_NAME, "Key": {"PK": _s("P1"), "SK": _s("A")},
                            "UpdateExpression": "SET n = :n",
                            "ExpressionAttributeValues": {":n": {"N": "1"}}}},
            ])
            with pytest.raises(ClientError):  # the second item's condition fails
                db.transact_write_items(TransactItems=[
                    {"Put": {"TableName": TABLE_NAME, "Item": {"PK": _s("P3"), "SK": _s("A")}}},
                    {"Put": {"TableName": TABLE_NAME, "Item": {"PK": _s("P1"), "SK": _s("A")},
                             "ConditionExpression": "attribute_not_exists(PK)"}},
                ])
            with pytest.raises(ClientError):
                db.put_item(TableName=TABLE_NAME, Item={"PK": _s("P1"), "SK": _s("A")},
                            ConditionExpression="attribute_not_exists(PK)")
        assert dict(counts.counts) == {("table", "P2"): 1, ("GSI1", "G1"): 1, ("table", "P1"): 1}

    def test_nothing_is_counted_once_the_block_ends(self, table: None) -> None:
        db = _client()
        with counting_writes(TABLE_NAME) as counts:
            pass
        db.put_item(TableName=TABLE_NAME, Item={"PK": _s("P1"), "SK": _s("A")})
        assert counts.total == 0


def test_key_shapes_hide_ids_but_keep_the_layout() -> None:
    assert key_shape("ACCT#agy_2d5d71222d56454d9d1857c3#sub:sub_0123456789abcdef01234567") == \
        "ACCT#<agy>#sub:<sub>"
    assert key_shape("DUE#payout-sweep#07") == "DUE#payout-sweep#07"
    assert key_shape("EMAIL#owner@a001.s7.example.com") == "EMAIL#<email>"
    assert key_shape("STATS#agy_2d5d71222d56454d9d1857c3#DAY#2026-11-02") == \
        "STATS#<agy>#DAY#<date>"


def test_tiny_hot_keys_step_writes_its_section_and_keeps_the_rest(
        table: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.run import main

    out = tmp_path / "results.json"
    out.write_text(json.dumps({"operations": [{"name": "login"}], "closing_note": ["kept"],
                               "targets": [{"target": "zip ≤ 15 MB", "verdict": "PASS",
                                            "detail": "x"}]}))
    assert main(["--only", "hot-keys", "--hot-agencies", "2", "--hot-days", "1",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "HOT KEYS" in printed and "TARGETS" in printed

    results = json.loads(out.read_text())
    assert results["operations"] == [{"name": "login"}]  # the last full run's rows stay
    hot = results["hot_keys"]
    assert hot["status"] == "ok" and hot["agencies"] == 2 and hot["days"] == 1
    assert hot["writes"] >= hot["items_written"] > 0
    assert set(hot["writes_by_index"]) == {"table", "GSI1", "GSI2"}
    assert 0 < hot["hottest_share"] <= 1
    assert hot["hottest_key"] == hot["top"][0]["key"] and len(hot["top"]) == 5
    assert hot["workload"]["unexpected"] == []
    verdicts = {t["target"]: t["verdict"] for t in results["targets"]}
    assert verdicts["zip ≤ 15 MB"] == "PASS"
    # Two agencies say nothing about a 5% share: only a run over ≥ 50 agencies is checked.
    hot_target = next(t for t in verdicts if t.startswith("no hot partition"))
    assert verdicts[hot_target] == "NOT CHECKED"

"""The benchmark harness keeps working: a tiny run of ``python -m bench.run``.

Three operations, three repetitions, no Stripe emulator, no sweeps, no cold start, no
package: the numbers are not the point, the harness's plumbing and checks are.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_tiny_benchmark_run_counts_round_trips(table: None, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from bench.run import main

    out = tmp_path / "results.json"
    assert main(["--ops", "login,get wallet,confirm move", "--reps", "3", "--warmup", "1",
                 "--no-stripe", "--no-sweeps", "--no-cold-start", "--no-package",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "TARGETS" in printed and "CLOSING NOTE" in printed

    results = json.loads(out.read_text())
    rows = {row["name"]: row for row in results["operations"]}
    assert set(rows) == {"login", "get wallet", "confirm move"}
    for row in rows.values():
        assert row["status"] == "ok", row
        assert row["reps"] == 3
        assert row["median_ms"] > 0 and row["p95_ms"] >= row["median_ms"]
        assert row["ratio_to_floor"] > 0
        assert "Scan" not in row["dynamodb_calls"]
    # The floor is exactly one GetItem; a confirmed move is exactly one transaction.
    assert results["floor"]["dynamodb_calls"] == {"GetItem": {"min": 1, "max": 1}}
    assert rows["confirm move"]["dynamodb_calls"]["TransactWriteItems"] == {"min": 1, "max": 1}
    assert rows["get wallet"]["dynamodb_total_max"] >= 1

    verdicts = {t["target"]: t["verdict"] for t in results["targets"]}
    assert verdicts["no operation scans"] == "PASS"
    assert verdicts["confirm move: exactly 1 TransactWriteItems"] == "PASS"
    assert verdicts["zip ≤ 15 MB"] == "NOT CHECKED"
    assert verdicts["≥ 200 repetitions per row"] == "MISS"


def test_stripe_paths_are_labelled_by_resource_not_id() -> None:
    from bench.instrument import stripe_label

    assert stripe_label("post", "http://127.0.0.1:1/v1/payment_intents") == \
        "POST /v1/payment_intents"
    assert stripe_label("post", "http://127.0.0.1:1/v1/payment_intents/pi_3NabcD12/confirm") \
        == "POST /v1/payment_intents/{id}/confirm"
    assert stripe_label("get", "http://h/v1/accounts/acct_1Q2w3E?expand=x") == \
        "GET /v1/accounts/{id}"

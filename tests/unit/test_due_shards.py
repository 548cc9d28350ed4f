"""The due index is sharded by agency (SPEC section 5: no hot partition)."""

from __future__ import annotations

from collections import Counter

from chalicelib.store import keys


def test_an_agencys_items_stay_in_one_shard_that_sweeps_read() -> None:
    assert keys.due_pk("payout-sweep", "agy_1") == keys.due_pk("payout-sweep", "agy_1")
    assert keys.due_pk("payout-sweep", "agy_1") in keys.due_pks("payout-sweep")
    assert len(set(keys.due_pks("payout-sweep"))) == keys.DUE_SHARDS == 16


def test_agencies_spread_over_every_shard() -> None:
    shards = Counter(keys.due_pk("call-holds", f"agy_{n:06d}") for n in range(1600))
    assert set(shards) == set(keys.due_pks("call-holds"))
    assert max(shards.values()) <= 2 * 1600 / keys.DUE_SHARDS

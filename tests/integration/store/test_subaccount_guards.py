"""store.subaccount_guards against the local DynamoDB: sub-accounts by bare id, and the
checks a wallet write carries."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.store import subaccount_guards
from chalicelib.store.accounts import Subaccount
from chalicelib.store.transact import commit, update
from tests.ledger_support import make_subaccount

REFUSED = Conflict("refused", code="refused")


def set_status(agency_id: str, sid: str, status: str) -> None:
    commit([update(Subaccount(f"AGENCY#{agency_id}", f"SUB#{sid}"),
                   [Subaccount.status.set(status), Subaccount.price_version.add(1)])])


class TestNamed:
    def test_one_or_many_ids_removed_included_unknown_left_out(self, table,
                                                               dynamodb_calls) -> None:
        one, two = make_subaccount("agy_1"), make_subaccount("agy_2")
        set_status("agy_2", two, "removed")
        dynamodb_calls.reset()
        assert subaccount_guards.named([one])[one].agency_id == "agy_1"
        assert dict(dynamodb_calls.calls) == {"GetItem": 2}
        dynamodb_calls.reset()
        found = subaccount_guards.named([one, two, "sub_unknown"])
        assert dict(dynamodb_calls.calls) == {"BatchGetItem": 2}
        assert {sid: sub.status for sid, sub in found.items()} == {one: "active",
                                                                  two: "removed"}
        assert subaccount_guards.named(["sub_unknown"]) == {}
        assert subaccount_guards.owner_of(two) == "agy_2"


class TestGuards:
    def test_live_active_and_prices_unchanged(self, table) -> None:
        sid = make_subaccount("agy_1")
        for passes in (subaccount_guards.still_live("agy_1", sid, REFUSED),
                       subaccount_guards.still_active("agy_1", sid, REFUSED),
                       subaccount_guards.prices_unchanged("agy_1", sid, 1, REFUSED)):
            commit([passes])
        set_status("agy_1", sid, "suspended")  # and a new price version
        commit([subaccount_guards.still_live("agy_1", sid, REFUSED)])
        for refused in (subaccount_guards.still_active("agy_1", sid, REFUSED),
                        subaccount_guards.prices_unchanged("agy_1", sid, 1, REFUSED)):
            with pytest.raises(Conflict):
                commit([refused])
        commit([subaccount_guards.prices_unchanged("agy_1", sid, 2, REFUSED)])
        set_status("agy_1", sid, "removed")
        for refused in (subaccount_guards.still_live("agy_1", sid, REFUSED),
                        subaccount_guards.prices_unchanged("agy_1", sid, 3, REFUSED)):
            with pytest.raises(Conflict):
                commit([refused])
        with pytest.raises(Conflict):  # a sub-account that never was
            commit([subaccount_guards.still_live("agy_1", "sub_never", REFUSED)])

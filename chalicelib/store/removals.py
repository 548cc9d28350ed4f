"""What a sub-account's removal needs of the ledger beyond posting its transaction.

Removal posts one ledger transaction guarded by the balance versions it read; the rows it
does not write (nothing to move, no hold) must keep their version too, so that nothing
arriving in between is left behind on a removed wallet. The ledger's own store
(``chalicelib.store.ledger``) posts and reads; this module adds that guard.
"""

from __future__ import annotations

from pynamodb.expressions.condition import Condition

from chalicelib.store.ledger import LedgerBalance, balance_key
from chalicelib.store.subaccounts import SubaccountChanged
from chalicelib.store.transact import Op, check


def balance_unchanged(agency_id: str, account: str, asset: str, version: int) -> Op:
    """The balance row keeps the version read (a row never written reads as version 0),
    else ``SubaccountChanged``."""
    condition: Condition = (LedgerBalance.version == version) if version else (
        LedgerBalance.version.does_not_exist() | (LedgerBalance.version == 0))
    return check(balance_key(agency_id, account, asset), condition, SubaccountChanged())

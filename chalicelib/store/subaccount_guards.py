"""Sub-accounts as the ledger's writes see them: found by their bare id (the platform routes
know no agency), and the conditions a write on their wallet requires of them.

A removal flips the sub-account's status in its own transaction after moving every second
out, and a price change bumps ``price_version``; a money write that must not land after
either carries one of these checks, so it fails instead of racing them.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.domain.errors import DomainError
from chalicelib.store import keys
from chalicelib.store.accounts import Subaccount, SubaccountPointer
from chalicelib.store.base import read_items
from chalicelib.store.transact import Op, check

#: Statuses in which a sub-account's wallet still takes money.
LIVE_STATUSES = ("active", "suspended")


def owner_of(subaccount_id: str) -> str | None:
    """The agency of a bare sub-account id (its pointer: one GetItem), or None."""
    try:
        return SubaccountPointer.get(keys.subaccount_pointer_pk(subaccount_id), "SUBID").agency_id
    except SubaccountPointer.DoesNotExist:
        return None


def named(subaccount_ids: Sequence[str]) -> dict[str, Subaccount]:
    """The sub-accounts of bare ids, removed ones included (absent ids left out): their
    pointers, then the sub-accounts (strongly consistent), one round trip each whatever the
    number of ids (GetItem for one id, else BatchGetItem)."""
    wanted = list(dict.fromkeys(subaccount_ids))
    if len(wanted) == 1:
        agency_id = owner_of(wanted[0])
        owners = {wanted[0]: agency_id} if agency_id is not None else {}
    else:
        pointers = read_items([(keys.subaccount_pointer_pk(sid), "SUBID") for sid in wanted],
                              consistent=False)
        owners = {pk.removeprefix(keys.subaccount_pointer_pk("")): item.agency_id
                  for (pk, _), item in pointers.items() if isinstance(item, SubaccountPointer)}
    if not owners:
        return {}
    if len(owners) == 1:
        [(sid, agency_id)] = owners.items()
        try:
            return {sid: Subaccount.get(keys.agency_pk(agency_id), keys.subaccount_sk(sid),
                                        consistent_read=True)}
        except Subaccount.DoesNotExist:
            return {}
    found = read_items([(keys.agency_pk(agency_id), keys.subaccount_sk(sid))
                        for sid, agency_id in owners.items()])
    return {item.subaccount_id: item for item in found.values() if isinstance(item, Subaccount)}


def _key(agency_id: str, subaccount_id: str) -> Subaccount:
    return Subaccount(keys.agency_pk(agency_id), keys.subaccount_sk(subaccount_id))


def still_live(agency_id: str, subaccount_id: str, error: DomainError) -> Op:
    """Require the sub-account not removed (active or suspended), else ``error``."""
    return check(_key(agency_id, subaccount_id), Subaccount.status.is_in(*LIVE_STATUSES), error)


def still_active(agency_id: str, subaccount_id: str, error: DomainError) -> Op:
    """Require the sub-account active (neither suspended nor removed), else ``error``."""
    return check(_key(agency_id, subaccount_id), Subaccount.status == "active", error)


def prices_unchanged(agency_id: str, subaccount_id: str, price_version: int,
                     error: DomainError) -> Op:
    """Require the sub-account live with its prices as read (``price_version``), else
    ``error``."""
    return check(_key(agency_id, subaccount_id),
                 (Subaccount.price_version == price_version)
                 & Subaccount.status.is_in(*LIVE_STATUSES), error)

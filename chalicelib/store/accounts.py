"""Agencies, sub-accounts and users: the tenancy skeleton every route loads first."""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)

from chalicelib.store import keys
from chalicelib.store.base import (
    IntegerAttribute,
    TableItem,
    UTCDateTimeText,
    read_items,
    string_list,
)


class Agency(TableItem, discriminator="Agency"):
    """PK: ``AGENCY#<aid>`` / SK: ``AGENCY``. The tenant."""

    agency_id = UnicodeAttribute()
    name = UnicodeAttribute()
    plan = UnicodeAttribute()
    subscription_start = UnicodeAttribute()  # ISO date: the billing anchor
    owner_user_id = UnicodeAttribute()
    primary_subaccount_id = UnicodeAttribute()
    status = UnicodeAttribute(default="active")  # active | closed
    timezone = UnicodeAttribute(default="UTC")
    low_balance_threshold_seconds = IntegerAttribute(null=True)
    created_at = UTCDateTimeText()
    closed_at = UTCDateTimeText(null=True)

    @classmethod
    def key(cls, agency_id: str) -> tuple[str, str]:
        """Primary key of an agency."""
        return keys.agency_pk(agency_id), keys.AGENCY_SK


class SlotCounter(TableItem, discriminator="SlotCounter"):
    """PK: ``AGENCY#<aid>`` / SK: ``SLOTS``. Secondary sub-accounts that exist (plan cap).

    Creating a sub-account increments it under ``used < cap`` in the same transaction, so
    two concurrent creates at cap-1 cannot both win.
    """

    used = IntegerAttribute(default=0)


class Subaccount(TableItem, discriminator="Subaccount"):
    """PK: ``AGENCY#<aid>`` / SK: ``SUB#<sid>``. A client (or the agency's primary).

    GSI2 ``DUE#subaccount-suspensions`` / ``<due iso>#<aid>#<sid>`` while the resource
    batches of a suspension or restore are unfinished (``resource_work``).
    """

    agency_id = UnicodeAttribute()
    subaccount_id = UnicodeAttribute()
    name = UnicodeAttribute()
    login_email = UnicodeAttribute(null=True)
    is_primary = BooleanAttribute(default=False)
    price_basic = IntegerAttribute()  # micro-USD per minute
    price_premium = IntegerAttribute()
    price_version = IntegerAttribute(default=1)
    subscription_start = UnicodeAttribute()  # ISO date
    status = UnicodeAttribute(default="active")  # active | suspended | removed
    suspension_note = UnicodeAttribute(null=True)
    suspended_at = UTCDateTimeText(null=True)
    suspended_by = UnicodeAttribute(null=True)
    # Legacy: [[type, rid], ...] paused by a suspension recorded before resources carried
    # their own mark; only read by restore, never written any more.
    paused_resources = JSONAttribute(null=True)
    suspension_id = UnicodeAttribute(null=True)  # the current (or last) suspension
    # "pause" / "restore" while that suspension's or restore's resource batches are unfinished
    resource_work = UnicodeAttribute(null=True)
    # Bumped by every resource write (create, status change, delete) in the same transaction,
    # so suspend / restore / removal can require that the resources they read did not change.
    resource_generation = IntegerAttribute(null=True)
    # Purchases recorded but not yet settled (set ADD on record, DELETE on settle: both
    # idempotent). Removal requires it absent, so a charge never lands on a removed wallet.
    pending_purchase_ids = UnicodeSetAttribute(null=True)
    created_at = UTCDateTimeText()
    removed_at = UTCDateTimeText(null=True)

    def price(self, tier: str) -> int:
        """Per-minute price of a tier, micro-USD."""
        return self.price_basic if tier == "basic" else self.price_premium


class SubaccountPointer(TableItem, discriminator="SubaccountPointer"):
    """PK: ``SUBID#<sid>`` / SK: ``SUBID``. Which agency owns a sub-account id."""

    agency_id = UnicodeAttribute()


class User(TableItem, discriminator="User"):
    """PK: ``AGENCY#<aid>`` / SK: ``USER#<uid>``. A person who signs in."""

    agency_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    role = UnicodeAttribute()
    access_all = BooleanAttribute(default=True)
    subaccount_ids = string_list(default=list)
    password_hash = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="active")  # active | removed
    token_generation = IntegerAttribute(default=0)  # bump to revoke issued tokens
    created_at = UTCDateTimeText()


class EmailClaim(TableItem, discriminator="EmailClaim"):
    """PK: ``EMAIL#<lower email>`` / SK: ``EMAIL``. One email, one owner, system-wide.

    ``owner_type`` is ``user``, ``invitation`` or ``subaccount_login``.
    """

    agency_id = UnicodeAttribute()
    owner_type = UnicodeAttribute()
    owner_id = UnicodeAttribute()


def subaccounts_of(agency_id: str) -> list[Subaccount]:
    """Every sub-account the agency ever had, removed ones included: one Query (paged) of
    the agency partition, strongly consistent."""
    return list(Subaccount.query(keys.agency_pk(agency_id),
                                 Subaccount.SK.startswith(keys.SUBACCOUNT_PREFIX),
                                 consistent_read=True))


def find_subaccount(agency_id: str, subaccount_id: str) -> Subaccount | None:
    """A sub-account in any status (removed included), or None: one consistent GetItem."""
    try:
        return Subaccount.get(keys.agency_pk(agency_id), keys.subaccount_sk(subaccount_id),
                              consistent_read=True)
    except Subaccount.DoesNotExist:
        return None


def subaccounts_by_id(agency_id: str, subaccount_ids: Sequence[str]
                      ) -> dict[str, Subaccount]:
    """Sub-accounts of the agency among ``subaccount_ids``, in any status, by id (one
    consistent BatchGetItem; absent ones are left out)."""
    found = read_items([(keys.agency_pk(agency_id), keys.subaccount_sk(sid))
                        for sid in subaccount_ids])
    return {item.subaccount_id: item for item in found.values() if isinstance(item, Subaccount)}


def subaccount_with_payment_profile(agency_id: str, subaccount_id: str
                                    ) -> tuple[Subaccount | None, dict[str, TableItem]]:
    """A sub-account in any status (None when absent) and, from the same consistent
    BatchGetItem, its payment profile, returned by sort key (left out when absent)."""
    pk, sub_sk = keys.agency_pk(agency_id), keys.subaccount_sk(subaccount_id)
    found = {sk: item for (_, sk), item in read_items(
        [(pk, sub_sk), (pk, keys.payment_profile_sk(subaccount_id))]).items()}
    sub = found.pop(sub_sk, None)
    return (sub if isinstance(sub, Subaccount) else None), found

"""Users: the people who sign in to an agency, with their role and reach.

Key: ``AGENCY#<aid>`` / ``USER#<uid>`` (the agency's partition). ``token_generation`` is bumped
by every write that must end the user's sessions (role or access changed, removal, ownership
transfer): tokens carry the generation they were issued under.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from chalicelib.domain.errors import DomainError
from chalicelib.store import keys
from chalicelib.store.accounts import User
from chalicelib.store.pagination import filtered_page
from chalicelib.store.transact import Op, check, save, update

OWNER_ROLE = "agency_owner"


def _key(agency_id: str, user_id: str) -> User:
    return User(keys.agency_pk(agency_id), keys.user_sk(user_id))


def get(agency_id: str, user_id: str) -> User | None:
    """A user of the agency in any status, or None (one consistent GetItem)."""
    try:
        return User.get(keys.agency_pk(agency_id), keys.user_sk(user_id), consistent_read=True)
    except User.DoesNotExist:
        return None


def active_page(agency_id: str, *, limit: int, cursor: str | None
                ) -> tuple[list[User], str | None]:
    """Active users of an agency, one page (one Query of the agency partition; removed users
    are filtered out server-side and PynamoDB reads on until ``limit`` are found)."""
    return filtered_page(User, keys.agency_pk(agency_id), User.SK.startswith(keys.USER_PREFIX),
                         filter_condition=User.status == "active", limit=limit, cursor=cursor)


def new(*, agency_id: str, user_id: str, email: str, role: str, access_all: bool,
        subaccount_ids: Sequence[str], password_hash: str, created_at: datetime) -> User:
    """A new, active user record (not written)."""
    return User(
        keys.agency_pk(agency_id), keys.user_sk(user_id),
        agency_id=agency_id, user_id=user_id, email=email, role=role, access_all=access_all,
        subaccount_ids=list(subaccount_ids), password_hash=password_hash, status="active",
        token_generation=0, created_at=created_at,
    )


def insert(user: User) -> Op:
    """Write a new user; its id is never reused."""
    return save(user, condition=User.PK.does_not_exist())


def change_access(user: User, *, role: str, access_all: bool, subaccount_ids: Sequence[str],
                  error: DomainError) -> Op:
    """New role and reach for an active user whose role is still the one read; its sessions
    end."""
    return update(_key(user.agency_id, user.user_id),
                  [User.role.set(role), User.access_all.set(access_all),
                   User.subaccount_ids.set(list(subaccount_ids)), User.token_generation.add(1)],
                  condition=(User.status == "active") & (User.role == user.role),
                  error=error)


def remove(user: User, error: DomainError) -> Op:
    """Mark an active user (never the owner) removed; its sessions end."""
    return update(_key(user.agency_id, user.user_id),
                  [User.status.set("removed"), User.token_generation.add(1)],
                  condition=(User.status == "active") & (User.role != OWNER_ROLE),
                  error=error)


def hand_role(user: User, *, role: str, from_role: str, error: DomainError) -> Op:
    """Ownership transfer: ``user``, still active and still ``from_role``, takes ``role``
    with access to everything; its sessions end."""
    return update(_key(user.agency_id, user.user_id),
                  [User.role.set(role), User.access_all.set(True),
                   User.subaccount_ids.set([]), User.token_generation.add(1)],
                  condition=(User.role == from_role) & (User.status == "active"),
                  error=error)


def check_active(agency_id: str, user_id: str, error: DomainError) -> Op:
    """Guard: the user is still active when the transaction commits."""
    return check(_key(agency_id, user_id), User.status == "active", error)


def with_access(user: User, *, role: str, access_all: bool, subaccount_ids: Sequence[str]
                ) -> User:
    """``user`` as it reads once ``change_access`` or ``hand_role`` committed (a copy, not
    written)."""
    return User(user.PK, user.SK, **{
        **user.attribute_values, "role": role, "access_all": access_all,
        "subaccount_ids": list(subaccount_ids),
        "token_generation": (user.token_generation or 0) + 1})

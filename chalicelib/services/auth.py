"""Sign-in with email and password."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.errors import Unauthenticated
from chalicelib.services.passwords import DUMMY_HASH, verify_password
from chalicelib.services.sessions import issue_token
from chalicelib.store import keys
from chalicelib.store.accounts import Agency, EmailClaim, User
from chalicelib.store.base import TableItem

INVALID_LOGIN = "email or password is incorrect"


def find_user_by_email(email: str) -> User | None:
    """The active user holding ``email``, or None (2 GetItems)."""
    try:
        claim = EmailClaim.get(keys.email_pk(email), "EMAIL", consistent_read=True)
    except EmailClaim.DoesNotExist:
        return None
    if claim.owner_type != "user":
        return None
    try:
        return User.get(keys.agency_pk(claim.agency_id), keys.user_sk(claim.owner_id),
                        consistent_read=True)
    except User.DoesNotExist:
        return None


def login(email: str, password: str) -> tuple[User, dict[str, Any]]:
    """Check the credentials; the same 401 whatever was wrong (no user enumeration)."""
    user = find_user_by_email(email)
    if user is None:
        verify_password(DUMMY_HASH, password)  # equal work for unknown emails
        raise Unauthenticated(INVALID_LOGIN, code="invalid_credentials")
    if not verify_password(user.password_hash, password) or user.status != "active":
        raise Unauthenticated(INVALID_LOGIN, code="invalid_credentials")
    agency = TableItem.get(keys.agency_pk(user.agency_id), keys.AGENCY_SK)
    if not isinstance(agency, Agency) or agency.status != "active":
        raise Unauthenticated(INVALID_LOGIN, code="invalid_credentials")
    return user, issue_token(user)

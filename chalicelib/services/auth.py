"""Sign-in with email and password, throttled per email.

Whatever went wrong (unknown email, wrong password, removed user, closed agency) the answer
is the same 401, after the same argon2 work, so the login route cannot be used to find out
who has an account. After ``MAX_FAILURES`` failures for an email within ``WINDOW``, every
attempt for it answers 429 (even with the right password) until the window has passed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib.domain.errors import TooManyRequests, Unauthenticated
from chalicelib.services import identity
from chalicelib.services.passwords import DUMMY_HASH, verify_password
from chalicelib.services.sessions import issue_token
from chalicelib.store import keys
from chalicelib.store.accounts import Agency, EmailClaim, User
from chalicelib.store.base import TableItem, read_items
from chalicelib.store.identity import (
    LOGIN_THROTTLE_SK,
    LoginThrottle,
    clear_login_failures,
    reserve_login_attempt,
)

INVALID_LOGIN = "email or password is incorrect"
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


def find_user_by_email(email: str) -> User | None:
    """The user holding ``email``, or None (2 GetItems)."""
    try:
        claim = EmailClaim.get(keys.email_pk(email), "EMAIL", consistent_read=True)
    except EmailClaim.DoesNotExist:
        return None
    return _user_of_claim(claim)


def _user_of_claim(claim: EmailClaim | None) -> User | None:
    if claim is None or claim.owner_type != "user":
        return None
    try:
        return User.get(keys.agency_pk(claim.agency_id), keys.user_sk(claim.owner_id),
                        consistent_read=True)
    except User.DoesNotExist:
        return None


def _claim_and_throttle(email: str) -> tuple[EmailClaim | None, LoginThrottle | None]:
    """The email claim and the failed-login counter in one BatchGetItem."""
    claim_key = (keys.email_pk(email), "EMAIL")
    throttle_key = (keys.throttle_pk(email), LOGIN_THROTTLE_SK)
    found = read_items([claim_key, throttle_key])
    claim, throttle = found.get(claim_key), found.get(throttle_key)
    return (claim if isinstance(claim, EmailClaim) else None,
            throttle if isinstance(throttle, LoginThrottle) else None)


def login(email: str, password: str) -> tuple[User, dict[str, Any]]:
    """Check the credentials; the same 401 whatever was wrong (no user enumeration)."""
    email = email.strip().lower()
    now_epoch = int(identity.now().timestamp())
    window = int(WINDOW.total_seconds())
    claim, throttle = _claim_and_throttle(email)
    if not reserve_login_attempt(email, now_epoch, window, MAX_FAILURES, throttle):
        start = throttle.window_start if throttle is not None else now_epoch
        raise TooManyRequests("too many failed sign-in attempts; try again later",
                              details={"retry_after_seconds": max(start + window - now_epoch,
                                                                  1)})
    user = _user_of_claim(claim)
    signed_in = _may_sign_in(user, password)  # always runs: same work for unknown emails
    if user is None or not signed_in:
        raise Unauthenticated(INVALID_LOGIN, code="invalid_credentials")
    clear_login_failures(email)  # the attempt was counted in advance: a success undoes it
    return user, issue_token(user)


def _may_sign_in(user: User | None, password: str) -> bool:
    """Right password, active user, active agency; argon2 work done even for no user."""
    if user is None:
        verify_password(DUMMY_HASH, password)  # equal work for unknown emails
        return False
    if not verify_password(user.password_hash, password) or user.status != "active":
        return False
    agency = TableItem.get(keys.agency_pk(user.agency_id), keys.AGENCY_SK, consistent_read=True)
    return isinstance(agency, Agency) and agency.status == "active"

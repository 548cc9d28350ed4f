"""Sign-in with email and password, throttled per email and per source IP.

Whatever went wrong (unknown email, wrong password, removed user, closed agency) the answer
is the same 401, after the same argon2 work, so the login route cannot be used to find out
who has an account. After ``MAX_FAILURES`` failures for an email within ``WINDOW``, every
attempt for it answers 429 (even with the right password) until the window has passed.
After ``MAX_IP_FAILURES`` failures from one source IP within ``WINDOW`` (whatever the
emails: password spraying), every attempt from that IP answers 429 likewise; successes do
not count, so an office of many users behind one NAT is not locked out by normal use.
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
    ip_throttle_key,
    release_ip_login_attempt,
    reserve_ip_login_attempt,
    reserve_login_attempt,
)

INVALID_LOGIN = "email or password is incorrect"
MAX_FAILURES = 5
#: Failed sign-ins per source IP and window: far above a shared office's typos, far below
#: what spraying one password over many emails needs.
MAX_IP_FAILURES = 20
WINDOW = timedelta(minutes=15)
THROTTLED = "too many failed sign-in attempts; try again later"


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


def _claim_and_throttles(email: str, source_ip: str | None
                         ) -> tuple[EmailClaim | None, LoginThrottle | None,
                                    LoginThrottle | None]:
    """The email claim and the failed-login counters (email, source IP) in one
    BatchGetItem."""
    claim_key = (keys.email_pk(email), "EMAIL")
    throttle_key = (keys.throttle_pk(email), LOGIN_THROTTLE_SK)
    ip_key = ip_throttle_key(source_ip) if source_ip else None
    found = read_items([claim_key, throttle_key, *([ip_key] if ip_key else [])])
    claim, throttle = found.get(claim_key), found.get(throttle_key)
    ip_throttle = found.get(ip_key) if ip_key else None
    return (claim if isinstance(claim, EmailClaim) else None,
            throttle if isinstance(throttle, LoginThrottle) else None,
            ip_throttle if isinstance(ip_throttle, LoginThrottle) else None)


def _throttled(throttle: LoginThrottle | None, now_epoch: int, window: int) -> TooManyRequests:
    start = throttle.window_start if throttle is not None else now_epoch
    return TooManyRequests(THROTTLED, details={
        "retry_after_seconds": max(start + window - now_epoch, 1)})


def login(email: str, password: str, source_ip: str | None = None
          ) -> tuple[User, dict[str, Any]]:
    """Check the credentials; the same 401 whatever was wrong (no user enumeration).

    ``source_ip`` is API Gateway's ``requestContext.identity.sourceIp``; without one (never
    in API Gateway) only the per-email limit applies.
    """
    email = email.strip().lower()
    now_epoch = int(identity.now().timestamp())
    window = int(WINDOW.total_seconds())
    claim, throttle, ip_throttle = _claim_and_throttles(email, source_ip)
    # The address first: a throttled address spends none of the email's attempts.
    if source_ip and not reserve_ip_login_attempt(source_ip, now_epoch, window,
                                                  MAX_IP_FAILURES, ip_throttle):
        raise _throttled(ip_throttle, now_epoch, window)
    if not reserve_login_attempt(email, now_epoch, window, MAX_FAILURES, throttle):
        raise _throttled(throttle, now_epoch, window)
    user = _user_of_claim(claim)
    signed_in = _may_sign_in(user, password)  # always runs: same work for unknown emails
    if user is None or not signed_in:
        raise Unauthenticated(INVALID_LOGIN, code="invalid_credentials")
    clear_login_failures(email)  # the attempt was counted in advance: a success undoes it
    if source_ip:
        release_ip_login_attempt(source_ip, now_epoch, window)
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

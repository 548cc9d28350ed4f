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
from chalicelib.services.passwords import verify_nobodys_password, verify_password
from chalicelib.services.ports import now
from chalicelib.services.sessions import issue_token
from chalicelib.store import agencies, login_throttle, users
from chalicelib.store.accounts import EmailClaim, User
from chalicelib.store.identity import LoginThrottle

INVALID_LOGIN = "email or password is incorrect"
MAX_FAILURES = 5
#: Failed sign-ins per source IP and window: far above a shared office's typos, far below
#: what spraying one password over many emails needs.
MAX_IP_FAILURES = 20
WINDOW = timedelta(minutes=15)
THROTTLED = "too many failed sign-in attempts; try again later"


def _user_of_claim(claim: EmailClaim | None) -> User | None:
    if claim is None or claim.owner_type != "user":
        return None
    return users.get(claim.agency_id, claim.owner_id)


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
    now_epoch = int(now().timestamp())
    window = int(WINDOW.total_seconds())
    state = login_throttle.sign_in_state(email, source_ip)  # one BatchGetItem
    # The address first: a throttled address spends none of the email's attempts.
    if source_ip and not login_throttle.reserve_ip_login_attempt(
            source_ip, now_epoch, window, MAX_IP_FAILURES, state.ip_throttle):
        raise _throttled(state.ip_throttle, now_epoch, window)
    if not login_throttle.reserve_login_attempt(email, now_epoch, window, MAX_FAILURES,
                                                state.email_throttle):
        raise _throttled(state.email_throttle, now_epoch, window)
    user = _user_of_claim(state.claim)
    signed_in = _may_sign_in(user, password)  # always runs: same work for unknown emails
    if user is None or not signed_in:
        raise Unauthenticated(INVALID_LOGIN, code="invalid_credentials")
    # The attempt was counted in advance: a success undoes it.
    login_throttle.clear_login_failures(email)
    if source_ip:
        login_throttle.release_ip_login_attempt(source_ip, now_epoch, window)
    return user, issue_token(user)


def _may_sign_in(user: User | None, password: str) -> bool:
    """Right password, active user, active agency; argon2 work done even for no user."""
    if user is None:
        verify_nobodys_password(password)  # equal work for unknown emails
        return False
    if not verify_password(user.password_hash, password) or user.status != "active":
        return False
    agency = agencies.get(user.agency_id)
    return agency is not None and agency.status == "active"

"""Failed sign-ins, counted per email and per source IP in fixed windows.

Keys: ``THROTTLE#<lower email>`` / ``LOGIN`` and ``THROTTLE#IP#<source ip>`` / ``LOGIN``
(``LoginThrottle``; ``window_start`` in epoch seconds, ``expires_at`` (TTL) the window's end,
so a counter disappears once it no longer matters).
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import PutError, PynamoDBException, UpdateError

from chalicelib.store import keys
from chalicelib.store.accounts import EmailClaim
from chalicelib.store.base import read_items
from chalicelib.store.email_claims import CLAIM_SK
from chalicelib.store.identity import LOGIN_THROTTLE_SK, LoginThrottle
from chalicelib.store.transact import StorageUnavailable


@dataclass(frozen=True)
class SignInState:
    """What a sign-in reads first: who holds the email, and both failure counters."""

    claim: EmailClaim | None
    email_throttle: LoginThrottle | None
    ip_throttle: LoginThrottle | None


def sign_in_state(email: str, source_ip: str | None) -> SignInState:
    """The email's claim and the failed-login counters (email, source IP when known) in one
    consistent BatchGetItem."""
    claim_key = (keys.email_pk(email), CLAIM_SK)
    throttle_key = (keys.throttle_pk(email), LOGIN_THROTTLE_SK)
    ip_key = (keys.ip_throttle_pk(source_ip), LOGIN_THROTTLE_SK) if source_ip else None
    found = read_items([claim_key, throttle_key, *([ip_key] if ip_key else [])])
    claim, throttle = found.get(claim_key), found.get(throttle_key)
    ip_throttle = found.get(ip_key) if ip_key else None
    return SignInState(claim if isinstance(claim, EmailClaim) else None,
                       throttle if isinstance(throttle, LoginThrottle) else None,
                       ip_throttle if isinstance(ip_throttle, LoginThrottle) else None)


def _condition_failed(exc: PynamoDBException) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def reserve_login_attempt(email: str, now_epoch: int, window_seconds: int,
                          max_failures: int, known: LoginThrottle | None = None) -> bool:
    """The per-email reservation (see ``_reserve_attempt``)."""
    return _reserve_attempt(keys.throttle_pk(email), now_epoch, window_seconds, max_failures,
                            known)


def reserve_ip_login_attempt(source_ip: str, now_epoch: int, window_seconds: int,
                             max_failures: int, known: LoginThrottle | None = None) -> bool:
    """The per-source-IP reservation (see ``_reserve_attempt``)."""
    return _reserve_attempt(keys.ip_throttle_pk(source_ip), now_epoch, window_seconds,
                            max_failures, known)


def release_ip_login_attempt(source_ip: str, now_epoch: int, window_seconds: int) -> None:
    """Give back this attempt's reservation after a successful sign-in: successes do not
    count against the address, and the failures of others behind it stay counted."""
    item = LoginThrottle(keys.ip_throttle_pk(source_ip), LOGIN_THROTTLE_SK)
    try:
        item.update(actions=[LoginThrottle.failures.add(-1)],
                    condition=(LoginThrottle.failures > 0)
                    & (LoginThrottle.window_start > now_epoch - window_seconds))
    except UpdateError as exc:
        if not _condition_failed(exc):  # a new window began meanwhile: nothing to give back
            raise StorageUnavailable("the database is unavailable") from exc


def _reserve_attempt(pk: str, now_epoch: int, window_seconds: int,
                     max_failures: int, known: LoginThrottle | None = None) -> bool:
    """Count this attempt as a failure BEFORE the password is checked; False when the email
    already used its ``max_failures`` attempts in the open window.

    Reserving first (a conditional ``ADD``) is what makes the limit hold under parallel
    guesses: N concurrent attempts cannot all pass a check made before any was counted.
    A successful sign-in then clears the count. ``known`` (the row as just read, or None)
    only picks which write to try first: one write in the common case.
    """
    item = LoginThrottle(pk, LOGIN_THROTTLE_SK)
    window_open = known is not None and known.window_start > now_epoch - window_seconds
    for attempt in range(3):
        if attempt > 0 or window_open:  # else no open window was seen: start one (put)
            try:
                item.update(
                    actions=[LoginThrottle.failures.add(1)],
                    condition=(LoginThrottle.window_start > now_epoch - window_seconds)
                    & (LoginThrottle.failures < max_failures),
                )
                return True
            except UpdateError as exc:
                if not _condition_failed(exc):
                    raise StorageUnavailable("the database is unavailable") from exc
        fresh = LoginThrottle(pk, LOGIN_THROTTLE_SK, failures=1,
                              window_start=now_epoch, expires_at=now_epoch + window_seconds)
        try:
            fresh.save(condition=LoginThrottle.PK.does_not_exist()
                       | (LoginThrottle.window_start <= now_epoch - window_seconds))
            return True
        except PutError as exc:
            if not _condition_failed(exc):
                raise StorageUnavailable("the database is unavailable") from exc
    return False  # the window is open and its attempts are used up


def clear_login_failures(email: str) -> None:
    """Forget the failed logins of an email (after a successful sign-in)."""
    try:
        LoginThrottle(keys.throttle_pk(email), LOGIN_THROTTLE_SK).delete()
    except PynamoDBException as exc:
        raise StorageUnavailable("the database is unavailable") from exc

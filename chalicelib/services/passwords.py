"""Password hashing: argon2id through argon2-cffi (maintained, memory-hard)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chalicelib.domain.errors import ValidationFailed

# Moderate parameters: ~20 ms on a Lambda core; argon2id resists GPU cracking.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


def check_password_rules(password: str) -> None:
    """Refuse passwords that are too short or absurdly long (422)."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            details={"field": "password"},
        )


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; a missing or malformed hash never matches."""
    if not password_hash:
        _hasher.hash(password)  # same work either way: no timing hint that the user is odd
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _nobodys_hash() -> str:
    # Made on first use, not at import: an argon2 hash at import would slow every cold start.
    return _hasher.hash("not-a-real-password-0")


def verify_nobodys_password(password: str) -> None:
    """The work of checking ``password`` for a user that does not exist: an unknown email
    costs what a known one does."""
    verify_password(_nobodys_hash(), password)

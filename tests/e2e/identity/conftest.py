"""Fixtures of the identity tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.identity.support import Clock


@pytest.fixture(scope="package", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Still argon2id, with minimal cost: these tests hash hundreds of passwords.

    The production parameters are a property of ``chalicelib.services.passwords`` and are
    not what these tests check; verification reads the parameters from each stored hash,
    so hashes made here verify exactly as they would in production.
    """
    from argon2 import PasswordHasher

    from chalicelib.services import passwords

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher",
                      PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        yield


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A movable identity clock."""
    return Clock(monkeypatch)

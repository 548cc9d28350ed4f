"""Access tokens: signed JWTs (PyJWT, HS256) whose claims are re-checked on every request.

The token names the user and its agency; the user row is read on every request (one
BatchGetItem with the agency) so a removed user, a changed role, a closed agency or a bumped
``token_generation`` takes effect at once instead of when the token expires.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from chalicelib.config import get_settings
from chalicelib.domain.errors import Unauthenticated
from chalicelib.domain.roles import Principal, Role
from chalicelib.domain.timezones import DEFAULT_TIMEZONE
from chalicelib.store import keys
from chalicelib.store.accounts import Agency, User
from chalicelib.store.base import read_items

ALGORITHM = "HS256"
ISSUER = "agency-accounts"


def issue_token(user: User) -> dict[str, Any]:
    """A login answer: ``{access_token, token_type, expires_in}`` for ``user``."""
    settings = get_settings()
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": user.user_id,
        "agency": user.agency_id,
        "gen": user.token_generation or 0,
        "iat": now,
        "exp": now + settings.access_token_ttl_seconds,
    }
    token = jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl_seconds,
    }


def principal_of(user: User, agency: Agency | None = None) -> Principal:
    """The permission-module view of a user row (and its agency's timezone)."""
    return Principal(
        user_id=user.user_id,
        agency_id=user.agency_id,
        role=Role(user.role),
        email=user.email,
        access_all=bool(user.access_all),
        subaccount_ids=frozenset(user.subaccount_ids or ()),
        timezone=(agency.timezone if agency is not None else None) or DEFAULT_TIMEZONE,
    )


def principal_from_token(token: str) -> Principal:
    """Verify a bearer token and load its user; any doubt is a 401."""
    try:
        claims = jwt.decode(
            token,
            get_settings().jwt_secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated("invalid or expired token") from exc
    agency_id, user_id = claims.get("agency"), claims.get("sub")
    if not isinstance(agency_id, str) or not isinstance(user_id, str):
        raise Unauthenticated("invalid token")
    items = read_items([(keys.agency_pk(agency_id), keys.AGENCY_SK),
                        (keys.agency_pk(agency_id), keys.user_sk(user_id))], consistent=False)
    user = items.get((keys.agency_pk(agency_id), keys.user_sk(user_id)))
    agency = items.get((keys.agency_pk(agency_id), keys.AGENCY_SK))
    if not isinstance(user, User) or not isinstance(agency, Agency):
        raise Unauthenticated("invalid token")
    if user.status != "active" or agency.status != "active":
        raise Unauthenticated("this login is no longer active")
    if (user.token_generation or 0) != claims.get("gen", 0):
        raise Unauthenticated("this token was revoked")
    return principal_of(user, agency)

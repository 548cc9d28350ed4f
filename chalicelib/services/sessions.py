"""Access tokens: signed JWTs (PyJWT, HS256) whose claims are re-checked on every request.

The token names the user, its agency and its session (``jti``, random per sign-in); the user
row is read on every request, with the agency and the session's logout marker, in one
strongly consistent BatchGetItem, so a logout, a removed user, a changed role or access, an
ownership transfer (both users bump ``token_generation``) or a closed agency takes effect at
the very next request instead of when the token expires.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt

from chalicelib.domain.errors import Unauthenticated
from chalicelib.domain.roles import Principal, Role
from chalicelib.domain.timezones import DEFAULT_TIMEZONE
from chalicelib.services.ports import ports
from chalicelib.store import sessions
from chalicelib.store.accounts import Agency, User

ALGORITHM = "HS256"
ISSUER = "agency-accounts"


def issue_token(user: User) -> dict[str, Any]:
    """A login answer: ``{access_token, token_type, expires_in}`` for ``user``.

    Its times come from the system clock, not the installed one: PyJWT checks ``iat`` and
    ``exp`` against the system clock when the token comes back.
    """
    settings = ports().settings
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": user.user_id,
        "agency": user.agency_id,
        "gen": user.token_generation or 0,
        "jti": secrets.token_hex(16),  # this session: logout ends it alone
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


def _verified_claims(token: str) -> dict[str, Any]:
    """The claims of a token we signed and that has not expired; any doubt is a 401."""
    try:
        claims = jwt.decode(
            token,
            ports().settings.jwt_secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            # No jti, no session to end: tokens from before sessions existed are refused.
            options={"require": ["exp", "iat", "sub", "iss", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated("invalid or expired token") from exc
    agency_id, user_id, session_id = claims.get("agency"), claims.get("sub"), claims.get("jti")
    if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in (agency_id, user_id,
                                                                   session_id)):
        raise Unauthenticated("invalid token")
    return claims


def principal_from_token(token: str) -> Principal:
    """Verify a bearer token and load its user; any doubt is a 401.

    One BatchGetItem, strongly consistent (SPEC "Sessions"): a logout or a revocation
    committed just before this request is always seen.
    """
    claims = _verified_claims(token)
    found = sessions.state(claims["agency"], claims["sub"], claims["jti"])
    user, agency = found.user, found.agency
    if user is None or agency is None:
        raise Unauthenticated("invalid token")
    if user.status != "active" or agency.status != "active":
        raise Unauthenticated("this login is no longer active")
    if (user.token_generation or 0) != claims.get("gen", 0):
        raise Unauthenticated("this token was revoked")
    if found.ended:
        raise Unauthenticated("this session has ended")
    return principal_of(user, agency)


def end_session_of(token: str) -> None:
    """Logout: the session of ``token`` (already checked by the route) ends at once. The
    user's other sessions stay (README "Sessions")."""
    claims = _verified_claims(token)
    sessions.end(claims["agency"], claims["sub"], claims["jti"], int(claims["exp"]))

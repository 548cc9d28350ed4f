"""Sessions: what the per-request session check reads, and logouts.

A session is a signed token (nothing stored while it lives); a logout writes an
``EndedSession`` at ``AGENCY#<aid>`` / ``LOGOUT#<session id>`` (TTL: the token's own expiry),
in the agency's partition so that the check reads it with the user and the agency in one
BatchGetItem.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import PynamoDBException

from chalicelib.store import keys
from chalicelib.store.accounts import Agency, User
from chalicelib.store.base import read_items
from chalicelib.store.identity import EndedSession
from chalicelib.store.transact import StorageUnavailable


@dataclass(frozen=True)
class SessionState:
    """What a request's token leads to: its agency and user (None when absent) and whether
    the session was ended by a logout."""

    agency: Agency | None
    user: User | None
    ended: bool


def state(agency_id: str, user_id: str, session_id: str) -> SessionState:
    """The agency, the user and the session's logout marker in one strongly consistent
    BatchGetItem: a logout or a revocation committed just before is always seen."""
    agency_key = (keys.agency_pk(agency_id), keys.AGENCY_SK)
    user_key = (keys.agency_pk(agency_id), keys.user_sk(user_id))
    ended_key = (keys.agency_pk(agency_id), keys.ended_session_sk(session_id))
    items = read_items([agency_key, user_key, ended_key], consistent=True)
    agency, user = items.get(agency_key), items.get(user_key)
    return SessionState(agency=agency if isinstance(agency, Agency) else None,
                        user=user if isinstance(user, User) else None,
                        ended=isinstance(items.get(ended_key), EndedSession))


def end(agency_id: str, user_id: str, session_id: str, token_expiry: int) -> None:
    """Record that a session ended (idempotent: ending it again changes nothing)."""
    try:
        EndedSession(keys.agency_pk(agency_id), keys.ended_session_sk(session_id),
                     user_id=user_id, expires_at=token_expiry).save()
    except PynamoDBException as exc:
        raise StorageUnavailable("the database is unavailable") from exc

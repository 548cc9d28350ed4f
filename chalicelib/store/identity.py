"""Invitations, their tokens, and the failed-login counter.

An invitation lives in its agency's partition; its token is stored only as a SHA-256 hash,
in an item of its own keyed by that hash, so accepting is one GetItem by hash and no token
can be read back from the table. The login throttle is one counter item per email.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, PynamoDBException, UpdateError

from chalicelib.store import keys
from chalicelib.store.base import IntegerAttribute, TableItem, UTCDateTimeText, string_list
from chalicelib.store.pagination import decode_cursor, encode_cursor
from chalicelib.store.transact import StorageUnavailable

INVITATION_TOKEN_SK = "INVTOKEN"
LOGIN_THROTTLE_SK = "LOGIN"


class Invitation(TableItem, discriminator="Invitation"):
    """PK: ``AGENCY#<aid>`` / SK: ``INVITE#<iid>``. An invitation to join an agency.

    ``status`` is ``pending | accepted | revoked`` (an expired one stays ``pending`` in the
    table; expiry is ``valid_until`` compared with the clock). ``claim_owner_type`` is the
    ``owner_type`` of the email claim this invitation holds (``invitation``, or
    ``subaccount_login`` when it was made for a sub-account's login email), so accepting and
    revoking can condition on exactly that claim.
    """

    agency_id = UnicodeAttribute()
    invitation_id = UnicodeAttribute()
    email = UnicodeAttribute()
    role = UnicodeAttribute()
    access_all = BooleanAttribute(default=True)
    subaccount_ids = string_list(default=list)
    status = UnicodeAttribute(default="pending")
    token_hash = UnicodeAttribute()
    valid_until = UTCDateTimeText()
    invited_by = UnicodeAttribute()
    claim_owner_type = UnicodeAttribute(default="invitation")
    created_at = UTCDateTimeText()
    resent_at = UTCDateTimeText(null=True)
    accepted_at = UTCDateTimeText(null=True)
    accepted_user_id = UnicodeAttribute(null=True)
    revoked_at = UTCDateTimeText(null=True)

    @classmethod
    def key(cls, agency_id: str, invitation_id: str) -> tuple[str, str]:
        """Primary key of an invitation."""
        return keys.agency_pk(agency_id), keys.invitation_sk(invitation_id)


class InvitationToken(TableItem, discriminator="InvitationToken"):
    """PK: ``INVTOKEN#<sha256 hex>`` / SK: ``INVTOKEN``. Token hash → invitation.

    ``expires_at`` (the table's TTL attribute) lets DynamoDB sweep dead tokens; TTL deletion
    lags by up to two days, so acceptance also checks ``valid_until`` explicitly.
    """

    agency_id = UnicodeAttribute()
    invitation_id = UnicodeAttribute()
    valid_until = UTCDateTimeText()

    @classmethod
    def key(cls, token_hash: str) -> tuple[str, str]:
        """Primary key of a token item."""
        return keys.invitation_token_pk(token_hash), INVITATION_TOKEN_SK


class LoginThrottle(TableItem, discriminator="LoginThrottle"):
    """PK: ``THROTTLE#<lower email>`` / SK: ``LOGIN``. Failed logins in a fixed window.

    ``window_start`` is epoch seconds; ``expires_at`` (TTL) is the window's end, so the item
    disappears by itself once it no longer matters.
    """

    failures = IntegerAttribute(default=0)
    window_start = IntegerAttribute()


class EndedSession(TableItem, discriminator="EndedSession"):
    """PK: ``AGENCY#<aid>`` / SK: ``LOGOUT#<session id>``. A session ended by logout.

    Its token is refused from then on; ``expires_at`` (TTL) is the token's own expiry, after
    which the token is refused anyway and the item may go.
    """

    user_id = UnicodeAttribute()


def ended_session_key(agency_id: str, session_id: str) -> tuple[str, str]:
    """Primary key of an ended session (read by the session check with the user)."""
    return keys.agency_pk(agency_id), keys.ended_session_sk(session_id)


def end_session(agency_id: str, user_id: str, session_id: str, token_expiry: int) -> None:
    """Record that a session ended (idempotent: ending it again changes nothing)."""
    try:
        EndedSession(*ended_session_key(agency_id, session_id), user_id=user_id,
                     expires_at=token_expiry).save()
    except PynamoDBException as exc:
        raise StorageUnavailable("the database is unavailable") from exc


def pending_invitations_sent_by(agency_id: str, user_id: str) -> list[Invitation]:
    """Every pending invitation a user sent (one Query of the agency's invitations, filtered
    server-side; an agency has few pending invitations at a time)."""
    return list(Invitation.query(
        keys.agency_pk(agency_id),
        Invitation.SK.startswith(keys.INVITATION_PREFIX),
        filter_condition=(Invitation.status == "pending") & (Invitation.invited_by == user_id),
        consistent_read=True,
    ))


def get_invitation(agency_id: str, invitation_id: str) -> Invitation | None:
    """An invitation of the agency, or None (one consistent GetItem)."""
    if not invitation_id or len(invitation_id) > 64:
        return None
    try:
        return Invitation.get(*Invitation.key(agency_id, invitation_id), consistent_read=True)
    except Invitation.DoesNotExist:
        return None


def get_invitation_token(token_hash: str) -> InvitationToken | None:
    """The token item of a hash, or None."""
    try:
        return InvitationToken.get(*InvitationToken.key(token_hash), consistent_read=True)
    except InvitationToken.DoesNotExist:
        return None


def pending_invitations(agency_id: str, *, limit: int, cursor: str | None
                        ) -> tuple[list[Invitation], str | None]:
    """Pending invitations of an agency, oldest first, one page (Query on the partition).

    Accepted and revoked invitations are filtered out server-side; PynamoDB keeps reading
    pages until ``limit`` pending ones are found, so pages are full unless the list ends.
    """
    pk = keys.agency_pk(agency_id)
    query = Invitation.query(
        pk,
        Invitation.SK.startswith(keys.INVITATION_PREFIX),
        filter_condition=Invitation.status == "pending",
        consistent_read=True,
        limit=limit,
        page_size=max(limit, 100),
        last_evaluated_key=decode_cursor(cursor, pk),
    )
    items = list(query)
    return items, _next_cursor(query.last_evaluated_key, len(items), limit)


def _next_cursor(last_key: dict[str, Any] | None, count: int, limit: int) -> str | None:
    # A short page means the partition was read to its end.
    return encode_cursor(last_key) if count >= limit else None


def read_login_throttle(email: str) -> LoginThrottle | None:
    """The failed-login counter of an email, or None."""
    try:
        return LoginThrottle.get(keys.throttle_pk(email), LOGIN_THROTTLE_SK, consistent_read=True)
    except LoginThrottle.DoesNotExist:
        return None


def _condition_failed(exc: PynamoDBException) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def record_login_failure(email: str, now_epoch: int, window_seconds: int) -> None:
    """Count one failed login in the email's current window, atomically.

    First try ``ADD failures 1`` on a window that is still open; if there is none (no item,
    or its window has passed), start a new window with a conditional put. Two concurrent
    failures can race on the put; the loser retries the ADD, so no failure is lost.
    """
    item = LoginThrottle(keys.throttle_pk(email), LOGIN_THROTTLE_SK)
    for _ in range(3):
        try:
            item.update(
                actions=[LoginThrottle.failures.add(1)],
                condition=LoginThrottle.window_start > now_epoch - window_seconds,
            )
            return
        except UpdateError as exc:
            if not _condition_failed(exc):
                raise StorageUnavailable("the database is unavailable") from exc
        fresh = LoginThrottle(keys.throttle_pk(email), LOGIN_THROTTLE_SK, failures=1,
                              window_start=now_epoch, expires_at=now_epoch + window_seconds)
        try:
            fresh.save(condition=LoginThrottle.PK.does_not_exist()
                       | (LoginThrottle.window_start <= now_epoch - window_seconds))
            return
        except PutError as exc:
            if not _condition_failed(exc):
                raise StorageUnavailable("the database is unavailable") from exc
    raise StorageUnavailable("could not record the failed login")


def reserve_login_attempt(email: str, now_epoch: int, window_seconds: int,
                          max_failures: int, known: LoginThrottle | None = None) -> bool:
    """The per-email reservation (see ``_reserve_attempt``)."""
    return _reserve_attempt(keys.throttle_pk(email), now_epoch, window_seconds, max_failures,
                            known)


def ip_throttle_key(source_ip: str) -> tuple[str, str]:
    """Key of the failed-login counter of a source IP."""
    return keys.ip_throttle_pk(source_ip), LOGIN_THROTTLE_SK


def reserve_ip_login_attempt(source_ip: str, now_epoch: int, window_seconds: int,
                             max_failures: int, known: LoginThrottle | None = None) -> bool:
    """The per-source-IP reservation (see ``_reserve_attempt``)."""
    return _reserve_attempt(keys.ip_throttle_pk(source_ip), now_epoch, window_seconds,
                            max_failures, known)


def release_ip_login_attempt(source_ip: str, now_epoch: int, window_seconds: int) -> None:
    """Give back this attempt's reservation after a successful sign-in: successes do not
    count against the address, and the failures of others behind it stay counted."""
    item = LoginThrottle(*ip_throttle_key(source_ip))
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


def invitation_epoch(moment: datetime) -> int:
    """Epoch seconds of an aware datetime (for the TTL attribute)."""
    return int(moment.timestamp())

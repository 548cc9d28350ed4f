"""The identity items: invitations, their tokens, failed-login counters, ended sessions.

An invitation lives in its agency's partition; its token is stored only as a SHA-256 hash,
in an item of its own keyed by that hash, so accepting is one GetItem by hash and no token
can be read back from the table. The login throttle is one counter item per email (and per
source IP). Their access patterns are the repositories ``chalicelib.store.invitations``,
``chalicelib.store.login_throttle`` and ``chalicelib.store.sessions``.
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute

from chalicelib.store import keys
from chalicelib.store.base import IntegerAttribute, TableItem, UTCDateTimeText, string_list

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


def get_invitation(agency_id: str, invitation_id: str) -> Invitation | None:
    """An invitation of the agency, or None (one consistent GetItem)."""
    if not invitation_id or len(invitation_id) > 64:
        return None
    try:
        return Invitation.get(*Invitation.key(agency_id, invitation_id), consistent_read=True)
    except Invitation.DoesNotExist:
        return None

"""Invitations and their tokens (models in ``chalicelib.store.identity``).

Keys: the invitation ``AGENCY#<aid>`` / ``INVITE#<iid>``; its token, stored only as a SHA-256
hash, ``INVTOKEN#<sha256 hex>`` / ``INVTOKEN`` (accepting is one GetItem by hash, and no token
can be read back from the table). Every change of an invitation is conditioned on it still
being pending with the token hash read, so a resend, a revoke and an accept cannot interleave.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from chalicelib.domain.errors import DomainError
from chalicelib.store import keys
from chalicelib.store.accounts import Agency
from chalicelib.store.base import read_items
from chalicelib.store.identity import Invitation, InvitationToken, get_invitation
from chalicelib.store.pagination import filtered_page
from chalicelib.store.transact import Op, delete, save, update

#: An invitation of the agency, or None (one consistent GetItem).
get = get_invitation


def _key(agency_id: str, invitation_id: str) -> Invitation:
    return Invitation(*Invitation.key(agency_id, invitation_id))


def _token_key(token_hash: str) -> InvitationToken:
    return InvitationToken(*InvitationToken.key(token_hash))


def _epoch(moment: datetime) -> int:
    """Epoch seconds of an aware datetime (the TTL attribute)."""
    return int(moment.timestamp())


def token(token_hash: str) -> InvitationToken | None:
    """The token item of a hash, or None (one consistent GetItem)."""
    try:
        return InvitationToken.get(*InvitationToken.key(token_hash), consistent_read=True)
    except InvitationToken.DoesNotExist:
        return None


def with_agency(agency_id: str, invitation_id: str) -> tuple[Invitation | None, Agency | None]:
    """An invitation and its agency, in one consistent BatchGetItem."""
    agency_key = (keys.agency_pk(agency_id), keys.AGENCY_SK)
    invitation_key = Invitation.key(agency_id, invitation_id)
    found = read_items([agency_key, invitation_key])
    invitation, agency = found.get(invitation_key), found.get(agency_key)
    return (invitation if isinstance(invitation, Invitation) else None,
            agency if isinstance(agency, Agency) else None)


def pending_page(agency_id: str, *, limit: int, cursor: str | None
                 ) -> tuple[list[Invitation], str | None]:
    """Pending invitations of an agency, oldest first, one page (Query on the partition).

    Accepted and revoked invitations are filtered out server-side; PynamoDB keeps reading
    pages until ``limit`` pending ones are found, so pages are full unless the list ends.
    """
    return filtered_page(Invitation, keys.agency_pk(agency_id),
                         Invitation.SK.startswith(keys.INVITATION_PREFIX),
                         filter_condition=Invitation.status == "pending", limit=limit,
                         cursor=cursor)


def pending_sent_by(agency_id: str, user_id: str) -> list[Invitation]:
    """Every pending invitation a user sent (one Query of the agency's invitations, filtered
    server-side; an agency has few pending invitations at a time)."""
    return list(Invitation.query(
        keys.agency_pk(agency_id),
        Invitation.SK.startswith(keys.INVITATION_PREFIX),
        filter_condition=(Invitation.status == "pending") & (Invitation.invited_by == user_id),
        consistent_read=True,
    ))


def new(*, agency_id: str, invitation_id: str, email: str, role: str, access_all: bool,
        subaccount_ids: Sequence[str], token_hash: str, valid_until: datetime,
        invited_by: str, claim_owner_type: str, created_at: datetime) -> Invitation:
    """A new pending invitation record (not written: ``insert`` writes it)."""
    return Invitation(
        *Invitation.key(agency_id, invitation_id),
        agency_id=agency_id, invitation_id=invitation_id, email=email, role=role,
        access_all=access_all, subaccount_ids=list(subaccount_ids), status="pending",
        token_hash=token_hash, valid_until=valid_until, invited_by=invited_by,
        claim_owner_type=claim_owner_type, created_at=created_at,
    )


def _token_item(invitation: Invitation, token_hash: str, valid_until: datetime
                ) -> InvitationToken:
    return InvitationToken(
        *InvitationToken.key(token_hash), agency_id=invitation.agency_id,
        invitation_id=invitation.invitation_id, valid_until=valid_until,
        expires_at=_epoch(valid_until),
    )


def insert(invitation: Invitation) -> list[Op]:
    """Write a new invitation and its token item (TTL at its expiry); neither id reused."""
    return [
        save(invitation, condition=Invitation.PK.does_not_exist()),
        save(_token_item(invitation, invitation.token_hash, invitation.valid_until),
             condition=InvitationToken.PK.does_not_exist()),
    ]


def renew_token(invitation: Invitation, *, token_hash: str, valid_until: datetime,
                at: datetime, error: DomainError) -> list[Op]:
    """Resend: the invitation (still pending with the token read) gets a new token hash and
    expiry; the old token item goes, the new one is written."""
    return [
        update(_key(invitation.agency_id, invitation.invitation_id),
               [Invitation.token_hash.set(token_hash), Invitation.valid_until.set(valid_until),
                Invitation.resent_at.set(at)],
               condition=(Invitation.status == "pending")
               & (Invitation.token_hash == invitation.token_hash),
               error=error),
        # No condition: the old token item may already have been swept by the TTL.
        delete(_token_key(invitation.token_hash)),
        save(_token_item(invitation, token_hash, valid_until),
             condition=InvitationToken.PK.does_not_exist(), error=error),
    ]


def revoke(invitation: Invitation, *, at: datetime, error: DomainError) -> list[Op]:
    """Revoke a pending invitation (the token read) and drop its token item."""
    return [
        update(_key(invitation.agency_id, invitation.invitation_id),
               [Invitation.status.set("revoked"), Invitation.revoked_at.set(at)],
               condition=(Invitation.status == "pending")
               & (Invitation.token_hash == invitation.token_hash),
               error=error),
        delete(_token_key(invitation.token_hash)),
    ]


def accept(invitation: Invitation, *, user_id: str, at: datetime, error: DomainError
           ) -> list[Op]:
    """Mark a pending invitation (the token read) accepted by ``user_id`` and consume its
    token item, which must still exist."""
    return [
        update(_key(invitation.agency_id, invitation.invitation_id),
               [Invitation.status.set("accepted"), Invitation.accepted_at.set(at),
                Invitation.accepted_user_id.set(user_id)],
               condition=(Invitation.status == "pending")
               & (Invitation.token_hash == invitation.token_hash),
               error=error),
        delete(_token_key(invitation.token_hash), condition=InvitationToken.PK.exists(),
               error=error),
    ]


def with_token(invitation: Invitation, *, token_hash: str, valid_until: datetime,
               at: datetime) -> Invitation:
    """``invitation`` as it reads once ``renew_token`` committed (a copy, not written)."""
    return Invitation(invitation.PK, invitation.SK, **{
        **invitation.attribute_values, "token_hash": token_hash, "valid_until": valid_until,
        "resent_at": at})

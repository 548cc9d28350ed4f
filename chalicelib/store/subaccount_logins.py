"""The login of a sub-account: its email's claim and the user or invitation holding it.

A secondary sub-account's ``login_email`` is claimed system-wide (``EMAIL#<email>``) by the
invitation of its login user, then by that user once the invitation is accepted (or by the
sub-account itself when nobody was invited). Changing the login email moves the claim and
follows it on its holder; removal frees it and ends the holder. These are the reads and
writes the sub-account's use cases make of those items (the models belong to identity:
``chalicelib.store.accounts`` and ``chalicelib.store.identity``). Every write requires what
was read to be unchanged, else ``SubaccountChanged`` (read again, retry).
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.store import keys
from chalicelib.store.accounts import EmailClaim, User
from chalicelib.store.identity import Invitation, InvitationToken
from chalicelib.store.subaccounts import SubaccountChanged
from chalicelib.store.transact import Op, delete, update

CLAIM_SK = "EMAIL"


def claim_of(email: str) -> EmailClaim | None:
    """Who holds ``email`` system-wide, or None: one consistent GetItem."""
    try:
        return EmailClaim.get(keys.email_pk(email), CLAIM_SK, consistent_read=True)
    except EmailClaim.DoesNotExist:
        return None


def user_of(agency_id: str, user_id: str) -> User | None:
    """A user of the agency in any status, or None: one consistent GetItem."""
    try:
        return User.get(keys.agency_pk(agency_id), keys.user_sk(user_id), consistent_read=True)
    except User.DoesNotExist:
        return None


def release_claim_op(email: str, claim: EmailClaim) -> Op:
    """Free ``email``, on condition that ``claim``'s holder still holds it."""
    return delete(EmailClaim(keys.email_pk(email), CLAIM_SK),
                  condition=(EmailClaim.owner_type == claim.owner_type)
                  & (EmailClaim.owner_id == claim.owner_id),
                  error=SubaccountChanged())


def user_email_op(user: User, email: str) -> Op:
    """The login user signs in with ``email`` from now on (its email as read)."""
    return update(user, actions=[User.email.set(email)], condition=User.email == user.email,
                  error=SubaccountChanged())


def end_user_op(user: User) -> Op:
    """Remove the login user; its tokens die at once (active, with its email as read)."""
    return update(user, actions=[User.status.set("removed"), User.token_generation.add(1)],
                  condition=(User.status == "active") & (User.email == user.email),
                  error=SubaccountChanged())


def invitation_email_op(invitation: Invitation, email: str) -> Op:
    """The login invitation goes to ``email`` (its email and status as read)."""
    return update(invitation, actions=[Invitation.email.set(email)],
                  condition=(Invitation.email == invitation.email)
                  & (Invitation.status == invitation.status),
                  error=SubaccountChanged())


def revoke_invitation_ops(invitation: Invitation, *, at: datetime) -> list[Op]:
    """Revoke a pending login invitation and delete its token (pending with the token read)."""
    return [
        update(invitation, actions=[Invitation.status.set("revoked"),
                                    Invitation.revoked_at.set(at)],
               condition=(Invitation.status == "pending")
               & (Invitation.token_hash == invitation.token_hash),
               error=SubaccountChanged()),
        delete(InvitationToken(*InvitationToken.key(invitation.token_hash))),
    ]

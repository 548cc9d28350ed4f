"""Email claims: one email, one holder, system-wide.

Key: ``EMAIL#<lower email>`` / ``EMAIL``. The holder is a user, a pending invitation or a
sub-account's login (``owner_type`` ``user`` | ``invitation`` | ``subaccount_login``, and
``owner_id``); every change of holder is conditioned on the holder read, so two writers can
never both believe they own an address.
"""

from __future__ import annotations

from chalicelib.domain.errors import Conflict, DomainError
from chalicelib.store import keys
from chalicelib.store.accounts import EmailClaim
from chalicelib.store.transact import Op, delete, save, update

CLAIM_SK = "EMAIL"


def email_taken() -> Conflict:
    """The 409 for an email that a user, invitation or sub-account login already holds."""
    return Conflict("this email is already in use", code="email_taken")


def _key(email: str) -> EmailClaim:
    return EmailClaim(keys.email_pk(email), CLAIM_SK)


def get(email: str) -> EmailClaim | None:
    """Who holds ``email``, or None (one consistent GetItem)."""
    try:
        return EmailClaim.get(keys.email_pk(email), CLAIM_SK, consistent_read=True)
    except EmailClaim.DoesNotExist:
        return None


def claim(email: str, agency_id: str, owner_type: str, owner_id: str) -> Op:
    """Claim an email system-wide; 409 ``email_taken`` if anyone holds it."""
    return save(
        EmailClaim(keys.email_pk(email), CLAIM_SK, agency_id=agency_id, owner_type=owner_type,
                   owner_id=owner_id),
        condition=EmailClaim.PK.does_not_exist(),
        error=email_taken(),
    )


def hand_to_user(email: str, *, owner_type: str, owner_id: str, user_id: str,
                 error: DomainError) -> Op:
    """The claim an invitation held becomes its new user's (if that invitation still holds
    it)."""
    return update(_key(email),
                  [EmailClaim.owner_type.set("user"), EmailClaim.owner_id.set(user_id)],
                  condition=(EmailClaim.owner_type == owner_type)
                  & (EmailClaim.owner_id == owner_id),
                  error=error)


def release(email: str, *, owner_type: str, owner_id: str, error: DomainError) -> Op:
    """Free the email, if the holder read still holds it."""
    return delete(_key(email),
                  condition=(EmailClaim.owner_type == owner_type)
                  & (EmailClaim.owner_id == owner_id),
                  error=error)

"""The agency's Stripe Connect account: what the last ``account.updated`` said of it.

No banking data is stored: only Stripe ids, statuses, requirement names and failure codes.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute

from chalicelib.domain.errors import DomainError
from chalicelib.domain.payouts import ConnectState
from chalicelib.store import keys
from chalicelib.store.accounts import User
from chalicelib.store.base import IntegerAttribute, TableItem, UTCDateTimeText, string_list
from chalicelib.store.transact import Op, save, update

#: GSI1 sort key of the Stripe-id lookup.
LOOKUP_SK = "STRIPE"


class ConnectAccount(TableItem, discriminator="ConnectAccount"):
    """PK: ``AGENCY#<aid>`` / SK: ``CONNECT``; GSI1 ``STRIPE#<acct id>`` / ``STRIPE``.

    The agency's Express account and what the last ``account.updated`` said of it.
    ``last_event_at`` (the event's ``created``) keeps an older event, delivered late, from
    overwriting a newer state.
    """

    agency_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    status = UnicodeAttribute()  # not_connected | initiating | connected | restricted
    details_submitted = BooleanAttribute(default=False)
    payouts_enabled = BooleanAttribute(default=False)
    requirements_due = string_list(default=list)
    disabled_reason = UnicodeAttribute(null=True)
    bank_action_needed = BooleanAttribute(default=False)
    bank_failure_code = UnicodeAttribute(null=True)
    last_event_at = IntegerAttribute(default=0)
    created_at = UTCDateTimeText()
    updated_at = UTCDateTimeText()

    @classmethod
    def key(cls, agency_id: str) -> tuple[str, str]:
        """Primary key of an agency's Connect account."""
        return keys.agency_pk(agency_id), keys.CONNECT_SK


def _key_item(agency_id: str) -> ConnectAccount:
    return ConnectAccount(*ConnectAccount.key(agency_id))


# -- reads -----------------------------------------------------------------------------------


def get(agency_id: str) -> ConnectAccount | None:
    """The agency's Connect account, or None before onboarding (one consistent GetItem)."""
    try:
        return ConnectAccount.get(*ConnectAccount.key(agency_id), consistent_read=True)
    except ConnectAccount.DoesNotExist:
        return None


def of_stripe_account(stripe_account_id: str) -> ConnectAccount | None:
    """The Connect account of a Stripe account id (GSI1; None for an account we do not know)."""
    # ``Model.query(index_name=…)`` rather than the shared index object: it filters on this
    # class's discriminator.
    for item in ConnectAccount.query(keys.stripe_lookup_pk(stripe_account_id),
                                     index_name="GSI1"):
        return item
    return None


def owner_email(agency_id: str, owner_user_id: str) -> str | None:
    """The email of the agency's owner (Stripe pre-fills it; bank-failure emails go to it),
    or None when the user is gone (one GetItem)."""
    try:
        return User.get(keys.agency_pk(agency_id), keys.user_sk(owner_user_id)).email
    except User.DoesNotExist:
        return None


# -- writes ----------------------------------------------------------------------------------


def new(*, agency_id: str, account_id: str, state: ConnectState, at: datetime
        ) -> ConnectAccount:
    """A Connect account just created at Stripe, in the state its account object shows
    (unsaved: ``create_op`` writes it)."""
    return ConnectAccount(
        *ConnectAccount.key(agency_id),
        agency_id=agency_id,
        account_id=account_id,
        status=state.status.value,
        details_submitted=state.details_submitted,
        payouts_enabled=state.payouts_enabled,
        requirements_due=list(state.requirements_due),
        disabled_reason=state.disabled_reason,
        bank_action_needed=False,
        last_event_at=0,
        created_at=at,
        updated_at=at,
        GSI1PK=keys.stripe_lookup_pk(account_id),
        GSI1SK=LOOKUP_SK,
    )


def create_op(account: ConnectAccount, error: DomainError) -> Op:
    """Save a new Connect account; ``error`` when the agency has one already."""
    return save(account, condition=ConnectAccount.PK.does_not_exist(), error=error)


def apply_state_op(account: ConnectAccount, state: ConnectState, *, bank_action_needed: bool,
                   event_created: int, at: datetime, error: DomainError) -> Op:
    """Re-derive the account from an ``account.updated`` created at ``event_created``; a
    newer event applied meanwhile wins (``error``)."""
    return update(
        _key_item(account.agency_id),
        actions=[
            ConnectAccount.status.set(state.status.value),
            ConnectAccount.details_submitted.set(state.details_submitted),
            ConnectAccount.payouts_enabled.set(state.payouts_enabled),
            ConnectAccount.requirements_due.set(list(state.requirements_due)),
            ConnectAccount.disabled_reason.set(state.disabled_reason)
            if state.disabled_reason else ConnectAccount.disabled_reason.remove(),
            ConnectAccount.bank_action_needed.set(bank_action_needed),
            ConnectAccount.last_event_at.set(event_created),
            ConnectAccount.updated_at.set(at),
        ],
        condition=ConnectAccount.last_event_at.does_not_exist()
        | (ConnectAccount.last_event_at <= event_created),
        error=error,
    )


def flag_bank_failure_op(agency_id: str, failure_code: str, at: datetime) -> Op:
    """Mark that the bank details need fixing (until an ``account.updated`` shows a working
    bank account); the account must exist."""
    return update(
        _key_item(agency_id),
        actions=[ConnectAccount.bank_action_needed.set(True),
                 ConnectAccount.bank_failure_code.set(failure_code),
                 ConnectAccount.updated_at.set(at)],
        condition=ConnectAccount.PK.exists(),
    )

"""Helpers of the sub-account tests: users of every role, sub-accounts, balances."""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from typing import Any

from tests.helpers import AgencyFixture, call

_n = itertools.count(1)

PRICES = {"basic": "0.25", "premium": "0.30"}


def make_user(agency_id: str, role: str, *, subaccount_ids: tuple[str, ...] | None = None
              ) -> str:
    """A signed-in user of ``role`` built directly in the table (access ``specific`` when ids
    are given, else ``all``); returns its bearer token."""
    from chalicelib.services.agencies import claim_email_op
    from chalicelib.services.sessions import issue_token
    from chalicelib.store import keys
    from chalicelib.store.accounts import User
    from chalicelib.store.base import utcnow
    from chalicelib.store.transact import commit, save

    user_id = f"usr_{uuid.uuid4().hex[:24]}"
    email = f"{role}{next(_n)}@people.example.com"
    user = User(keys.agency_pk(agency_id), keys.user_sk(user_id), agency_id=agency_id,
                user_id=user_id, email=email, role=role,
                access_all=subaccount_ids is None, subaccount_ids=list(subaccount_ids or []),
                password_hash=None, created_at=utcnow())
    commit([save(user), claim_email_op(email, agency_id, "user", user_id)])
    return issue_token(user)["access_token"]


def new_subaccount(client: Any, agency: AgencyFixture, *, name: str | None = None,
                   email: str | None = None, prices: dict[str, Any] | None = None,
                   subscription_start: str | None = "2026-02-15") -> dict[str, Any]:
    """Create a sub-account through the API as the owner; returns its body."""
    n = next(_n)
    body: dict[str, Any] = {"name": name or f"Client {n}",
                            "login_email": email or f"client{n}@clients.example.com",
                            "prices": prices or PRICES}
    if subscription_start:
        body["subscription_start"] = subscription_start
    answer = call(client, "POST", "/v1/subaccounts", token=agency.owner_token, body=body)
    assert answer.status == 201, answer.body
    return answer.body


def grant(agency_id: str, subaccount_id: str, asset: str, amount: int) -> None:
    """Credit a wallet from platform supply (a balanced ledger transaction)."""
    from chalicelib.domain.ledger import Code, LedgerTransaction, supply, transfer, wallet
    from chalicelib.store.ledger import post_transaction

    post_transaction(LedgerTransaction(
        agency_id=agency_id, transaction_id=f"test-grant:{uuid.uuid4().hex}",
        code=Code.ADJUSTMENT,
        postings=transfer(supply(subaccount_id), wallet(subaccount_id), asset, amount),
        subaccount_id=subaccount_id))


def balances_of(agency_id: str, subaccount_id: str) -> dict[str, int]:
    """Wallet balances by asset."""
    from chalicelib.domain.ledger import wallet
    from chalicelib.store.ledger import read_balances

    return {asset: view.balance
            for asset, view in read_balances(agency_id, wallet(subaccount_id)).items()}


def ledger_totals(agency_id: str) -> dict[str, int]:
    """Sum of every balance row of the agency per asset (conservation: all zero).

    A table scan: test-only, never on a request path.
    """
    from chalicelib.store.ledger import LedgerBalance

    totals: dict[str, int] = defaultdict(int)
    for row in LedgerBalance.scan(LedgerBalance.PK.startswith(f"ACCT#{agency_id}#")):
        totals[row.SK.removeprefix("BAL#")] += row.balance or 0
    return dict(totals)


def resource(agency_id: str, subaccount_id: str, kind: str, resource_id: str) -> Any:
    """A resource row as stored (None when absent)."""
    from chalicelib.services.resources import RESOURCE_TYPES
    from chalicelib.store.resources import get_resource

    return get_resource(agency_id, subaccount_id, RESOURCE_TYPES[kind].type, resource_id)


def slots_used(agency_id: str) -> int:
    """The agency's slot counter."""
    from chalicelib.store import keys
    from chalicelib.store.accounts import SlotCounter

    return SlotCounter.get(keys.agency_pk(agency_id), keys.SLOTS_SK, consistent_read=True).used

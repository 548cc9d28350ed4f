"""Stripe Connect calls: Express accounts, account links, login links, transfers, listings.

Every create carries an idempotency key derived from our own ids, so a retry (ours or
stripe-python's network retry) never makes a second account or a second transfer.
Objects come back as plain dicts; Stripe errors are translated by ``call_stripe``.
"""

from __future__ import annotations

from typing import Any

from chalicelib.stripe_gateway.client import (
    call_stripe,
    gateway,
    retrieve_or_none,
    stripe_client,
)


def _plain(obj: Any) -> dict[str, Any]:
    """A StripeObject as a plain dict (nested objects included)."""
    plain: dict[str, Any] = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    return plain


def create_express_account(agency_id: str, email: str | None) -> dict[str, Any]:
    """Create the agency's Express account (idempotency key ``connect:<aid>``: once only)."""
    params: dict[str, Any] = {
        "type": "express",
        "capabilities": {"transfers": {"requested": True}},
        "metadata": {"agency_id": agency_id},
    }
    if email:
        params["email"] = email
    return _plain(call_stripe(lambda: stripe_client().v1.accounts.create(
        params, {"idempotency_key": f"connect:{agency_id}"})))


def fetch_account(account_id: str) -> dict[str, Any] | None:
    """The account as Stripe has it now; ``None`` if Stripe has no such account."""
    found = retrieve_or_none(lambda: stripe_client().v1.accounts.retrieve(account_id))
    return None if found is None else _plain(found)


def fetch_payout(payout_id: str, account_id: str) -> dict[str, Any] | None:
    """A payout of the connected account ``account_id`` (``Stripe-Account``), as Stripe has
    it now; ``None`` if that account has no such payout."""
    found = retrieve_or_none(lambda: stripe_client().v1.payouts.retrieve(
        payout_id, options={"stripe_account": account_id}))
    return None if found is None else _plain(found)


def fetch_transfer(transfer_id: str) -> dict[str, Any] | None:
    """A transfer as Stripe has it now; ``None`` if Stripe has no such transfer."""
    found = retrieve_or_none(lambda: stripe_client().v1.transfers.retrieve(transfer_id))
    return None if found is None else _plain(found)


def create_onboarding_link(account_id: str) -> dict[str, Any]:
    """A fresh, single-use onboarding link; expired links land on ``refresh_url``."""
    base = gateway().public_base_url
    params = {
        "account": account_id,
        "type": "account_onboarding",
        "refresh_url": f"{base}/settings/connect?refresh=1",
        "return_url": f"{base}/settings/connect?return=1",
    }
    return _plain(call_stripe(lambda: stripe_client().v1.account_links.create(
        params)))


def create_login_link(account_id: str) -> dict[str, Any]:
    """An Express dashboard login link (short-lived; never stored)."""
    return _plain(call_stripe(lambda: stripe_client().v1.accounts.login_links.create(
        account_id)))


def create_transfer(*, payout_id: str, agency_id: str, account_id: str, amount_cents: int,
                    cycle_date: str, attempt: int = 1) -> dict[str, Any]:
    """Send a payout to the connected account; the idempotency key is the payout id (one per
    transfer attempt of a cycle, named in the metadata with the cycle)."""
    params = {
        "amount": amount_cents,
        "currency": "usd",
        "destination": account_id,
        "transfer_group": payout_id,
        "description": f"Agency profit payout {cycle_date}",
        "metadata": {"payout_id": payout_id, "agency_id": agency_id, "cycle_date": cycle_date,
                     # Only retries name their attempt: a first attempt re-sent after an
                     # outage carries exactly the parameters of its original request.
                     **({"attempt": str(attempt)} if attempt > 1 else {})},
    }
    return _plain(call_stripe(lambda: stripe_client().v1.transfers.create(
        params, {"idempotency_key": payout_id})))


def find_payout_transfer(payout_id: str) -> dict[str, Any] | None:
    """The transfer already made for a payout, if any (its ``transfer_group`` is the payout id).

    Checked before re-sending an unconfirmed transfer: Stripe forgets idempotency keys after
    24 hours, so a retry after an outage that long must not rely on the key alone.
    """
    page = call_stripe(lambda: stripe_client().v1.transfers.list(
        {"transfer_group": payout_id, "limit": 10}))
    for item in page.data:
        return _plain(item)
    return None


def list_transfers(created_gte: int, created_lt: int) -> list[dict[str, Any]]:
    """Every transfer created in ``[gte, lt)`` (epoch seconds), auto-paginated."""
    params = {"created": {"gte": created_gte, "lt": created_lt}, "limit": 100}
    page = call_stripe(lambda: stripe_client().v1.transfers.list(params))
    # Later pages are Stripe calls too: their errors are translated like the first one's.
    return call_stripe(lambda: [_plain(item) for item in page.auto_paging_iter()])


def list_charges(created_gte: int, created_lt: int) -> list[dict[str, Any]]:
    """Every charge created in ``[gte, lt)`` (epoch seconds), auto-paginated; Stripe filters
    by ``created`` itself."""
    params = {"created": {"gte": created_gte, "lt": created_lt}, "limit": 100}
    page = call_stripe(lambda: stripe_client().v1.charges.list(params))
    # Later pages are Stripe calls too: their errors are translated like the first one's.
    return call_stripe(lambda: [_plain(item) for item in page.auto_paging_iter()])

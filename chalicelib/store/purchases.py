"""Purchases: one charge of a card for minutes, from ``pending`` to ``succeeded`` or ``failed``.

A purchase (model ``Purchase`` in ``store.payments``) is saved ``pending`` before Stripe is
asked, together with its id in its sub-account's in-flight set; it sits in the due index
(GSI2 ``DUE#purchase-pending``) from ``reconcile_at`` until it is settled, and in the
Stripe lookup index (GSI1 ``STRIPE#<pi id>``) once its PaymentIntent is known. Settling is
conditioned on the status it leaves, so the request, the webhook and the reconciliation
sweep settle a purchase once whoever comes first.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import DomainError
from chalicelib.store import keys
from chalicelib.store.accounts import Subaccount
from chalicelib.store.payments import LOOKUP_SK, PENDING_PURCHASES, Purchase, due_items, iso_z
from chalicelib.store.subaccounts import LIVE_STATUSES
from chalicelib.store.transact import Op, save, update

__all__ = ["Purchase", "failure_op", "new_pending", "pending_due", "record_pending_ops",
           "settled_op", "success_op", "unindex_op", "waiting_op"]

def _key_item(purchase: Purchase) -> Purchase:
    return Purchase(purchase.PK, purchase.SK)


def _subaccount_of(purchase: Purchase) -> Subaccount:
    return Subaccount(keys.agency_pk(purchase.agency_id),
                      keys.subaccount_sk(purchase.subaccount_id))


def _lookup_actions(intent_id: str | None) -> list[Any]:
    """Remember the PaymentIntent and index the purchase under it (GSI1)."""
    if not intent_id:
        return []
    return [Purchase.payment_intent_id.set(intent_id),
            Purchase.GSI1PK.set(keys.stripe_lookup_pk(intent_id)),
            Purchase.GSI1SK.set(LOOKUP_SK)]


# -- reads -----------------------------------------------------------------------------------


def pending_due(as_of: datetime) -> Iterator[Purchase]:
    """Purchases the reconciliation looks at by ``as_of`` (the due index only, never a scan).
    The index may lag behind a settlement: read a purchase again before acting on it."""
    return (item for item in due_items(PENDING_PURCHASES, as_of) if isinstance(item, Purchase))


# -- writes ----------------------------------------------------------------------------------


def new_pending(*, agency_id: str, purchase_id: str, source: str, subaccount_id: str,
                payer_subaccount_id: str, tier: str, basic_seconds: int, premium_seconds: int,
                charge_micros: int, revenue_micros: int, profit_micros: int, amount_cents: int,
                transaction_id: str, customer_id: str, payment_method_id: str,
                timezone: str | None, rule_ref: str | None, created_at: datetime,
                reconcile_at: datetime) -> Purchase:
    """An unsaved pending purchase, due for reconciliation at ``reconcile_at``."""
    return Purchase(
        keys.purchases_pk(agency_id), purchase_id,
        agency_id=agency_id, purchase_id=purchase_id, source=source,
        subaccount_id=subaccount_id, payer_subaccount_id=payer_subaccount_id, tier=tier,
        basic_seconds=basic_seconds, premium_seconds=premium_seconds,
        charge_micros=charge_micros, revenue_micros=revenue_micros,
        profit_micros=profit_micros, amount_cents=amount_cents,
        transaction_id=transaction_id, customer_id=customer_id,
        payment_method_id=payment_method_id, status="pending", rule_ref=rule_ref,
        timezone=timezone, created_at=created_at,
        DUEPK=keys.due_pk(PENDING_PURCHASES, agency_id),
        DUESK=keys.due_sk(iso_z(reconcile_at), f"{agency_id}#{purchase_id}"),
    )


def record_pending_ops(purchase: Purchase, *, exists: DomainError,
                       subaccount_gone: DomainError) -> list[Op]:
    """Save a new pending purchase (``exists`` when its id is taken) and put it in its
    sub-account's in-flight set (``subaccount_gone`` unless that sub-account is live)."""
    return [
        save(purchase, condition=Purchase.PK.does_not_exist(), error=exists),
        update(_subaccount_of(purchase),
               actions=[Subaccount.pending_purchase_ids.add({purchase.purchase_id})],
               condition=Subaccount.status.is_in(*LIVE_STATUSES), error=subaccount_gone),
    ]


def settled_op(purchase: Purchase) -> Op:
    """Take the purchase off its sub-account's in-flight set (idempotent set DELETE)."""
    return update(_subaccount_of(purchase),
                  actions=[Subaccount.pending_purchase_ids.delete({purchase.purchase_id})])


def success_op(purchase: Purchase, *, intent_id: str, charge_id: str | None, at: datetime,
               error: DomainError) -> Op:
    """The purchase ``succeeded`` (out of the reconciliation index, failure fields cleared);
    ``error`` when it had succeeded already. Not conditioned on ``pending``: a charge that
    succeeded at Stripe is credited even if we had given up on it."""
    actions = [
        Purchase.status.set("succeeded"),
        Purchase.stripe_status.set("succeeded"),
        Purchase.completed_at.set(at),
        Purchase.DUEPK.remove(),
        Purchase.DUESK.remove(),
        Purchase.failure_code.remove(),
        Purchase.decline_code.remove(),
        Purchase.failure_message.remove(),
        *_lookup_actions(intent_id),
    ]
    if charge_id:
        actions.append(Purchase.charge_id.set(charge_id))
    return update(_key_item(purchase), actions, condition=Purchase.status != "succeeded",
                  error=error)


def failure_op(purchase: Purchase, *, code: str, decline_code: str | None, message: str,
               intent_id: str | None, at: datetime, error: DomainError) -> Op:
    """The pending purchase ``failed`` (out of the reconciliation index); ``error`` when it
    was no longer pending (settled meanwhile by another path)."""
    actions = [
        Purchase.status.set("failed"),
        Purchase.failure_code.set(code),
        Purchase.failure_message.set(message),
        Purchase.completed_at.set(at),
        Purchase.DUEPK.remove(),
        Purchase.DUESK.remove(),
        *_lookup_actions(intent_id),
    ]
    actions.append(Purchase.decline_code.set(decline_code) if decline_code
                   else Purchase.decline_code.remove())
    return update(_key_item(purchase), actions, condition=Purchase.status == "pending",
                  error=error)


def waiting_op(purchase: Purchase, *, intent_id: str, stripe_status: str) -> Op:
    """Stripe has not settled the charge yet: remember its intent and status. Refused
    (``ConditionFailed``) when the purchase is no longer pending."""
    return update(_key_item(purchase),
                  [Purchase.stripe_status.set(stripe_status), *_lookup_actions(intent_id)],
                  condition=Purchase.status == "pending")


def unindex_op(purchase: Purchase) -> Op:
    """Take a settled purchase out of the reconciliation index. Refused
    (``ConditionFailed``) while it is still pending."""
    return update(_key_item(purchase), [Purchase.DUEPK.remove(), Purchase.DUESK.remove()],
                  condition=Purchase.status != "pending")

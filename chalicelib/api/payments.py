"""Routes: saved cards, minute purchases, monthly auto-allocation and auto-recharge."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.guards import purchase_guard
from chalicelib.api.http import Reply, RequestContext, route
from chalicelib.api.models import DecimalInput, StrictBody
from chalicelib.api.render import for_viewer
from chalicelib.domain.roles import Action

bp = Blueprint(__name__)


class AttachPaymentMethodBody(StrictBody):
    """``POST …/payment-methods``: a Stripe payment method id (``pm_…``)."""

    payment_method: str = Field(min_length=1, max_length=255)


class PurchaseBody(StrictBody):
    """``POST …/purchases``: whole minutes of one tier; the default card unless named."""

    tier: str = Field(min_length=1, max_length=16)
    minutes: DecimalInput
    payment_method_id: str | None = Field(default=None, min_length=1, max_length=255)


class AutoAllocationBody(StrictBody):
    """``PUT …/auto-allocation``: whole minutes bought every cycle (not both 0)."""

    basic_minutes: DecimalInput = 0
    premium_minutes: DecimalInput = 0
    enabled: bool = True


class AutoRechargeBody(StrictBody):
    """``PUT …/auto-recharge``: below ``threshold_minutes`` buy ``recharge_minutes``."""

    tier: str = Field(min_length=1, max_length=16)
    threshold_minutes: DecimalInput
    recharge_minutes: DecimalInput
    enabled: bool = True
    monthly_cap_usd: DecimalInput | None = None


# ------------------------------------------------------------------ saved cards


@route(bp, "/v1/subaccounts/{subaccount_id}/payment-methods", "GET",
       summary="Saved cards of a sub-account")
def list_payment_methods(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Saved cards, oldest first, with the default flagged."""
    from chalicelib.services.access import load_subaccount
    from chalicelib.services.payments import list_payment_methods as list_cards

    return list_cards(load_subaccount(ctx.user, subaccount_id, Action.READ_PAYMENTS))


@route(bp, "/v1/subaccounts/{subaccount_id}/payment-methods", "POST", status=201,
       body=AttachPaymentMethodBody, summary="Save a card (Stripe payment method)")
def add_payment_method(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Attach to the sub-account's own Stripe customer; the first card becomes the default."""
    from chalicelib.services.access import load_subaccount
    from chalicelib.services.payments import add_payment_method as add

    sub = load_subaccount(ctx.user, subaccount_id, Action.PAYMENTS)
    return add(sub, ctx.body.payment_method)


@route(bp, "/v1/subaccounts/{subaccount_id}/payment-methods/{payment_method_id}", "DELETE",
       summary="Remove a saved card")
def remove_payment_method(ctx: RequestContext, subaccount_id: str,
                          payment_method_id: str) -> None:
    """Detach; the oldest remaining card becomes the default if this one was."""
    from chalicelib.services.access import load_subaccount
    from chalicelib.services.payments import remove_payment_method as remove

    remove(load_subaccount(ctx.user, subaccount_id, Action.PAYMENTS), payment_method_id)


@route(bp, "/v1/subaccounts/{subaccount_id}/payment-methods/{payment_method_id}/default",
       "POST", summary="Make a saved card the default")
def default_payment_method(ctx: RequestContext, subaccount_id: str,
                           payment_method_id: str) -> dict[str, Any]:
    """The card charged when a purchase names none (and by auto-recharge / allocation)."""
    from chalicelib.services.access import load_subaccount
    from chalicelib.services.payments import set_default_payment_method

    sub = load_subaccount(ctx.user, subaccount_id, Action.PAYMENTS)
    return set_default_payment_method(sub, payment_method_id)


# ------------------------------------------------------------------ purchases


@route(bp, "/v1/subaccounts/{subaccount_id}/purchases", "POST", status=201, body=PurchaseBody,
       idempotent=True, guard=purchase_guard, summary="Buy minutes with a saved card")
def purchase(ctx: RequestContext, subaccount_id: str) -> Reply:
    """201 once credited; 202 while Stripe settles it; 402 ``card_declined``."""
    from chalicelib.services.payments import purchase_minutes

    # The guard read the sub-account and its payment profile (the saved cards) together.
    sub, profile = ctx.authorized
    body: PurchaseBody = ctx.body
    rendered, status = purchase_minutes(
        ctx.user, sub, tier=body.tier, minutes=body.minutes,
        payment_method_id=body.payment_method_id, idempotency_key=ctx.idempotency_key,
        profile=profile,
    )
    return Reply(for_viewer(ctx.user, rendered), status)  # a client never sees profit_usd


# ------------------------------------------------------------------ auto-allocation


@route(bp, "/v1/subaccounts/{subaccount_id}/auto-allocation", "GET",
       summary="Monthly auto-allocation rule")
def get_auto_allocation(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """The rule (404 when none)."""
    from chalicelib.services.access import load_subaccount
    from chalicelib.services.auto_allocation import get_rule

    return get_rule(load_subaccount(ctx.user, subaccount_id, Action.MANAGE_AUTO_ALLOCATION))


@route(bp, "/v1/subaccounts/{subaccount_id}/auto-allocation", "PUT", body=AutoAllocationBody,
       summary="Set the monthly auto-allocation rule")
def put_auto_allocation(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Fixed minutes every billing cycle, charged to the primary's default card at base cost."""
    from chalicelib.services.access import load_subaccount
    from chalicelib.services.auto_allocation import put_rule

    sub = load_subaccount(ctx.user, subaccount_id, Action.MANAGE_AUTO_ALLOCATION)
    body: AutoAllocationBody = ctx.body
    return put_rule(ctx.user, sub, basic_minutes=body.basic_minutes,
                    premium_minutes=body.premium_minutes, enabled=body.enabled)


@route(bp, "/v1/subaccounts/{subaccount_id}/auto-allocation", "DELETE",
       summary="Delete the monthly auto-allocation rule")
def delete_auto_allocation(ctx: RequestContext, subaccount_id: str) -> None:
    """204; 404 when there is no rule."""
    from chalicelib.services.access import load_subaccount
    from chalicelib.services.auto_allocation import delete_rule

    delete_rule(ctx.user, load_subaccount(ctx.user, subaccount_id,
                                          Action.MANAGE_AUTO_ALLOCATION))


# ------------------------------------------------------------------ auto-recharge


@route(bp, "/v1/subaccounts/{subaccount_id}/auto-recharge", "GET", query=("tier",),
       summary="Auto-recharge rules")
def get_auto_recharge(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """``{rules: [...]}``, or one rule with ``?tier=`` (404 when none)."""
    from chalicelib.services.access import load_subaccount
    from chalicelib.services.auto_recharge import get_rules

    sub = load_subaccount(ctx.user, subaccount_id, Action.READ_PAYMENTS)
    return get_rules(sub, ctx.query.get("tier"))


@route(bp, "/v1/subaccounts/{subaccount_id}/auto-recharge", "PUT", body=AutoRechargeBody,
       summary="Set an auto-recharge rule")
def put_auto_recharge(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """One rule per tier; the sub-account's own default card pays, at its price."""
    from chalicelib.services.access import load_subaccount
    from chalicelib.services.auto_recharge import put_rule

    sub = load_subaccount(ctx.user, subaccount_id, Action.PAYMENTS)
    body: AutoRechargeBody = ctx.body
    return put_rule(sub, tier=body.tier, threshold_minutes=body.threshold_minutes,
                    recharge_minutes=body.recharge_minutes, enabled=body.enabled,
                    monthly_cap_usd=body.monthly_cap_usd)


@route(bp, "/v1/subaccounts/{subaccount_id}/auto-recharge", "DELETE", query=("tier",),
       summary="Delete an auto-recharge rule")
def delete_auto_recharge(ctx: RequestContext, subaccount_id: str) -> None:
    """204 (``?tier=`` required); 404 when there is no rule."""
    from chalicelib.services.access import load_subaccount
    from chalicelib.services.auto_recharge import delete_rule

    sub = load_subaccount(ctx.user, subaccount_id, Action.PAYMENTS)
    delete_rule(sub, ctx.query.get("tier"))

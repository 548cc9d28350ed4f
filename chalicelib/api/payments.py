"""Routes: saved cards, minute purchases, monthly auto-allocation and auto-recharge."""

from __future__ import annotations

from typing import Any, Literal

from chalice import Blueprint
from pydantic import Field, RootModel

from chalicelib.api.guards import purchase_guard
from chalicelib.api.http import Reply, RequestContext, route
from chalicelib.api.models import DecimalInput, StrictBody
from chalicelib.api.render import AnswerModel, for_viewer
from chalicelib.domain.roles import Action
from chalicelib.services import auto_allocation, auto_recharge, payments
from chalicelib.services.access import load_subaccount

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


# ------------------------------------------------------------------ answers


class CardOut(AnswerModel):
    """A saved card (never its number): brand, last 4 digits, expiry, whether default."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool


class CardListOut(AnswerModel):
    """The sub-account's saved cards, oldest first."""

    payment_methods: list[CardOut]
    default_payment_method: str | None


class PurchaseOut(AnswerModel):
    """A purchase. ``profit_usd`` (the agency's margin) is absent for sub-account roles."""

    id: str
    subaccount_id: str
    source: Literal["purchase", "allocation", "recharge"]
    status: Literal["pending", "succeeded", "failed"]
    tier: Literal["basic", "premium", "mixed"]
    minutes: str
    seconds: int
    amount_usd: str
    profit_usd: str | None = None
    payment_intent_id: str | None
    payment_method_id: str | None
    failure_code: str | None
    decline_code: str | None
    refunded_usd: str
    created_at: str


class AutoAllocationRuleOut(AnswerModel):
    """A monthly auto-allocation rule: what it buys, when next, and how it last went."""

    subaccount_id: str
    basic_minutes: str
    premium_minutes: str
    enabled: bool
    status: Literal["active", "paused"]
    paused_reason: str | None
    next_run_at: str | None
    period: str | None
    failures: int
    last_failure_code: str | None
    last_period_done: str | None
    updated_at: str


class AutoRechargeRuleOut(AnswerModel):
    """An auto-recharge rule of one tier: what it does, this month's spend, its last failure."""

    subaccount_id: str
    tier: Literal["basic", "premium"]
    threshold_minutes: str
    threshold_seconds: int
    recharge_minutes: str
    enabled: bool
    monthly_cap_usd: str | None
    month: str | None
    month_spent_usd: str
    in_flight: bool
    failures: int
    last_failure_code: str | None
    last_failure_at: str | None
    last_purchase_id: str | None
    recharge_due: bool | None


class AutoRechargeRulesOut(AnswerModel):
    """Both tiers' rules (those that exist)."""

    rules: list[AutoRechargeRuleOut]


class AutoRechargeOut(RootModel[AutoRechargeRulesOut | AutoRechargeRuleOut]):
    """``{rules: [...]}``, or the one rule of ``?tier=``."""


# ------------------------------------------------------------------ saved cards


@route(bp, "/v1/subaccounts/{subaccount_id}/payment-methods", "GET", response=CardListOut,
       errors={404: ("not_found",)}, summary="Saved cards of a sub-account")
def list_payment_methods(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Saved cards, oldest first, with the default flagged."""
    return payments.list_payment_methods(
        load_subaccount(ctx.user, subaccount_id, Action.READ_PAYMENTS))


@route(bp, "/v1/subaccounts/{subaccount_id}/payment-methods", "POST", status=201,
       body=AttachPaymentMethodBody, response=CardOut,
       errors={402: ("card_declined",), 403: ("forbidden",), 404: ("not_found",),
               423: ("subaccount_suspended",)},
       summary="Save a card (Stripe payment method)")
def add_payment_method(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Attach to the sub-account's own Stripe customer; the first card becomes the default."""
    sub = load_subaccount(ctx.user, subaccount_id, Action.PAYMENTS)
    return payments.add_payment_method(sub, ctx.body.payment_method)


@route(bp, "/v1/subaccounts/{subaccount_id}/payment-methods/{payment_method_id}", "DELETE",
       errors={403: ("forbidden",), 404: ("not_found",), 423: ("subaccount_suspended",)},
       summary="Remove a saved card")
def remove_payment_method(ctx: RequestContext, subaccount_id: str,
                          payment_method_id: str) -> None:
    """Detach; the oldest remaining card becomes the default if this one was."""
    payments.remove_payment_method(load_subaccount(ctx.user, subaccount_id, Action.PAYMENTS),
                                   payment_method_id)


@route(bp, "/v1/subaccounts/{subaccount_id}/payment-methods/{payment_method_id}/default",
       "POST", response=CardOut,
       errors={403: ("forbidden",), 404: ("not_found",), 423: ("subaccount_suspended",)},
       summary="Make a saved card the default")
def default_payment_method(ctx: RequestContext, subaccount_id: str,
                           payment_method_id: str) -> dict[str, Any]:
    """The card charged when a purchase names none (and by auto-recharge / allocation)."""
    sub = load_subaccount(ctx.user, subaccount_id, Action.PAYMENTS)
    return payments.set_default_payment_method(sub, payment_method_id)


# ------------------------------------------------------------------ purchases


@route(bp, "/v1/subaccounts/{subaccount_id}/purchases", "POST", status=201, body=PurchaseBody,
       idempotent=True, guard=purchase_guard, response=PurchaseOut,
       errors={402: ("card_declined",), 403: ("forbidden",), 404: ("not_found",),
               409: ("purchase_failed", "concurrent_update"),
               422: ("no_payment_method", "unknown_payment_method"),
               423: ("subaccount_suspended",)},
       summary="Buy minutes with a saved card")
def purchase(ctx: RequestContext, subaccount_id: str) -> Reply:
    """201 once credited; 202 while Stripe settles it; 402 ``card_declined``."""
    # The guard read the sub-account and its payment profile (the saved cards) together.
    sub, profile = ctx.authorized
    body: PurchaseBody = ctx.body
    rendered, status = payments.purchase_minutes(
        ctx.user, sub, tier=body.tier, minutes=body.minutes,
        payment_method_id=body.payment_method_id, idempotency_key=ctx.idempotency_key,
        profile=profile,
    )
    return Reply(for_viewer(ctx.user, rendered), status)  # a client never sees profit_usd


# ------------------------------------------------------------------ auto-allocation


@route(bp, "/v1/subaccounts/{subaccount_id}/auto-allocation", "GET",
       response=AutoAllocationRuleOut, errors={403: ("forbidden",), 404: ("not_found",)},
       summary="Monthly auto-allocation rule")
def get_auto_allocation(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """The rule (404 when none)."""
    return auto_allocation.get_rule(
        load_subaccount(ctx.user, subaccount_id, Action.MANAGE_AUTO_ALLOCATION))


@route(bp, "/v1/subaccounts/{subaccount_id}/auto-allocation", "PUT", body=AutoAllocationBody,
       response=AutoAllocationRuleOut,
       errors={403: ("forbidden",), 404: ("not_found",), 409: ("concurrent_update",)},
       summary="Set the monthly auto-allocation rule")
def put_auto_allocation(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """Fixed minutes every billing cycle, charged to the primary's default card at base cost."""
    sub = load_subaccount(ctx.user, subaccount_id, Action.MANAGE_AUTO_ALLOCATION)
    body: AutoAllocationBody = ctx.body
    return auto_allocation.put_rule(ctx.user, sub, basic_minutes=body.basic_minutes,
                                    premium_minutes=body.premium_minutes, enabled=body.enabled)


@route(bp, "/v1/subaccounts/{subaccount_id}/auto-allocation", "DELETE",
       errors={403: ("forbidden",), 404: ("not_found",)},
       summary="Delete the monthly auto-allocation rule")
def delete_auto_allocation(ctx: RequestContext, subaccount_id: str) -> None:
    """204; 404 when there is no rule."""
    auto_allocation.delete_rule(ctx.user, load_subaccount(ctx.user, subaccount_id,
                                                          Action.MANAGE_AUTO_ALLOCATION))


# ------------------------------------------------------------------ auto-recharge


@route(bp, "/v1/subaccounts/{subaccount_id}/auto-recharge", "GET", query=("tier",),
       response=AutoRechargeOut, errors={404: ("not_found",)}, summary="Auto-recharge rules")
def get_auto_recharge(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """``{rules: [...]}``, or one rule with ``?tier=`` (404 when none)."""
    sub = load_subaccount(ctx.user, subaccount_id, Action.READ_PAYMENTS)
    return auto_recharge.get_rules(sub, ctx.query.get("tier"))


@route(bp, "/v1/subaccounts/{subaccount_id}/auto-recharge", "PUT", body=AutoRechargeBody,
       response=AutoRechargeRuleOut,
       errors={403: ("forbidden",), 404: ("not_found",), 409: ("concurrent_update",),
               423: ("subaccount_suspended",)},
       summary="Set an auto-recharge rule")
def put_auto_recharge(ctx: RequestContext, subaccount_id: str) -> dict[str, Any]:
    """One rule per tier; the sub-account's own default card pays, at its price."""
    sub = load_subaccount(ctx.user, subaccount_id, Action.PAYMENTS)
    body: AutoRechargeBody = ctx.body
    return auto_recharge.put_rule(sub, tier=body.tier, threshold_minutes=body.threshold_minutes,
                                  recharge_minutes=body.recharge_minutes, enabled=body.enabled,
                                  monthly_cap_usd=body.monthly_cap_usd)


@route(bp, "/v1/subaccounts/{subaccount_id}/auto-recharge", "DELETE", query=("tier",),
       errors={403: ("forbidden",), 404: ("not_found",), 423: ("subaccount_suspended",)},
       summary="Delete an auto-recharge rule")
def delete_auto_recharge(ctx: RequestContext, subaccount_id: str) -> None:
    """204 (``?tier=`` required); 404 when there is no rule."""
    sub = load_subaccount(ctx.user, subaccount_id, Action.PAYMENTS)
    auto_recharge.delete_rule(sub, ctx.query.get("tier"))

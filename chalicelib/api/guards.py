"""Authorization of the idempotent routes, run by ``route`` BEFORE any stored answer is read.

Each guard raises what the handler itself would (404 for an id out of the caller's reach,
403, 423 while suspended) and returns what it loaded, so the handler does not read it twice.
"""

from __future__ import annotations

from typing import Any

from chalicelib.api.http import RequestContext
from chalicelib.domain.errors import Forbidden, NotFound
from chalicelib.domain.roles import AGENCY_ROLES, Action
from chalicelib.services import access


def purchase_guard(ctx: RequestContext, subaccount_id: str) -> access.SubaccountWithProfile:
    """The sub-account (payments allowed, not suspended for its users) and its payment
    profile, read together in one round trip."""
    return access.load_subaccount_for_payment(ctx.user, subaccount_id, Action.PAYMENTS)


def removal_guard(ctx: RequestContext, subaccount_id: str) -> None:
    """Owner/Admin on a sub-account of their agency. Once removed the sub-account is gone,
    yet its remover's retry must still replay: a manager passes on a 404 (managers see every
    sub-account of the agency, so that 404 can only mean "already removed" or "never was",
    and without a stored answer of its own the handler answers the 404 itself)."""
    try:
        access.load_subaccount(ctx.user, subaccount_id, Action.MANAGE_SUBACCOUNT)
    except NotFound:
        if not ctx.user.is_manager:
            raise


def quote_guard(ctx: RequestContext) -> None:
    """Both ends of the move within the caller's reach, moves allowed."""
    access.load_subaccount(ctx.user, ctx.body.from_subaccount_id, Action.MOVE_MINUTES)
    access.load_subaccount(ctx.user, ctx.body.to_subaccount_id, Action.MOVE_MINUTES)


def confirm_guard(ctx: RequestContext) -> Any:
    """Only agency roles move minutes. Which sub-accounts the quote joins is checked when
    it is confirmed; a replay goes only to the caller that confirmed it."""
    if ctx.user.role not in AGENCY_ROLES:
        raise Forbidden("sub-account roles may not move minutes")

"""Sub-account lifecycle: create (under the plan cap), edit, suspend / restore, two-step removal.

Each use case is one ``TransactWriteItems`` (the ledger's, for removal) carrying its audit
event, with conditions instead of read-modify-write:

- create increments the agency's ``SlotCounter`` under ``used < cap``, so two concurrent
  creates at cap-1 cannot both win, and claims the login email through the invitation of the
  sub-account's login user (one claim, system-wide);
- removal requires the sub-account's ``resource_generation`` to be the one it read with its
  resources, so it acts on exactly the resources it saw (a concurrent resource write makes it
  re-read and try again);
- removal moves every second and credit out with version-guarded debits, so a concurrent
  usage debit or purchase makes it retry instead of leaving dust on a removed sub-account.

DynamoDB transactions hold at most 100 items. Removal puts as many resource updates as fit
into its main transaction; the rest follow right after in chunks of 100 (see
``_commit_follow_ups``). Suspend and restore flip the status alone (with audit and
notification), then pause or re-activate resources in batches of 99 guarded by the
sub-account's current suspension, marking each paused resource; a due mark on the
sub-account lets the ``subaccount-suspensions`` job finish what an interrupted request left.
In every case the status flips first, so the refusals (423, call authorization, 404 after
removal) hold from that moment whatever happens to the batches.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.domain.errors import (
    Conflict,
    DomainError,
    NotFound,
    ValidationFailed,
)
from chalicelib.domain.ledger import (
    CONVERSION,
    MINUTE_ASSETS,
    WALLET_ASSETS,
    Asset,
    Code,
    LedgerTransaction,
    Posting,
    held,
    wallet,
)
from chalicelib.domain.money import move_received_seconds, parse_usd, render_minutes, render_usd
from chalicelib.domain.plans import BASE_COST_MICROS, PLANS, TIERS, asset_of_tier
from chalicelib.domain.roles import Action, Principal, Role, authorize_agency, can_see
from chalicelib.services.access import (
    get_agency,
    get_subaccount,
    load_subaccount,
    ref_of,
)
from chalicelib.services.agencies import claim_email_op, new_id
from chalicelib.services.audit import audit_op
from chalicelib.services.notifications import notification_op
from chalicelib.services.resources import (
    BY_TYPE,
    RELEASED,
    generation_condition,
    release_claim_op,
    render_resource,
    status_op,
    subaccount_key,
)
from chalicelib.store import keys
from chalicelib.store.accounts import (
    PAUSE,
    REACTIVATE,
    Agency,
    EmailClaim,
    SlotCounter,
    Subaccount,
    SubaccountPointer,
    User,
    drop_resource_work_op,
    find_subaccount,
    resource_work_done_op,
    resource_work_guard,
    restore_op,
    subaccounts_with_resource_work_due,
    suspend_op,
)
from chalicelib.store.base import utcnow
from chalicelib.store.identity import Invitation, InvitationToken, get_invitation
from chalicelib.store.ledger import (
    AlreadyPosted,
    BalanceView,
    LedgerBalance,
    balance_key,
    post_transaction,
    read_balances,
    read_many_balances,
)
from chalicelib.store.movements import CallHold, open_holds_of
from chalicelib.store.pagination import decode_cursor, encode_cursor
from chalicelib.store.resources import (
    Resource,
    all_resources,
    marked_resources,
    pause_op,
    reactivate_op,
    resources_in_status,
)
from chalicelib.store.stats import stats_op
from chalicelib.store.transact import Op, check, commit, delete, save, update

log = logging.getLogger(__name__)

MAX_TRANSACTION_ITEMS = 100
MAX_ATTEMPTS = 3
#: Open call holds released inside the removal's own transaction (each is one item of it);
#: more are released just before, one transaction each.
MAX_HOLDS_IN_REMOVAL = 25
LIVE_STATUSES = ("active", "suspended")
LOGIN_ROLE = Role.SUBACCOUNT_ADMIN


class _ChangedMeanwhile(Conflict):
    """Internal: what an operation read changed before it committed; re-read and retry."""

    code = "concurrent_update"


def _changed() -> _ChangedMeanwhile:
    return _ChangedMeanwhile("the sub-account changed meanwhile; try again")


def primary_protected() -> Conflict:
    """The 409 for suspending, removing or re-pricing the primary sub-account."""
    return Conflict("the primary sub-account cannot be suspended, removed or re-priced",
                    code="primary_subaccount")


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class SubaccountView:
    """A sub-account with its wallet block."""

    sub: Subaccount
    wallet: dict[str, Any]


def wallet_block(sub: Subaccount) -> dict[str, Any]:
    """Balances and USD value of a sub-account's wallet (one Query)."""
    from chalicelib.services.wallets import wallet_view

    return wallet_view(sub)


def get_subaccount_view(principal: Principal, subaccount_id: str) -> SubaccountView:
    """One sub-account the caller can see, with its wallet."""
    sub = load_subaccount(principal, subaccount_id, Action.VIEW_SUBACCOUNT)
    return SubaccountView(sub, wallet_block(sub))


def list_subaccounts(principal: Principal, *, limit: int, cursor: str | None
                     ) -> tuple[list[SubaccountView], str | None]:
    """One page of the sub-accounts the caller may see, each with its wallet.

    One Query on the agency partition, then one BatchGetItem for every balance on the page
    (no query per sub-account). Sub-accounts outside the caller's access are skipped, so a page can
    be shorter than ``limit`` while ``next_cursor`` still leads on.
    """
    pk = keys.agency_pk(principal.agency_id)
    query = Subaccount.query(
        pk,
        Subaccount.SK.startswith(keys.SUBACCOUNT_PREFIX),
        filter_condition=Subaccount.status != "removed",
        limit=limit,
        last_evaluated_key=decode_cursor(cursor, pk),
        consistent_read=True,
    )
    page = list(query)
    next_cursor = encode_cursor(query.last_evaluated_key) if len(page) >= limit else None
    visible = [sub for sub in page if can_see(principal, ref_of(sub))]
    from chalicelib.services.wallets import wallet_view

    balances = read_many_balances(principal.agency_id,
                                  [wallet(sub.subaccount_id) for sub in visible], WALLET_ASSETS)
    return [SubaccountView(sub, wallet_view(sub, balances[wallet(sub.subaccount_id)]))
            for sub in visible], next_cursor


# --------------------------------------------------------------------------- input rules


def parse_price(tier: str, value: object) -> int:
    """A per-minute price in micro-USD: ≤ 6 decimals and ≥ the tier's base cost (else 422)."""
    field = f"prices.{tier}"
    micros = parse_usd(value, field, max_decimals=6)
    base = BASE_COST_MICROS[tier]
    if micros < base:
        raise ValidationFailed(
            f"the {tier} price must be at least the base cost of {render_usd(base)} per minute",
            code="price_below_base_cost",
            details={"field": field, "base_cost": render_usd(base)},
        )
    return micros


def _prices_view(basic: int, premium: int) -> dict[str, str]:
    return {"basic": render_usd(basic), "premium": render_usd(premium)}


def _summary(sub: Subaccount) -> dict[str, Any]:
    return {
        "name": sub.name,
        "login_email": sub.login_email,
        "prices": _prices_view(sub.price_basic, sub.price_premium),
        "subscription_start": sub.subscription_start,
    }


def _today() -> date:
    return datetime.now(UTC).date()


# --------------------------------------------------------------------------- create


def create_subaccount(principal: Principal, *, name: str, login_email: str,
                      prices: dict[str, object], subscription_start: date | None
                      ) -> SubaccountView:
    """Create a secondary sub-account under the plan cap, and invite its login user.

    One transaction: the sub-account, its pointer, the slot (``used < cap``; 409
    ``plan_limit_reached``), the login user's invitation (``subaccount_admin`` with access to
    this sub-account only) which claims the login email system-wide (409 ``email_taken``),
    and the audit events. The invitation email goes out after the commit.
    """
    from chalicelib.services.identity import (
        SUBACCOUNT_LOGIN_CLAIM,
        create_invitation_ops,
        send_invitation_email,
    )

    authorize_agency(principal, Action.CREATE_SUBACCOUNT)
    price_basic = parse_price("basic", prices.get("basic"))
    price_premium = parse_price("premium", prices.get("premium"))
    agency = get_agency(principal.agency_id)
    plan = PLANS.get(agency.plan)
    cap = plan.subaccount_cap if plan else None
    email = login_email.strip().lower()
    now = utcnow()
    sid = new_id("sub")
    sub = Subaccount(
        keys.agency_pk(agency.agency_id), keys.subaccount_sk(sid),
        agency_id=agency.agency_id, subaccount_id=sid, name=name, login_email=email,
        is_primary=False, price_basic=price_basic, price_premium=price_premium,
        price_version=1, subscription_start=(subscription_start or _today()).isoformat(),
        status="active", resource_generation=0, created_at=now,
    )
    slot_condition = None
    if cap is not None:
        slot_condition = SlotCounter.used.does_not_exist() | (SlotCounter.used < cap)
    invitation_ops, invitation, token = create_invitation_ops(
        agency.agency_id, principal.user_id, email, LOGIN_ROLE.value, False, [sid],
        claim_owner_type=SUBACCOUNT_LOGIN_CLAIM,
    )
    commit([
        # The cap was read from this plan: a plan change committed meanwhile (a downgrade
        # checks the slot counter against its own, smaller cap) makes this a retryable 409.
        check(Agency(keys.agency_pk(agency.agency_id), keys.AGENCY_SK),
              (Agency.plan == agency.plan) & (Agency.status == "active"),
              Conflict("the agency's plan changed meanwhile; try again",
                       code="concurrent_update")),
        save(sub, condition=Subaccount.PK.does_not_exist()),
        save(SubaccountPointer(keys.subaccount_pointer_pk(sid), "SUBID",
                               agency_id=agency.agency_id),
             condition=SubaccountPointer.PK.does_not_exist()),
        update(SlotCounter(keys.agency_pk(agency.agency_id), keys.SLOTS_SK),
               actions=[SlotCounter.used.add(1), SlotCounter.kind.set(SlotCounter)],
               condition=slot_condition,
               error=Conflict(f"the {agency.plan} plan allows {cap} sub-accounts",
                              code="plan_limit_reached",
                              details={"plan": agency.plan, "cap": cap})),
        *invitation_ops,
        audit_op(agency.agency_id, principal.user_id, "subaccount.created", subaccount_id=sid,
                 target=sid, after=_summary(sub), at=now),
    ])
    try:
        send_invitation_email(invitation, token)
    except Exception:  # the sub-account exists; the invitation can be resent
        log.exception("invitation email for sub-account %s failed", sid)
    return SubaccountView(sub, wallet_block(sub))


# --------------------------------------------------------------------------- edit


def update_subaccount(principal: Principal, subaccount_id: str, *, name: str | None = None,
                      login_email: str | None = None,
                      prices: dict[str, object] | None = None,
                      subscription_start: date | None = None) -> SubaccountView:
    """Change name, login email, prices (bumps ``price_version``) or billing anchor.

    The primary keeps its base-cost prices, its anchor (the agency's) and its login email (the
    owner's): changing any of them is 409 ``primary_subaccount``; its name may change.
    """
    sub = load_subaccount(principal, subaccount_id, Action.MANAGE_SUBACCOUNT)
    if name is None and login_email is None and not prices and subscription_start is None:
        raise ValidationFailed("nothing to change")
    if sub.is_primary and (login_email is not None or prices or subscription_start):
        raise primary_protected()
    now = utcnow()
    actions: list[Any] = []
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    ops: list[Op] = []
    post_commit: list[Any] = []
    if name is not None and name != sub.name:
        actions.append(Subaccount.name.set(name))
        before["name"], after["name"] = sub.name, name
    if subscription_start is not None and subscription_start.isoformat() != sub.subscription_start:
        actions.append(Subaccount.subscription_start.set(subscription_start.isoformat()))
        before["subscription_start"] = sub.subscription_start
        after["subscription_start"] = subscription_start.isoformat()
    email = login_email.strip().lower() if login_email is not None else None
    if email is not None and email != sub.login_email:
        actions.append(Subaccount.login_email.set(email))
        before["login_email"], after["login_email"] = sub.login_email, email
        email_ops, post_commit = _login_email_ops(principal, sub, email)
        ops.extend(email_ops)
    if after:
        ops.append(audit_op(sub.agency_id, principal.user_id, "subaccount.updated",
                            subaccount_id=sub.subaccount_id, target=sub.subaccount_id,
                            before=before, after=after, at=now))
    if prices:
        unknown = set(prices) - set(TIERS)
        if unknown:
            raise ValidationFailed("unknown price tier", details={"field": "prices"})
        basic = parse_price("basic", prices["basic"]) if prices.get("basic") is not None \
            else sub.price_basic
        premium = parse_price("premium", prices["premium"]) \
            if prices.get("premium") is not None else sub.price_premium
        if (basic, premium) != (sub.price_basic, sub.price_premium):
            actions += [Subaccount.price_basic.set(basic), Subaccount.price_premium.set(premium),
                        Subaccount.price_version.add(1)]
            ops.append(audit_op(
                sub.agency_id, principal.user_id, "subaccount.prices_changed",
                subaccount_id=sub.subaccount_id, target=sub.subaccount_id,
                before={"prices": _prices_view(sub.price_basic, sub.price_premium),
                        "price_version": sub.price_version},
                after={"prices": _prices_view(basic, premium),
                       "price_version": (sub.price_version or 1) + 1},
                at=now))
    if actions:
        # The version guard keeps the audit's "before" true: a concurrent edit makes this 409.
        ops.insert(0, update(
            subaccount_key(sub.agency_id, sub.subaccount_id), actions=actions,
            condition=Subaccount.status.is_in(*LIVE_STATUSES)
            & (Subaccount.price_version == sub.price_version)
            & (Subaccount.login_email == sub.login_email if sub.login_email
               else Subaccount.login_email.does_not_exist()),
            error=_changed()))
        commit(ops)
        for follow_up in post_commit:
            follow_up()
    fresh = get_subaccount(sub.agency_id, sub.subaccount_id)
    return SubaccountView(fresh, wallet_block(fresh))


def _claim_key(email: str) -> EmailClaim:
    return EmailClaim(keys.email_pk(email), "EMAIL")


@dataclass(frozen=True)
class LoginHolder:
    """Who holds a sub-account's login email: its claim, and the login user or invitation.

    ``owner`` is None when the sub-account itself holds the claim (nobody was invited).
    """

    claim: EmailClaim
    owner: User | Invitation | None


def _is_login_user(user: User, sub: Subaccount) -> bool:
    # The login user has a sub-account role with access to this sub-account alone; once an
    # admin widens it, it is an ordinary user and the sub-account no longer steers it.
    return (user.role in (Role.SUBACCOUNT_ADMIN.value, Role.SUBACCOUNT_MEMBER.value)
            and not user.access_all
            and list(user.subaccount_ids or []) == [sub.subaccount_id])


def login_holder(sub: Subaccount) -> LoginHolder | None:
    """The holder of ``sub``'s login email when it is the sub-account's own login, else None.

    An address whose claim went elsewhere (the login user was removed and someone else took
    the email) is not the sub-account's to move or free. At most 2 GetItems.
    """
    if not sub.login_email or sub.is_primary:
        return None
    try:
        claim = EmailClaim.get(keys.email_pk(sub.login_email), "EMAIL", consistent_read=True)
    except EmailClaim.DoesNotExist:
        return None
    if claim.agency_id != sub.agency_id:
        return None
    if claim.owner_type == "subaccount_login":
        if claim.owner_id == sub.subaccount_id:
            return LoginHolder(claim, None)
        invitation = get_invitation(sub.agency_id, claim.owner_id)
        if invitation is not None and list(invitation.subaccount_ids or []) == [
                sub.subaccount_id]:
            return LoginHolder(claim, invitation)
        return None
    if claim.owner_type == "user":
        try:
            user = User.get(keys.agency_pk(sub.agency_id), keys.user_sk(claim.owner_id),
                            consistent_read=True)
        except User.DoesNotExist:
            return None
        return LoginHolder(claim, user) if _is_login_user(user, sub) else None
    return None


def _release_claim_op(sub: Subaccount, holder: LoginHolder) -> Op:
    assert sub.login_email is not None
    return delete(_claim_key(sub.login_email),
                  condition=(EmailClaim.owner_type == holder.claim.owner_type)
                  & (EmailClaim.owner_id == holder.claim.owner_id),
                  error=_changed())


def _login_email_ops(principal: Principal, sub: Subaccount, new_email: str
                     ) -> tuple[list[Op], list[Any]]:
    """Move the login email's claim to ``new_email`` and follow it on the login user.

    Whoever holds the old claim holds the new one: the accepted login user (its email changes,
    so it signs in with the new one), or the pending invitation (its email changes; after the
    commit it is resent, so the link reaches the new address and the old link dies). When the
    old address is no longer the sub-account's, the sub-account claims the new one itself.
    """
    holder = login_holder(sub)
    if holder is None:
        return [claim_email_op(new_email, sub.agency_id, "subaccount_login",
                               sub.subaccount_id)], []
    ops = [_release_claim_op(sub, holder),
           claim_email_op(new_email, sub.agency_id, holder.claim.owner_type,
                          holder.claim.owner_id)]
    post_commit: list[Any] = []
    owner = holder.owner
    if isinstance(owner, User):
        ops.append(update(owner, actions=[User.email.set(new_email)],
                          condition=User.email == owner.email, error=_changed()))
    elif isinstance(owner, Invitation):
        ops.append(update(owner, actions=[Invitation.email.set(new_email)],
                          condition=(Invitation.email == owner.email)
                          & (Invitation.status == owner.status),
                          error=_changed()))
        if owner.status == "pending":
            def resend(invitation_id: str = owner.invitation_id) -> None:
                from chalicelib.services.identity import resend_invitation

                try:
                    resend_invitation(principal, invitation_id)
                except DomainError:
                    log.exception("resending the login invitation %s failed", invitation_id)

            post_commit.append(resend)
    return ops, post_commit


# --------------------------------------------------------------------------- suspend / restore


def _commit_follow_ups(ops: list[Op]) -> None:
    """Resource updates that did not fit the main transaction, in chunks of 100.

    A chunk that fails (a resource deleted or changed by agency staff in the milliseconds
    since) is retried op by op, skipping the ones whose condition no longer holds.
    """
    for start in range(0, len(ops), MAX_TRANSACTION_ITEMS):
        chunk = ops[start:start + MAX_TRANSACTION_ITEMS]
        try:
            commit(chunk)
        except DomainError:
            for op in chunk:
                try:
                    commit([op])
                except DomainError:
                    log.warning("skipped resource %s/%s: it changed meanwhile",
                                op.item.PK, op.item.SK)


def _commit_with_resources(head: list[Op], resource_ops: list[Op],
                           ledger_tx: LedgerTransaction | None = None,
                           expected_versions: dict[tuple[str, str], int] | None = None) -> None:
    """The main transaction (head + as many resource ops as fit), then the follow-ups."""
    ledger_items = 0
    if ledger_tx is not None:
        ledger_items = 1 + len(ledger_tx.net_by_account()) + len(ledger_tx.postings)
    room = MAX_TRANSACTION_ITEMS - len(head) - ledger_items
    main, rest = resource_ops[:room], resource_ops[room:]
    if ledger_tx is not None:
        post_transaction(ledger_tx, also=[*head, *main], expected_versions=expected_versions,
                         stale_error=_changed())
    else:
        commit([*head, *main])
    _commit_follow_ups(rest)


def _banner(sub: Subaccount) -> dict[str, Any]:
    return {"status": sub.status, "note": sub.suspension_note,
            "since": sub.suspended_at.strftime("%Y-%m-%dT%H:%M:%SZ") if sub.suspended_at
            else None}


def suspend_subaccount(principal: Principal, subaccount_id: str,
                       note: str | None) -> Subaccount:
    """Suspend a secondary sub-account, pausing exactly its running resources.

    One transaction flips the status (note, time, actor, a new suspension id), audits and
    notifies: from then on its users' writes answer 423 and calls are refused, whatever
    happens next. Then the running resources are paused and marked (active campaigns →
    paused, active agents → inactive, enabled automations → disabled) in batches; what the
    request cannot finish, the ``subaccount-suspensions`` job does. Already suspended → 409
    ``already_suspended``; the primary → 409 ``primary_subaccount``.
    """
    note = (note or "").strip() or None
    if note is not None and len(note) > 150:
        raise ValidationFailed("the note is at most 150 characters", details={"field": "note"})
    for _ in range(MAX_ATTEMPTS):
        sub = load_subaccount(principal, subaccount_id, Action.MANAGE_SUBACCOUNT)
        if sub.is_primary:
            raise primary_protected()
        if sub.status == "suspended":
            raise Conflict("this sub-account is already suspended", code="already_suspended")
        now = utcnow()
        suspension_id = new_id("susp")
        try:
            commit([
                suspend_op(sub, suspension_id=suspension_id, at=now, by=principal.user_id,
                           note=note, due_at=now + RESOURCE_WORK_GRACE, error=_changed()),
                audit_op(sub.agency_id, principal.user_id, "subaccount.suspended",
                         subaccount_id=sub.subaccount_id, target=sub.subaccount_id,
                         before={"status": "active"},
                         after={"status": "suspended", "note": note}, at=now),
                notification_op(sub.agency_id, "subaccount_suspended",
                                f"Sub-account {sub.name} was suspended",
                                subaccount_id=sub.subaccount_id, data={"note": note}, at=now),
            ])
        except _ChangedMeanwhile:
            continue
        # What the flip wrote, so the batches need not read the sub-account again.
        sub.status, sub.suspended_at, sub.suspended_by = "suspended", now, principal.user_id
        sub.suspension_note, sub.suspension_id, sub.resource_work = note, suspension_id, PAUSE
        _work_within_request(sub)
        return get_subaccount(sub.agency_id, sub.subaccount_id)
    raise Conflict("the sub-account kept changing; try again", code="concurrent_update")


def restore_subaccount(principal: Principal, subaccount_id: str) -> Subaccount:
    """Lift a suspension and re-activate exactly what it paused.

    One transaction flips the status back (and audits, notifies); then the resources marked
    by a suspension and still in their paused status are re-activated in batches, finished
    by the ``subaccount-suspensions`` job if the request cannot. Resources deleted meanwhile
    are gone, those people switched back on or paused by hand carry no mark and stay as they
    are. A suspension's unfinished batches stop at the flip. Not suspended → 409
    ``not_suspended``.
    """
    for _ in range(MAX_ATTEMPTS):
        sub = load_subaccount(principal, subaccount_id, Action.MANAGE_SUBACCOUNT)
        if sub.status != "suspended":
            raise Conflict("this sub-account is not suspended", code="not_suspended")
        now = utcnow()
        try:
            commit([
                restore_op(sub, due_at=now + RESOURCE_WORK_GRACE, error=_changed()),
                audit_op(sub.agency_id, principal.user_id, "subaccount.restored",
                         subaccount_id=sub.subaccount_id, target=sub.subaccount_id,
                         before=_banner(sub), after={"status": "active"}, at=now),
                notification_op(sub.agency_id, "subaccount_restored",
                                f"Sub-account {sub.name} was restored",
                                subaccount_id=sub.subaccount_id, at=now),
            ])
        except _ChangedMeanwhile:
            continue
        sub.status, sub.resource_work = "active", REACTIVATE  # what the flip wrote
        _work_within_request(sub)
        return get_subaccount(sub.agency_id, sub.subaccount_id)
    raise Conflict("the sub-account kept changing; try again", code="concurrent_update")


# ------------------------------------------------- suspension batches (request, then the job)

#: How long a suspend or restore request keeps pausing / re-activating before it answers and
#: leaves the rest to the job (API Gateway gives a request 29 s).
REQUEST_WORK_BUDGET_NS = 20 * 10**9
#: When the job takes over unfinished batches: late enough not to race the request itself.
RESOURCE_WORK_GRACE = timedelta(minutes=2)
#: Resources per transaction: 99 updates and the guard on the sub-account (≤ 100 items).
RESOURCE_BATCH = MAX_TRANSACTION_ITEMS - 1


class _WorkOver(Conflict):
    """Internal: a later restore or suspension (or a removal) replaced the work of a batch."""

    code = "concurrent_update"

    def __init__(self) -> None:
        super().__init__("a later suspension or restore took over")


class _ResourceMoved(Conflict):
    """Internal: one resource of a batch changed since it was read; the batch goes without."""

    code = "concurrent_update"

    def __init__(self) -> None:
        super().__init__("a resource changed meanwhile")


def _work_within_request(sub: Subaccount) -> None:
    """Do the batches the flip just recorded, within the request's budget. The flip already
    answered for the refusals, so trouble here is the job's to finish, not the caller's."""
    stop_at = time.monotonic_ns() + REQUEST_WORK_BUDGET_NS
    try:
        advance_resource_work(sub, lambda: time.monotonic_ns() >= stop_at)
    except DomainError:
        log.warning("suspension batches of %s left to the job", sub.subaccount_id,
                    exc_info=True)


def _pause_ops(sub: Subaccount) -> list[Op]:
    """Pause and mark what ran at the flip (and nothing people switched on since)."""
    flipped_at = sub.suspended_at
    assert flipped_at is not None and sub.suspension_id is not None
    ops: list[Op] = []
    running = {kind.running for kind in BY_TYPE.values() if kind.running}
    for item in resources_in_status(sub.agency_id, sub.subaccount_id, running):
        kind = BY_TYPE.get(item.type)
        if (kind is None or kind.stopped is None or item.status != kind.running
                or item.created_at > flipped_at
                or (item.updated_at is not None and item.updated_at > flipped_at)):
            continue
        ops.append(pause_op(item, kind.stopped, sub.suspension_id, flipped_at,
                            _ResourceMoved()))
    return ops


def _reactivate_ops(sub: Subaccount) -> list[Op]:
    """Re-activate what a suspension marked and is still paused (and, for a suspension
    recorded before marks existed, what its list names and is still paused)."""
    legacy = {(kind, rid) for kind, rid in (sub.paused_resources or [])}
    items = (all_resources(sub.agency_id, sub.subaccount_id) if legacy
             else marked_resources(sub.agency_id, sub.subaccount_id))
    ops: list[Op] = []
    for item in items:
        kind = BY_TYPE.get(item.type)
        if kind is None or kind.running is None or item.status != kind.stopped:
            continue
        if item.suspension_mark or (item.type, item.resource_id) in legacy:
            ops.append(reactivate_op(item, kind.running, _ResourceMoved()))
    return ops


def _commit_batch(guard: Op, batch: list[Op]) -> bool:
    """One batch in one transaction with the guard; a resource that changed meanwhile is
    left out and the rest retried. False when the work itself was replaced."""
    pending = list(batch)
    while pending:
        try:
            commit([guard, *pending])
            return True
        except _WorkOver:
            return False
        except _ResourceMoved as moved:
            left = [op for op in pending if op.on_condition_failed is not moved]
            if len(left) == len(pending):  # not one of ours: never loop on it
                raise
            pending = left
    return True


def advance_resource_work(sub: Subaccount, should_stop: Callable[[], bool]) -> bool:
    """Carry the sub-account's pending suspension or restore batches on from where they are
    (every batch is conditional, so doing one twice changes nothing). True when nothing is
    left; False when ``should_stop`` said so first (the due mark stays for the job)."""
    if sub.resource_work is None:
        return True
    expected = "suspended" if sub.resource_work == PAUSE else "active"
    if sub.status != expected:  # removed meanwhile, or a record from before this model
        with contextlib.suppress(DomainError):
            commit([drop_resource_work_op(sub)])
        return True
    ops = _pause_ops(sub) if sub.resource_work == PAUSE else _reactivate_ops(sub)
    guard = resource_work_guard(sub, _WorkOver())
    for start in range(0, len(ops), RESOURCE_BATCH):
        if should_stop():
            return False
        if not _commit_batch(guard, ops[start:start + RESOURCE_BATCH]):
            return True  # a later suspension or restore owns the resources now
    with contextlib.suppress(_WorkOver):
        commit([resource_work_done_op(sub, _WorkOver())])
    return True


def finish_due_resource_work(as_of: datetime, should_stop: Callable[[], bool]
                             ) -> dict[str, int]:
    """The ``subaccount-suspensions`` job: finish the batches of suspensions and restores
    whose request did not (O(due): the sparse GSI2 partition)."""
    counts = {"processed": 0, "succeeded": 0, "failed": 0, "deferred": 0}
    for due in subaccounts_with_resource_work_due(as_of):
        if should_stop():
            counts["deferred"] += 1
            continue
        sub = find_subaccount(due.agency_id, due.subaccount_id)  # the index lags
        if sub is None:
            continue
        counts["processed"] += 1
        try:
            finished = advance_resource_work(sub, should_stop)
        except Exception:  # one sub-account's trouble must not stop the others
            log.exception("suspension batches of %s failed", sub.subaccount_id)
            counts["failed"] += 1
            continue
        counts["succeeded" if finished else "deferred"] += 1
    return counts


# --------------------------------------------------------------------------- removal


def _balance(balances: dict[str, BalanceView], asset: str) -> BalanceView:
    return balances.get(asset) or BalanceView("", asset, 0, 0)


def _live_subaccounts(agency_id: str) -> list[Subaccount]:
    return [
        sub for sub in Subaccount.query(keys.agency_pk(agency_id),
                                        Subaccount.SK.startswith(keys.SUBACCOUNT_PREFIX),
                                        consistent_read=True)
        if sub.status in LIVE_STATUSES
    ]


def _held_balances(agency_id: str, subaccount_id: str) -> dict[str, BalanceView]:
    """The ``held:`` rows of the sub-account per minute asset (strongly consistent)."""
    account = held(subaccount_id)
    return read_many_balances(agency_id, [account], MINUTE_ASSETS)[account]


def _release_overflow(holds: list[CallHold]) -> list[CallHold]:
    """Holds beyond what fits the removal's transaction are released first, one
    transaction each (their seconds are back in the wallet when the removal reads it)."""
    from chalicelib.services.usage import release_hold

    for hold in holds[MAX_HOLDS_IN_REMOVAL:]:
        try:
            release_hold(hold, utcnow(), f"hold of call {hold.call_id} released for removal")
        except DomainError:
            pass  # settled or released meanwhile: the held balance check below sees it
    return holds[:MAX_HOLDS_IN_REMOVAL]


def _received(seconds: int, source: Subaccount, destination: Subaccount, tier: str) -> int:
    """The move rule (SPEC): never more seconds arrive than leave."""
    return (move_received_seconds(seconds, source.price(tier), destination.price(tier))
            if seconds else 0)


def removal_preview(principal: Principal, subaccount_id: str) -> dict[str, Any]:
    """Step one: what the sub-account holds and where its minutes may go.

    Each eligible destination also says how many seconds it would receive (the move rule
    at today's prices).
    """
    sub = load_subaccount(principal, subaccount_id, Action.MANAGE_SUBACCOUNT)
    if sub.is_primary:
        raise primary_protected()
    balances = read_balances(sub.agency_id, wallet(sub.subaccount_id))
    held_rows = _held_balances(sub.agency_id, sub.subaccount_id)
    # held seconds of calls in progress move with the rest (removal releases the holds)
    basic = (_balance(balances, Asset.BASIC_MINUTES).balance
             + held_rows[Asset.BASIC_MINUTES].balance)
    premium = (_balance(balances, Asset.PREMIUM_MINUTES).balance
               + held_rows[Asset.PREMIUM_MINUTES].balance)
    resources = all_resources(sub.agency_id, sub.subaccount_id, types=("phone_number",
                                                                        "automation"))
    destinations = []
    for other in _live_subaccounts(sub.agency_id):
        if other.subaccount_id == sub.subaccount_id:
            continue
        destinations.append({
            "id": other.subaccount_id,
            "name": other.name,
            "is_primary": bool(other.is_primary),
            "status": other.status,
            "would_receive": {
                "basic_seconds": _received(basic, sub, other, "basic"),
                "premium_seconds": _received(premium, sub, other, "premium"),
            },
        })
    destinations.sort(key=lambda d: (not d["is_primary"], d["name"]))
    return {
        "subaccount_id": sub.subaccount_id,
        "basic_minutes": render_minutes(basic),
        "premium_minutes": render_minutes(premium),
        "basic_seconds": basic,
        "premium_seconds": premium,
        "held_seconds": {"basic": held_rows[Asset.BASIC_MINUTES].balance,
                         "premium": held_rows[Asset.PREMIUM_MINUTES].balance},
        "kp_credits": _balance(balances, Asset.KP_CREDITS).balance,
        "phone_numbers": [render_resource(r) for r in resources if r.type == "phone_number"],
        "automations": [render_resource(r) for r in resources if r.type == "automation"],
        "eligible_destinations": destinations,
    }


def _removal_ops(item: Resource) -> list[Op]:
    """What removal does to one resource: its stop op, and a number's claim given back."""
    stop = _stop_op(item)
    if stop is None:
        return []
    if item.type == "phone_number" and item.number:
        return [stop, release_claim_op(item.agency_id, item.subaccount_id, item.number)]
    return [stop]


def _stop_op(item: Resource) -> Op | None:
    """What removal does to one resource: release numbers, stop everything that runs."""
    if item.type == "phone_number":
        return None if item.status == RELEASED else status_op(item, RELEASED,
                                                              expected=item.status)
    kind = BY_TYPE.get(item.type)
    if kind is None or kind.stopped is None or item.status == kind.stopped:
        return None
    return status_op(item, kind.stopped, expected=item.status)


def _login_release_ops(sub: Subaccount, now: datetime) -> list[Op]:
    """Free the login email; end the login user (tokens die) or revoke its invitation."""
    holder = login_holder(sub)
    if holder is None:
        return []
    ops = [_release_claim_op(sub, holder)]
    owner = holder.owner
    if isinstance(owner, User) and owner.status == "active":
        ops.append(update(owner, actions=[User.status.set("removed"),
                                          User.token_generation.add(1)],
                          condition=(User.status == "active") & (User.email == owner.email),
                          error=_changed()))
    elif isinstance(owner, Invitation) and owner.status == "pending":
        ops += [
            update(owner, actions=[Invitation.status.set("revoked"),
                                   Invitation.revoked_at.set(now)],
                   condition=(Invitation.status == "pending")
                   & (Invitation.token_hash == owner.token_hash),
                   error=_changed()),
            delete(InvitationToken(*InvitationToken.key(owner.token_hash))),
        ]
    return ops


@dataclass(frozen=True)
class Removal:
    """What a removal moved."""

    subaccount_id: str
    destination_id: str
    basic_seconds_sent: int
    basic_seconds_received: int
    premium_seconds_sent: int
    premium_seconds_received: int
    kp_credits: int
    transaction_id: str | None


def _unchanged_guard(agency_id: str, account: str, asset: str, version: int) -> Op:
    """A balance row the removal does not write must keep the version it read."""
    condition = (LedgerBalance.version == version) if version else (
        LedgerBalance.version.does_not_exist() | (LedgerBalance.version == 0))
    return check(balance_key(agency_id, account, asset), condition, _changed())


def _destination(agency_id: str, sub: Subaccount, destination_id: str) -> Subaccount:
    invalid = ValidationFailed("minutes_destination_id must be another live sub-account of "
                               "the agency", code="invalid_destination",
                               details={"field": "minutes_destination_id"})
    if destination_id == sub.subaccount_id:
        raise invalid
    try:
        return get_subaccount(agency_id, destination_id)
    except NotFound:
        raise invalid from None


def remove_subaccount(principal: Principal, subaccount_id: str,
                      destination_id: str) -> Removal:
    """Step two: move everything out, stop everything, free the slot. One ledger transaction.

    Basic and Premium seconds go to the destination by the move rule (received = min(sent,
    floor(sent × price(src) / price(dest))); the difference is posted to the agency's
    conversion account, so nothing is created or lost); KP credits go 1:1 to the
    primary. Every open call hold is released in the same transaction, so held seconds move
    too; the ``held:`` rows must hold exactly what the holds found release (GSI1 may lag)
    and keep the versions read. The debits of the source wallet require the balance versions
    read just before, so a concurrent usage debit, hold or purchase makes the transaction
    fail and re-read (up to 3 times, then 409) rather than leave dust. The ledger
    transaction id is ``removal:<sid>``: it can be posted once only. A removed sub-account
    answers 404 afterwards; the ledger history stays.
    """
    from chalicelib.services.usage import HoldChanged, close_hold_op

    for attempt in range(MAX_ATTEMPTS):
        sub = load_subaccount(principal, subaccount_id, Action.MANAGE_SUBACCOUNT)
        if sub.is_primary:
            raise primary_protected()
        if sub.pending_purchase_ids:
            # A charge in flight would credit a removed wallet: finish it first.
            raise Conflict("a purchase for this sub-account is still being charged; retry "
                           "in a moment", code="purchase_in_progress")
        agency_id = sub.agency_id
        destination = _destination(agency_id, sub, destination_id)
        primary_id = get_agency(agency_id).primary_subaccount_id
        source_wallet, source_held = wallet(sub.subaccount_id), held(sub.subaccount_id)
        holds = _release_overflow(open_holds_of(agency_id, sub.subaccount_id))
        balances = read_balances(agency_id, source_wallet)
        held_rows = _held_balances(agency_id, sub.subaccount_id)
        held_by_asset = {asset: sum(h.seconds for h in holds if asset_of_tier(h.tier) == asset)
                         for asset in MINUTE_ASSETS}
        if any(held_rows[asset].balance != held_by_asset[asset] for asset in MINUTE_ASSETS):
            # a hold placed or closed a moment ago is not in GSI1 yet: read again shortly
            time.sleep(0.1 * (attempt + 1))
            continue
        resources = all_resources(agency_id, sub.subaccount_id)
        now = utcnow()

        postings: list[Posting] = []
        moved: dict[str, int] = {}
        expected_versions: dict[tuple[str, str], int] = {}
        zero_guards: list[Op] = []
        for tier in TIERS:
            asset = asset_of_tier(tier)
            row, held_row = _balance(balances, asset), held_rows[asset]
            sent = row.balance + held_row.balance
            received = _received(sent, sub, destination, tier)
            moved[f"{tier}_seconds_sent"], moved[f"{tier}_seconds_received"] = sent, received
            if held_row.balance:  # the holds go back to the wallet, then out with the rest
                postings += [Posting(source_held, asset, -held_row.balance),
                             Posting(source_wallet, asset, held_row.balance)]
                expected_versions[(source_held, str(asset))] = held_row.version
            else:
                zero_guards.append(_unchanged_guard(agency_id, source_held, asset,
                                                    held_row.version))
            if sent:
                postings += [Posting(source_wallet, asset, -sent),
                             Posting(wallet(destination.subaccount_id), asset, received)]
                if sent != received:
                    postings.append(Posting(CONVERSION, asset, sent - received))
        kp = _balance(balances, Asset.KP_CREDITS).balance
        moved["kp_credits"] = kp
        if kp:
            postings += [Posting(source_wallet, Asset.KP_CREDITS, -kp),
                         Posting(wallet(primary_id), Asset.KP_CREDITS, kp)]
        for asset in (Asset.BASIC_MINUTES, Asset.PREMIUM_MINUTES, Asset.KP_CREDITS):
            row = _balance(balances, asset)
            if row.balance:
                expected_versions[(source_wallet, str(asset))] = row.version
            else:
                # Nothing to move: still require that nothing arrived since the read.
                zero_guards.append(_unchanged_guard(agency_id, source_wallet, asset,
                                                    row.version))
        zero_guards += [close_hold_op(hold, "released") for hold in holds]

        head: list[Op] = [
            update(subaccount_key(agency_id, sub.subaccount_id),
                   actions=[Subaccount.status.set("removed"), Subaccount.removed_at.set(now)],
                   condition=Subaccount.status.is_in(*LIVE_STATUSES)
                   & (Subaccount.price_version == sub.price_version)
                   & Subaccount.pending_purchase_ids.does_not_exist()
                   & generation_condition(sub),
                   error=_changed()),
            check(subaccount_key(agency_id, destination.subaccount_id),
                  Subaccount.status.is_in(*LIVE_STATUSES)
                  & (Subaccount.price_version == destination.price_version),
                  _changed()),
            update(SlotCounter(keys.agency_pk(agency_id), keys.SLOTS_SK),
                   actions=[SlotCounter.used.add(-1)], condition=SlotCounter.used >= 1,
                   error=Conflict("the plan slot counter is inconsistent",
                                  code="slot_counter_inconsistent")),
            *zero_guards,
            *_login_release_ops(sub, now),
            audit_op(agency_id, principal.user_id, "subaccount.removed",
                     subaccount_id=sub.subaccount_id, target=sub.subaccount_id,
                     before={**_summary(sub), "status": sub.status,
                             "basic_seconds": moved["basic_seconds_sent"],
                             "premium_seconds": moved["premium_seconds_sent"],
                             "kp_credits": kp},
                     after={"status": "removed", "minutes_destination_id":
                            destination.subaccount_id, "moved": moved},
                     at=now),
        ]
        out_seconds = moved["basic_seconds_sent"] + moved["premium_seconds_sent"]
        in_seconds = moved["basic_seconds_received"] + moved["premium_seconds_received"]
        if out_seconds:
            head.append(stats_op(agency_id, sub.subaccount_id, now, principal.timezone,
                                 moved_out_seconds=out_seconds))
            head.append(stats_op(agency_id, destination.subaccount_id, now, principal.timezone,
                                 moved_in_seconds=in_seconds))
        resource_ops = [op for item in resources for op in _removal_ops(item)]
        transaction_id = f"removal:{sub.subaccount_id}"
        tx = None
        if postings:
            tx = LedgerTransaction(
                agency_id=agency_id, transaction_id=transaction_id, code=Code.REMOVAL,
                postings=tuple(postings), subaccount_id=sub.subaccount_id,
                memo=f"removal of sub-account {sub.name}",
                metadata={"destination_id": destination.subaccount_id,
                          "kp_destination_id": primary_id, **moved},
            )
        try:
            _commit_with_resources(head, resource_ops, tx, expected_versions)
        except (_ChangedMeanwhile, HoldChanged):
            continue
        except AlreadyPosted:
            raise NotFound("subaccount not found") from None
        return Removal(sub.subaccount_id, destination.subaccount_id,
                       moved["basic_seconds_sent"], moved["basic_seconds_received"],
                       moved["premium_seconds_sent"], moved["premium_seconds_received"],
                       kp, transaction_id if tx else None)
    raise Conflict("the sub-account's balances kept changing; try again",
                   code="concurrent_update")

"""Removing a sub-account, in two steps: the preview, then the removal itself.

Removal is one ledger transaction (``removal:<sid>``, posted once only) that moves every
second and credit out with version-guarded debits, so a concurrent usage debit or purchase
makes it re-read and try again instead of leaving dust on a removed wallet. It also requires
the sub-account's ``resource_generation`` to be the one it read with its resources, so it
acts on exactly the resources it saw.

DynamoDB transactions hold at most 100 items. Removal puts as many resource updates as fit
into its main transaction; the rest follow right after in chunks of 100 (see
``_commit_follow_ups``). The status flips in the main transaction, so the 404 after removal
holds from that moment whatever happens to the chunks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.errors import Conflict, DomainError, NotFound, ValidationFailed
from chalicelib.domain.ledger import (
    CONVERSION,
    MINUTE_ASSETS,
    Asset,
    Code,
    LedgerTransaction,
    Posting,
    held,
    wallet,
)
from chalicelib.domain.money import move_received_seconds
from chalicelib.domain.plans import TIERS, asset_of_tier
from chalicelib.domain.resources import stop_status
from chalicelib.domain.roles import Action, Principal
from chalicelib.observability import logger
from chalicelib.services.access import get_agency, get_subaccount, load_subaccount
from chalicelib.services.audit import audit_op
from chalicelib.services.ports import now
from chalicelib.services.subaccounts import audit_summary, login_release_ops, primary_protected
from chalicelib.services.usage import HoldChanged, close_hold_op, release_hold
from chalicelib.store import resources, subaccounts
from chalicelib.store.ledger import (
    AlreadyPosted,
    BalanceView,
    post_transaction,
    read_balances,
    read_many_balances,
)
from chalicelib.store.movements import CallHold, open_holds_of
from chalicelib.store.removals import balance_unchanged
from chalicelib.store.resources import Resource
from chalicelib.store.stats import stats_op
from chalicelib.store.subaccounts import Subaccount, SubaccountChanged
from chalicelib.store.transact import Op, commit

MAX_TRANSACTION_ITEMS = 100
MAX_ATTEMPTS = 3
#: Open call holds released inside the removal's own transaction (each is one item of it);
#: more are released just before, one transaction each.
MAX_HOLDS_IN_REMOVAL = 25


def _balance(balances: dict[str, BalanceView], asset: str) -> BalanceView:
    return balances.get(asset) or BalanceView("", asset, 0, 0)


def _held_balances(agency_id: str, subaccount_id: str) -> dict[str, BalanceView]:
    """The ``held:`` rows of the sub-account per minute asset (strongly consistent)."""
    account = held(subaccount_id)
    return read_many_balances(agency_id, [account], MINUTE_ASSETS)[account]


def _received(seconds: int, source: Subaccount, destination: Subaccount, tier: str) -> int:
    """The move rule (SPEC): never more seconds arrive than leave."""
    return (move_received_seconds(seconds, source.price(tier), destination.price(tier))
            if seconds else 0)


# --------------------------------------------------------------------------- the preview


@dataclass(frozen=True)
class Destination:
    """A sub-account that may receive the minutes, and what it would receive today."""

    sub: Subaccount
    basic_seconds: int
    premium_seconds: int


@dataclass(frozen=True)
class RemovalPreview:
    """What a sub-account holds (held seconds of calls in progress included) and where its
    minutes may go (the primary first, then by name)."""

    sub: Subaccount
    basic_seconds: int
    premium_seconds: int
    held_basic_seconds: int
    held_premium_seconds: int
    kp_credits: int
    phone_numbers: list[Resource]
    automations: list[Resource]
    destinations: list[Destination]


def removal_preview(principal: Principal, subaccount_id: str) -> RemovalPreview:
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
    items = resources.all_resources(sub.agency_id, sub.subaccount_id,
                                    types=("phone_number", "automation"))
    destinations = [
        Destination(other, _received(basic, sub, other, "basic"),
                    _received(premium, sub, other, "premium"))
        for other in subaccounts.live_of(sub.agency_id)
        if other.subaccount_id != sub.subaccount_id
    ]
    destinations.sort(key=lambda d: (not d.sub.is_primary, d.sub.name))
    return RemovalPreview(
        sub=sub, basic_seconds=basic, premium_seconds=premium,
        held_basic_seconds=held_rows[Asset.BASIC_MINUTES].balance,
        held_premium_seconds=held_rows[Asset.PREMIUM_MINUTES].balance,
        kp_credits=_balance(balances, Asset.KP_CREDITS).balance,
        phone_numbers=[item for item in items if item.type == "phone_number"],
        automations=[item for item in items if item.type == "automation"],
        destinations=destinations,
    )


# --------------------------------------------------------------------------- the removal


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


def _release_overflow(holds: list[CallHold]) -> list[CallHold]:
    """Holds beyond what fits the removal's transaction are released first, one
    transaction each (their seconds are back in the wallet when the removal reads it)."""
    for hold in holds[MAX_HOLDS_IN_REMOVAL:]:
        try:
            release_hold(hold, now(), f"hold of call {hold.call_id} released for removal")
        except DomainError:
            pass  # settled or released meanwhile: the held balance check below sees it
    return holds[:MAX_HOLDS_IN_REMOVAL]


def _removal_ops(item: Resource, at: datetime) -> list[Op]:
    """What removal does to one resource: release numbers (their claim given back), stop
    everything that runs."""
    status = stop_status(item.type, item.status)
    if status is None:
        return []
    stop = resources.stop_op(item, status, at=at)
    if item.type == "phone_number" and item.number:
        return [stop, resources.release_number_op(item.agency_id, item.subaccount_id,
                                                  item.number)]
    return [stop]


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


def _commit_follow_ups(ops: list[Op], subaccount_id: str) -> None:
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
                    logger.warning("removal skipped a resource that changed meanwhile",
                                   extra={"subaccount_id": subaccount_id})


def _commit_with_resources(head: list[Op], resource_ops: list[Op], subaccount_id: str,
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
                         stale_error=SubaccountChanged())
    else:
        commit([*head, *main])
    _commit_follow_ups(rest, subaccount_id)


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
        items = resources.all_resources(agency_id, sub.subaccount_id)
        at = now()

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
                zero_guards.append(balance_unchanged(agency_id, source_held, asset,
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
                zero_guards.append(balance_unchanged(agency_id, source_wallet, asset,
                                                     row.version))
        zero_guards += [close_hold_op(hold, "released") for hold in holds]

        head: list[Op] = [
            subaccounts.remove_op(sub, at=at),
            subaccounts.destination_check(destination),
            subaccounts.free_slot_op(agency_id),
            *zero_guards,
            *login_release_ops(sub, at),
            audit_op(agency_id, principal.user_id, "subaccount.removed",
                     subaccount_id=sub.subaccount_id, target=sub.subaccount_id,
                     before={**audit_summary(sub), "status": sub.status,
                             "basic_seconds": moved["basic_seconds_sent"],
                             "premium_seconds": moved["premium_seconds_sent"],
                             "kp_credits": kp},
                     after={"status": "removed", "minutes_destination_id":
                            destination.subaccount_id, "moved": moved},
                     at=at),
        ]
        out_seconds = moved["basic_seconds_sent"] + moved["premium_seconds_sent"]
        in_seconds = moved["basic_seconds_received"] + moved["premium_seconds_received"]
        if out_seconds:
            head.append(stats_op(agency_id, sub.subaccount_id, at, principal.timezone,
                                 moved_out_seconds=out_seconds))
            head.append(stats_op(agency_id, destination.subaccount_id, at, principal.timezone,
                                 moved_in_seconds=in_seconds))
        resource_ops = [op for item in items for op in _removal_ops(item, at)]
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
            _commit_with_resources(head, resource_ops, sub.subaccount_id, tx,
                                   expected_versions)
        except (SubaccountChanged, HoldChanged):
            continue
        except AlreadyPosted:
            raise NotFound("subaccount not found") from None
        return Removal(sub.subaccount_id, destination.subaccount_id,
                       moved["basic_seconds_sent"], moved["basic_seconds_received"],
                       moved["premium_seconds_sent"], moved["premium_seconds_received"],
                       kp, transaction_id if tx else None)
    raise Conflict("the sub-account's balances kept changing; try again",
                   code="concurrent_update")

"""Payout rules and the Connect status of an agency, derived from Stripe's account object.

Pure: no I/O. The services feed it what they read (a Stripe ``account`` dict, a profit balance
in micro-dollars) and act on its answers.

- An agency is paid on its billing cycle date when its available profit is at least
  USD 100 and its Connect account has payouts enabled; the whole available profit is paid,
  in whole cents (Stripe moves cents; a sub-cent remainder carries over).
- A negative profit (a refund or dispute after a payout: a clawback) pays nothing until new
  profit brings the balance back to the threshold; the next payout is then net of it.
- A refused transfer returns its amount to the profit and is tried again by the next daily
  sweep, at most ``MAX_TRANSFER_RETRIES`` times per cycle (each attempt its own payout id,
  Stripe idempotency key and ledger transaction); after that, or when the next cycle date
  comes first, the amount waits for the next cycle date, which pays the whole profit.
- The Connect status is re-derived from every ``account.updated``, never set once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import Conflict
from chalicelib.domain.money import MICROS_PER_CENT

#: USD 100 in micro-dollars: the least profit that is paid out (seed doc "USD$100").
PAYOUT_THRESHOLD_MICROS = 100_000_000
#: Daily retries of a refused transfer within one cycle, after the cycle's first attempt.
MAX_TRANSFER_RETRIES = 3


class ConnectNotConnected(Conflict):
    """The action needs a connected Stripe account (e.g. the Express dashboard link)."""

    code = "connect_not_connected"


class ConnectAlreadyStarted(Conflict):
    """Internal: a concurrent onboarding created the Connect item first."""

    code = "connect_already_started"


class StaleConnectEvent(Conflict):
    """A newer ``account.updated`` was applied first (Stripe's retry of this one is a no-op)."""

    code = "stale_event"


class PayoutScheduleMissing(Conflict):
    """A Connect change found no payout schedule to copy itself onto."""

    code = "payout_schedule_missing"


class PayoutAlreadyExists(Conflict):
    """This cycle's payout was written before (a rerun, or a concurrent sweep)."""

    code = "payout_already_exists"


class ScheduleMoved(Conflict):
    """Another sweep processed this cycle first."""

    code = "payout_schedule_moved"


class ProfitChanged(Conflict):
    """The profit fell below the amount read (a refund landed mid-sweep); retried next run."""

    code = "profit_changed"


class PayoutStateChanged(Conflict):
    """The payout is no longer in the state this update expects (already settled)."""

    code = "payout_state_changed"


class ConnectStatus(StrEnum):
    """The agency's Stripe Connect status as the dashboard shows it."""

    NOT_CONNECTED = "not_connected"
    INITIATING = "initiating"
    CONNECTED = "connected"
    RESTRICTED = "restricted"


class PayoutStatus(StrEnum):
    """A payout's life: sent to the connected account, then paid to its bank (or failed)."""

    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"


class FailureStage(StrEnum):
    """Where a failed payout failed (SPEC "Payouts": the two ways tell apart)."""

    TRANSFER = "transfer"  # platform → connected account: the amount returns to the profit
    BANK = "bank"  # connected account → bank: the money sits in the agency's Stripe balance


class SkipReason(StrEnum):
    """Why a due agency is not paid this cycle (its profit carries over)."""

    NOT_CONNECTED = "not_connected"
    PAYOUTS_DISABLED = "payouts_disabled"
    BELOW_THRESHOLD = "below_threshold"


#: Stripe ``disabled_reason`` values that end an account for good, whatever else it says.
_TERMINAL_REASON_PREFIXES = ("rejected.", "listed", "platform_paused")
#: Requirements that mean the bank account (external account) is missing or broken.
BANK_REQUIREMENT = "external_account"


@dataclass(frozen=True)
class ConnectState:
    """What we keep of a Stripe account: ids, flags, requirements. Never banking data."""

    status: ConnectStatus
    details_submitted: bool = False
    payouts_enabled: bool = False
    requirements_due: tuple[str, ...] = ()
    disabled_reason: str | None = None
    bank_account_working: bool = False


def _requirements_due(account: Mapping[str, Any]) -> tuple[str, ...]:
    requirements = account.get("requirements") or {}
    due: list[str] = []
    for bucket in ("past_due", "currently_due"):
        for name in requirements.get(bucket) or []:
            if isinstance(name, str) and name not in due:
                due.append(name)
    return tuple(sorted(due))


def _bank_account_working(account: Mapping[str, Any], due: tuple[str, ...]) -> bool:
    """Payouts enabled, no bank requirement, and no bank account Stripe marked ``errored``."""
    if not account.get("payouts_enabled") or BANK_REQUIREMENT in due:
        return False
    external = account.get("external_accounts") or {}
    banks = external.get("data") if isinstance(external, Mapping) else None
    if not banks:
        # Stripe omits the list unless expanded; payouts enabled without a bank requirement
        # is then the best evidence of a working bank account.
        return True
    return any(isinstance(bank, Mapping) and bank.get("status") != "errored" for bank in banks)


def derive_connect_state(account: Mapping[str, Any] | None) -> ConnectState:
    """The Connect status of a Stripe ``account`` object (``None``: no account yet).

    - ``restricted``: Stripe disabled the account for good (rejected, listed, paused), or
      onboarding was submitted but payouts are not (or no longer) enabled;
    - ``initiating``: an account exists but its details are not submitted yet;
    - ``connected``: details submitted and payouts enabled (requirements may still be
      "eventually due" without stopping payouts).
    """
    if account is None:
        return ConnectState(ConnectStatus.NOT_CONNECTED)
    requirements = account.get("requirements") or {}
    disabled_reason = requirements.get("disabled_reason") or None
    details_submitted = bool(account.get("details_submitted"))
    payouts_enabled = bool(account.get("payouts_enabled"))
    due = _requirements_due(account)
    terminal = bool(disabled_reason) and str(disabled_reason).startswith(
        _TERMINAL_REASON_PREFIXES)
    if terminal:
        status = ConnectStatus.RESTRICTED
    elif not details_submitted:
        status = ConnectStatus.INITIATING
    elif payouts_enabled:
        status = ConnectStatus.CONNECTED
    else:
        status = ConnectStatus.RESTRICTED
    return ConnectState(
        status=status,
        details_submitted=details_submitted,
        payouts_enabled=payouts_enabled,
        requirements_due=due,
        disabled_reason=disabled_reason,
        bank_account_working=_bank_account_working(account, due),
    )


def payout_amount_micros(available_micros: int) -> int:
    """What a payout would send: the whole available profit, down to whole cents."""
    if available_micros <= 0:
        return 0
    return available_micros - available_micros % MICROS_PER_CENT


@dataclass(frozen=True)
class PayoutDecision:
    """The sweep's answer for one due agency."""

    pay: bool
    amount_micros: int = 0
    skip_reason: SkipReason | None = None


def decide_payout(available_micros: int, *, connected: bool,
                  payouts_enabled: bool) -> PayoutDecision:
    """Pay the whole available profit when it reaches the threshold and payouts are enabled.

    A clawback (negative balance) or a balance under USD 100 carries over to the next cycle.
    """
    if not connected:
        return PayoutDecision(False, skip_reason=SkipReason.NOT_CONNECTED)
    if not payouts_enabled:
        return PayoutDecision(False, skip_reason=SkipReason.PAYOUTS_DISABLED)
    amount = payout_amount_micros(available_micros)
    if amount < PAYOUT_THRESHOLD_MICROS:
        return PayoutDecision(False, skip_reason=SkipReason.BELOW_THRESHOLD)
    return PayoutDecision(True, amount_micros=amount)


def payout_id(agency_id: str, cycle_date_iso: str, attempt: int = 1) -> str:
    """One transfer attempt of an agency's cycle payout: deterministic, so it is Stripe's
    idempotency key. The first attempt is ``pyt_<aid>_<yyyymmdd>``, a retry adds ``_<n>``
    (a new key: Stripe would replay the refusal under the old one)."""
    base = f"pyt_{agency_id}_{cycle_date_iso.replace('-', '')}"
    return base if attempt <= 1 else f"{base}_{attempt}"


def payout_transaction_id(agency_id: str, cycle_date_iso: str, attempt: int = 1) -> str:
    """Ledger id of a payout attempt (profit → in flight): one per agency, cycle and attempt."""
    base = f"payout:{agency_id}:{cycle_date_iso}"
    return base if attempt <= 1 else f"{base}:{attempt}"


def transfer_attempt(metadata: Mapping[str, Any]) -> int | None:
    """The transfer attempt a Stripe transfer's metadata names (1 when absent: transfers sent
    before retries existed); None when it is not a positive integer."""
    raw = metadata.get("attempt") or "1"
    if not isinstance(raw, str) or not raw.isdigit() or int(raw) < 1:
        return None
    return int(raw)


def transfer_retry_date(attempt: int, failed_on: date, next_cycle: date) -> date | None:
    """When the sweep tries a refused transfer again: the next day, while the cycle has
    retries left (``attempt`` is the one that failed; the first is 1) and the next cycle date
    is still ahead. None: the amount waits for the next cycle date."""
    if attempt > MAX_TRANSFER_RETRIES:
        return None
    retry_on = failed_on + timedelta(days=1)
    return retry_on if retry_on < next_cycle else None


def reversal_transaction_id(payout: str) -> str:
    """Ledger id of a failed transfer's reversal (in flight → profit)."""
    return f"payout-reversal:{payout}"


def settled_transaction_id(payout: str) -> str:
    """Ledger id that moves a payout from in flight to paid out (paid, or bank-failed)."""
    return f"payout-settled:{payout}"

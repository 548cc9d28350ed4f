"""Where the quote, move, call and hold models lived before their repositories (issue 19):
the names other areas import, until they use ``store.quotes``, ``store.transfers``,
``store.calls`` and ``store.holds`` themselves."""

from __future__ import annotations

from chalicelib.store.accounts import Subaccount
from chalicelib.store.calls import CallRecord, get_many
from chalicelib.store.holds import CallHold, open_of
from chalicelib.store.holds import get as get_hold
from chalicelib.store.quotes import TransferQuote
from chalicelib.store.subaccount_guards import named
from chalicelib.store.transfers import MoveRecord

__all__ = ["CallHold", "CallRecord", "MoveRecord", "TransferQuote", "get_call_hold",
           "get_call_record", "open_holds_of", "subaccount_named_by_usage"]

open_holds_of = open_of


def get_call_record(call_id: str) -> CallRecord | None:
    """The recorded call of a call id (strongly consistent), or None."""
    return get_many([call_id]).get(call_id)


def get_call_hold(call_id: str) -> CallHold | None:
    """The hold placed under a call id (strongly consistent), or None."""
    return get_hold(call_id)


def subaccount_named_by_usage(subaccount_id: str) -> Subaccount | None:
    """The sub-account a usage record names, removed ones included, or None."""
    return named([subaccount_id]).get(subaccount_id)

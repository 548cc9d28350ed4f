"""Where the quote, move, call and hold models lived before their repositories (issue 19):
the names other areas import, until they use ``store.quotes``, ``store.transfers``,
``store.calls`` and ``store.holds`` themselves."""

from __future__ import annotations

from chalicelib.store.calls import CallRecord
from chalicelib.store.holds import CallHold, open_of
from chalicelib.store.quotes import TransferQuote
from chalicelib.store.transfers import MoveRecord

__all__ = ["CallHold", "CallRecord", "MoveRecord", "TransferQuote", "open_holds_of"]

open_holds_of = open_of

"""Counting round trips: DynamoDB calls (by API name, with items read) and Stripe requests.

Both counters wrap the real clients' transport entry points (botocore's ``_make_api_call``,
stripe-python's retrying HTTP layer); nothing is mocked. Outside a ``recording()`` block the
wrappers only pass calls through.
"""

from __future__ import annotations

import collections
import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: DynamoDB APIs that read items (Scan included: it must never appear on a request path).
READ_APIS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITE_APIS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                        "TransactWriteItems"})
#: A Stripe object id in a path (``pi_3Nx…``, ``acct_1…``), not a resource name
#: (``payment_intents``): ids carry a digit or a capital after their prefix.
_STRIPE_ID = re.compile(r"/[a-z]+_(?=[A-Za-z0-9]*[A-Z0-9])[A-Za-z0-9]{4,}(?=/|$)")


@dataclass
class Recording:
    """What one measured block did."""

    dynamodb: collections.Counter[str] = field(default_factory=collections.Counter)
    items_read: int = 0
    items_by_api: collections.Counter[str] = field(default_factory=collections.Counter)
    stripe: collections.Counter[str] = field(default_factory=collections.Counter)
    #: Only calls made by this thread count: the live app server that receives the Stripe
    #: emulator's webhooks runs in another thread of the same process.
    thread: int = field(default_factory=threading.get_ident)

    def owns_current_thread(self) -> bool:
        """Whether the running thread is the one being measured."""
        return threading.get_ident() == self.thread

    @property
    def dynamodb_total(self) -> int:
        """All DynamoDB calls."""
        return sum(self.dynamodb.values())

    @property
    def reads(self) -> int:
        """Read calls (GetItem, BatchGetItem, Query, Scan, TransactGetItems)."""
        return sum(n for api, n in self.dynamodb.items() if api in READ_APIS)

    @property
    def stripe_total(self) -> int:
        """All Stripe requests."""
        return sum(self.stripe.values())


_active: Recording | None = None
_installed = False


def _items_in(operation: str, response: Any) -> int:
    """How many items a read returned or evaluated (what DynamoDB bills as read)."""
    if not isinstance(response, dict):
        return 0
    if operation in ("Query", "Scan"):
        return int(response.get("ScannedCount", response.get("Count", 0)))
    if operation == "GetItem":
        return 1 if response.get("Item") else 0
    if operation == "BatchGetItem":
        return sum(len(items) for items in response.get("Responses", {}).values())
    if operation == "TransactGetItems":
        return sum(1 for r in response.get("Responses", []) if r.get("Item"))
    return 0


def stripe_label(method: str, url: str) -> str:
    """``POST /v1/payment_intents``: the API called, Stripe ids replaced by ``{id}``."""
    path = url.split("://", 1)[-1]
    path = "/" + path.split("/", 1)[1] if "/" in path else "/"
    path = path.split("?", 1)[0]
    return f"{method.upper()} {_STRIPE_ID.sub('/{id}', path)}"


def install() -> None:
    """Wrap botocore and stripe-python once (idempotent)."""
    global _installed
    if _installed:
        return
    from botocore.client import BaseClient

    original_call = BaseClient._make_api_call

    def counting_call(self: BaseClient, operation_name: str, api_params: dict) -> Any:
        response = original_call(self, operation_name, api_params)
        recording = _active
        if (recording is not None and recording.owns_current_thread()
                and self.meta.service_model.service_name == "dynamodb"):
            recording.dynamodb[operation_name] += 1
            items = _items_in(operation_name, response)
            recording.items_read += items
            recording.items_by_api[operation_name] += items
        return response

    BaseClient._make_api_call = counting_call  # type: ignore[method-assign]

    from stripe._http_client import HTTPClient

    original_request = HTTPClient._request_with_retries_internal

    def counting_request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        recording = _active
        if recording is not None and recording.owns_current_thread():
            recording.stripe[stripe_label(method, url)] += 1
        return original_request(self, method, url, *args, **kwargs)

    HTTPClient._request_with_retries_internal = counting_request  # type: ignore[method-assign]
    _installed = True


@contextlib.contextmanager
def recording() -> Iterator[Recording]:
    """Count every DynamoDB and Stripe call made inside the block."""
    global _active
    install()
    previous, _active = _active, Recording()
    try:
        yield _active
    finally:
        _active = previous

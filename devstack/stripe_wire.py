"""Stripe's wire format for the emulator: fixture-based objects, ids, errors, form bodies, lists.

Every object the Connect extension serves starts as a deep copy of Stripe's own example object
(``stripe_fixtures.json``, copied unchanged from Stripe's ``openapi/fixtures3.json``), so it
carries exactly Stripe's top-level fields with Stripe's JSON types; only the values we know
are overridden.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import time
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web
from localstripe.server import unflatten_data

FIXTURES_PATH = Path(__file__).with_name("stripe_fixtures.json")
_ID_ALPHABET = string.ascii_letters + string.digits

JsonObject = dict[str, Any]


@lru_cache(maxsize=1)
def _fixtures() -> dict[str, JsonObject]:
    return json.loads(FIXTURES_PATH.read_text())["resources"]


def fixture_kinds() -> list[str]:
    """The object kinds (``account``, ``transfer``, ...) the vendored fixture file holds."""
    return sorted(_fixtures())


def fixture(kind: str) -> JsonObject:
    """A fresh deep copy of Stripe's example object of ``kind`` (safe to mutate)."""
    return copy.deepcopy(_fixtures()[kind])


def new_object(kind: str, **overrides: Any) -> JsonObject:
    """Stripe's example ``kind`` object with ``overrides`` applied (top-level keys only)."""
    obj = fixture(kind)
    obj.update(overrides)
    return obj


def new_id(prefix: str, length: int = 24) -> str:
    """An id shaped like Stripe's: ``prefix`` + ``length`` random alphanumerics."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def now() -> int:
    """Unix time, the unit of every Stripe timestamp."""
    return int(time.time())


class StripeError(Exception):
    """An API error rendered as Stripe renders it: ``{"error": {type, code, message, ...}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        error_type: str = "invalid_request_error",
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        body: JsonObject = {"type": error_type, "message": message}
        if code:
            body["code"] = code
            body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            body["param"] = param
        body.update(extra)
        self.body = {"error": body}

    def response(self) -> web.Response:
        """The HTTP response Stripe would send for this error."""
        return json_response(self.body, status=self.status)


def not_found(kind: str, object_id: str, param: str = "id") -> StripeError:
    """Stripe's 404 for an unknown id (``resource_missing``)."""
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON response formatted like Stripe's (pretty-printed, UTF-8)."""
    return web.Response(
        body=(json.dumps(body, indent=2) + "\n").encode(),
        status=status,
        content_type="application/json",
    )


async def read_params(request: web.Request) -> JsonObject:
    """Request parameters as a nested dict: the query string plus a form (or JSON) body.

    Stripe's v1 API takes ``application/x-www-form-urlencoded`` bodies with bracketed keys
    (``metadata[k]=v``, ``expand[]=x``); localstripe's own parser turns them into nested dicts
    and lists exactly as it does for the requests it serves, so both halves agree.
    """
    params: JsonObject = unflatten_data(request.query) if request.query else {}
    if request.body_exists:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        else:
            form = await request.post()
            if form:
                params.update(unflatten_data(form))
    return params


def as_int(params: Mapping[str, Any], name: str, *, default: int | None = None) -> int:
    """An integer parameter, or a Stripe-style 400 naming it."""
    value = params.get(name)
    if value is None or value == "":
        if default is not None:
            return default
        raise StripeError(400, f"Missing required param: {name}.", code="parameter_missing",
                          param=name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError(400, f"Invalid integer: {value}", code="parameter_invalid_integer",
                          param=name) from None


def as_bool(value: Any) -> bool:
    """A form boolean (``"true"``/``"false"``) or a JSON one."""
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def merge_metadata(current: JsonObject, update: Any) -> JsonObject:
    """Stripe's metadata update: keys merge, an empty value deletes the key."""
    if update in (None, ""):
        return {} if update == "" else current
    if not isinstance(update, dict):
        raise StripeError(400, "Invalid metadata: must be a hash", param="metadata")
    merged = dict(current)
    for key, value in update.items():
        if value in ("", None):
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def list_response(
    items: Sequence[JsonObject],
    url: str,
    params: Mapping[str, Any],
    *,
    predicate: Callable[[JsonObject], bool] | None = None,
) -> JsonObject:
    """A Stripe list page (newest first) honouring ``limit`` and ``starting_after``."""
    rows = [item for item in items if predicate is None or predicate(item)]
    rows.sort(key=lambda item: item.get("created", 0), reverse=True)
    start = 0
    after = params.get("starting_after")
    if after:
        ids = [item["id"] for item in rows]
        start = ids.index(after) + 1 if after in ids else len(rows)
    limit = max(1, min(100, as_int(params, "limit", default=10)))
    page = rows[start:start + limit]
    return {"object": "list", "data": page, "has_more": start + limit < len(rows), "url": url}

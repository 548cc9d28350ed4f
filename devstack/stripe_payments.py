"""Payments on top of localstripe, corrected to behave like Stripe test mode.

What localstripe 1.15.10 does differently from Stripe, and what this module does about it
(each checked through the real ``stripe`` client, see ``tests/devstack``):

* Test payment methods: localstripe knows only ``pm_card_visa``,
  ``pm_card_visa_chargeDeclined`` and ``pm_card_chargeCustomerFail``; ``ALIASES`` maps the
  other Stripe names (``pm_card_chargeDeclined`` and friends) onto them, in paths, queries and
  form values, and remembers which decline code the original name stands for.
* Declines: localstripe answers 402 with ``type=invalid_request_error`` and no
  ``decline_code``; Stripe answers ``type=card_error, code=card_declined, decline_code=...``
  plus the PaymentIntent and PaymentMethod concerned. Rewritten here.
* PaymentIntents: localstripe rejects parameters it does not model (``description``,
  ``receipt_email``, ``setup_future_usage``, ``transfer_group``, ...), refuses ``off_session``
  on confirm, refuses re-confirming with a new payment method, and returns ``latest_charge``
  expanded. Creation with ``confirm=true`` is done here as create-then-confirm, the extra fields
  are stored on localstripe's object, and ``latest_charge`` is an id unless expanded.
* Refunds: localstripe refunds the same charge again and again and sends no events; here a
  refund beyond the charge is refused (``charge_already_refunded`` / ``amount_too_large``) and
  ``charge.refunded`` + ``refund.created`` are published.
* Payment methods: listing requires ``type`` in localstripe (optional in Stripe) and
  ``GET /v1/customers/{id}/payment_methods`` does not exist; detaching an unattached method
  succeeds and the customer's default is kept. All fixed here.
* Customers: ``invoice_settings[default_payment_method]`` is accepted without checking that the
  method is attached to that customer; Stripe refuses that, and so does this module.
* Charges: listing accepts one ``created[gt]`` bound at most in localstripe; here every
  ``created`` bound, ``customer`` and ``payment_intent`` filter as in Stripe.
* Disputes: localstripe has none. Served here: ``GET /v1/disputes[/{id}]`` and
  ``POST /v1/disputes/{id}/close`` as Stripe answers them, and, since Stripe test mode opens
  disputes only through special cards, two test helpers in the style of ``/v1/test_helpers``:
  ``POST /v1/test_helpers/charges/{id}/dispute`` (``amount``, ``reason``, ``status``) opens one
  and ``POST /v1/test_helpers/disputes/{id}/close`` (``status``) decides it. Each change
  publishes ``charge.dispute.created`` / ``.updated`` / ``.closed``.

Objects from localstripe also gain the top-level fields Stripe has and localstripe lacks, with
``null`` where Stripe's fixture has ``null`` and computed values otherwise (``normalize``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from aiohttp import web

from devstack.localstripe_bridge import LocalstripeBridge
from devstack.stripe_webhooks import EventBus
from devstack.stripe_wire import (
    JsonObject,
    StripeError,
    as_int,
    fixture,
    json_response,
    list_response,
    new_id,
    new_object,
    not_found,
    now,
    read_params,
)

GENERIC_DECLINE = ("card_declined", "generic_decline")

# Stripe test payment method -> (the localstripe one that behaves the same, decline codes).
ALIASES: dict[str, tuple[str, tuple[str, str] | None]] = {
    "pm_card_chargeDeclined": ("pm_card_visa_chargeDeclined", GENERIC_DECLINE),
    "pm_card_chargeDeclinedInsufficientFunds": ("pm_card_visa_chargeDeclined",
                                                ("card_declined", "insufficient_funds")),
    "pm_card_chargeDeclinedLostCard": ("pm_card_visa_chargeDeclined",
                                       ("card_declined", "lost_card")),
    "pm_card_chargeDeclinedStolenCard": ("pm_card_visa_chargeDeclined",
                                         ("card_declined", "stolen_card")),
    "pm_card_chargeDeclinedFraudulent": ("pm_card_visa_chargeDeclined",
                                         ("card_declined", "fraudulent")),
    "pm_card_visa_debit": ("pm_card_visa", None),
    "pm_card_mastercard": ("pm_card_visa", None),
    "pm_card_amex": ("pm_card_visa", None),
    "pm_card_discover": ("pm_card_visa", None),
}
LOCALSTRIPE_TEST_METHODS = {"pm_card_visa", "pm_card_visa_chargeDeclined",
                            "pm_card_chargeCustomerFail"}

DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card has been declined.",
    "stolen_card": "Your card has been declined.",
}

# PaymentIntent fields localstripe does not model: accepted, stored on its object, returned.
PI_EXTRA_FIELDS = (
    "description", "receipt_email", "statement_descriptor", "statement_descriptor_suffix",
    "setup_future_usage", "transfer_group", "on_behalf_of", "application_fee_amount",
    "transfer_data", "shipping", "automatic_payment_methods", "confirmation_method",
)
# Request-only PaymentIntent parameters (they steer confirmation, they are not fields).
PI_REQUEST_ONLY = ("off_session", "return_url", "error_on_requires_action", "mandate_data",
                   "use_stripe_sdk", "radar_options", "payment_method_options")
REFUND_EXTRA_FIELDS = ("reason", "instructions_email")
REFUND_REQUEST_ONLY = ("refund_application_fee", "reverse_transfer")
NORMALIZED_KINDS = ("payment_intent", "charge", "refund", "customer", "payment_method")
#: Dispute statuses: open ones, and the final ones after which a dispute never changes.
DISPUTE_OPEN = ("needs_response", "under_review", "warning_needs_response",
                "warning_under_review")
DISPUTE_FINAL = ("won", "lost", "warning_closed")
DISPUTE_EVIDENCE_DAYS = 7


def local_name(payment_method: str) -> str:
    """The localstripe name for a Stripe test payment method (unchanged if not an alias)."""
    return ALIASES[payment_method][0] if payment_method in ALIASES else payment_method


def encode_form(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding of nested params (``a[b]=1``, ``a[0]=x``)."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        key = f"{prefix}[{name}]" if prefix else str(name)
        if isinstance(value, dict):
            pairs += encode_form(value, key)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    pairs += encode_form(item, f"{key}[{index}]")
                else:
                    pairs.append((f"{key}[{index}]", _form_value(item)))
        else:
            pairs.append((key, _form_value(value)))
    return pairs


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def expand_of(params: Mapping[str, Any]) -> set[str]:
    """The ``expand[]`` paths of a request."""
    expand = params.get("expand") or []
    return {str(path) for path in (expand if isinstance(expand, list) else [expand])}


def rewrite_aliases_in_form(raw: bytes | str) -> str:
    """A form body or query string with every aliased payment method name mapped."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    pairs = parse_qsl(text, keep_blank_values=True)
    return urlencode([(key, local_name(value)) for key, value in pairs])


def rewrite_aliases_in_path(path: str) -> str:
    """A URL path with an aliased payment method id segment mapped."""
    return "/".join(quote(local_name(segment), safe="") if segment in ALIASES else segment
                    for segment in path.split("/"))


class PaymentsExtension:
    """Routes that fix localstripe's payments, and the normaliser for everything it returns."""

    def __init__(self, bridge: LocalstripeBridge, bus: EventBus) -> None:
        """``bridge`` reaches localstripe; ``bus`` publishes the events localstripe omits."""
        self.bridge = bridge
        self.bus = bus
        # payment method id -> (code, decline_code) it declines with (from its test name).
        self.declines: dict[str, tuple[str, str]] = {}
        self.disputes: dict[str, JsonObject] = {}

    def reset(self) -> None:
        """Forget remembered decline codes and disputes (``POST /_devstack/reset``)."""
        self.declines.clear()
        self.disputes.clear()

    def routes(self) -> list[web.RouteDef]:
        """The routes this module serves instead of plain forwarding."""
        return [
            web.post("/v1/payment_intents", self.create_payment_intent),
            web.post("/v1/payment_intents/{id}/confirm", self.confirm_payment_intent),
            web.post("/v1/refunds", self.create_refund),
            web.get("/v1/payment_intents", self.list_payment_intents),
            web.get("/v1/charges", self.list_charges),
            web.get("/v1/payment_methods", self.list_payment_methods),
            web.post("/v1/payment_methods/{id}/attach", self.attach_payment_method),
            web.post("/v1/payment_methods/{id}/detach", self.detach_payment_method),
            web.get("/v1/customers/{id}/payment_methods", self.list_customer_payment_methods),
            web.get("/v1/customers/{id}/payment_methods/{pm}",
                    self.retrieve_customer_payment_method),
            web.post("/v1/customers/{id}", self.update_customer),
            web.get("/v1/disputes", self.list_disputes),
            web.get("/v1/disputes/{id}", self.retrieve_dispute),
            web.post("/v1/disputes/{id}/close", self.close_dispute),
            web.post("/v1/test_helpers/charges/{id}/dispute", self.helper_dispute_charge),
            web.post("/v1/test_helpers/disputes/{id}/close", self.helper_close_dispute),
        ]

    # -- talking to localstripe --

    async def call(self, request: web.Request, method: str, path: str,
                   params: Mapping[str, Any] | None = None) -> tuple[int, JsonObject]:
        """One localstripe call with the caller's credentials; returns (status, JSON)."""
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() in ("authorization", "stripe-account", "stripe-version")}
        body = b""
        if params and method == "GET":
            path = f"{path}?{urlencode(encode_form(params))}"
        elif params:
            body = urlencode(encode_form(params)).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, _, raw = await self.bridge.forward(method, path, body, headers)
        return status, json.loads(raw or b"{}")

    async def relay(self, request: web.Request, path_qs: str | None = None) -> web.Response:
        """Forward ``request`` to localstripe unchanged except for payment method aliases, and
        return its answer in Stripe's shape."""
        body = await request.read()
        if body and request.content_type == "application/x-www-form-urlencoded":
            body = rewrite_aliases_in_form(body).encode()
        if path_qs is None:
            path_qs = rewrite_aliases_in_path(request.path)
            if request.query_string:
                path_qs += "?" + rewrite_aliases_in_form(request.query_string)
        status, content_type, raw = await self.bridge.forward(request.method, path_qs, body,
                                                              request.headers)
        if content_type != "application/json" or not raw:
            return web.Response(body=raw, status=status, content_type=content_type or None)
        params = await read_params(request)
        return self.respond(status, json.loads(raw), expand_of(params))

    def respond(self, status: int, body: JsonObject, expand: Iterable[str] = ()) -> web.Response:
        """A localstripe answer, normalised: objects completed, errors in Stripe's shape."""
        if status >= 400 and isinstance(body.get("error"), dict):
            error = body["error"]
            error.setdefault("type", "invalid_request_error")
            if status == 404:
                error.setdefault("code", "resource_missing")
            if status == 402:
                return self.card_error(error, GENERIC_DECLINE).response()
            return json_response(body, status)
        return json_response(self.normalize(body, set(expand)), status)

    async def concrete_payment_method(self, request: web.Request, name: Any) -> Any:
        """A test payment method name as a real ``pm_`` id (Stripe creates one per use and
        returns its id, localstripe would keep the name); other values pass through."""
        if not isinstance(name, str) or (name not in ALIASES
                                         and name not in LOCALSTRIPE_TEST_METHODS):
            return name
        status, body = await self.call(request, "GET", f"/v1/payment_methods/{local_name(name)}")
        if status != 200:
            raise StripeError(404, f"No such PaymentMethod: '{name}'", code="resource_missing",
                              param="payment_method")
        decline = ALIASES.get(name, (name, None))[1]
        if decline:
            self.declines[body["id"]] = decline
        return body["id"]

    # -- PaymentIntents --

    async def create_payment_intent(self, request: web.Request) -> web.Response:
        """``POST /v1/payment_intents``; with ``confirm=true`` it is create, then confirm."""
        params = await read_params(request)
        confirm = str(params.pop("confirm", "false")).lower() == "true"
        expand = expand_of(params)
        params.pop("expand", None)
        extras = {name: params.pop(name, None) for name in PI_EXTRA_FIELDS}
        extras["confirmation_method"] = extras["confirmation_method"] or "automatic"
        for name in PI_REQUEST_ONLY:
            params.pop(name, None)
        if "payment_method" in params:
            params["payment_method"] = await self.concrete_payment_method(
                request, params["payment_method"])
        status, body = await self.call(request, "POST", "/v1/payment_intents", params)
        if status != 200:
            return self.respond(status, body)
        intent = self.bridge.get("payment_intent", body["id"])
        for name, value in extras.items():
            setattr(intent, name, value)
        if confirm:
            return await self._confirm(request, body["id"], expand)
        return self.respond(200, intent._export(), expand)

    async def confirm_payment_intent(self, request: web.Request) -> web.Response:
        """``POST /v1/payment_intents/{id}/confirm`` (``payment_method`` and ``off_session``
        accepted; a declined intent can be confirmed again with another method)."""
        intent_id = request.match_info["id"]
        params = await read_params(request)
        intent = self.bridge.get("payment_intent", intent_id)
        if intent is None:
            raise StripeError(404, f"No such payment_intent: '{intent_id}'",
                              code="resource_missing", param="intent")
        if params.get("payment_method"):
            intent.payment_method = await self.concrete_payment_method(
                request, params["payment_method"])
            if intent.latest_charge is not None and intent.latest_charge.status == "failed":
                intent.latest_charge = None  # a new attempt, as Stripe allows after a decline
        return await self._confirm(request, intent_id, expand_of(params))

    async def _confirm(self, request: web.Request, intent_id: str,
                       expand: set[str]) -> web.Response:
        status, body = await self.call(request, "POST",
                                       f"/v1/payment_intents/{intent_id}/confirm")
        intent = self.bridge.get("payment_intent", intent_id)
        if status == 402:
            pm = self.bridge.get("payment_method", intent.payment_method)
            decline = self.declines.get(intent.payment_method, GENERIC_DECLINE)
            raise self.card_error(
                body.get("error", {}), decline,
                payment_intent=self.normalize(intent._export()),
                payment_method=self.normalize(pm._export()) if pm is not None else None)
        if status != 200:
            if status == 400 and intent is not None:
                raise StripeError(
                    400, f"You cannot confirm this PaymentIntent because it has a status of "
                         f"{intent.status}.", code="payment_intent_unexpected_state",
                    payment_intent=self.normalize(intent._export()))
            return self.respond(status, body)
        return self.respond(200, intent._export(), expand)

    def card_error(self, error: Mapping[str, Any], decline: tuple[str, str],
                   **attached: Any) -> StripeError:
        """Stripe's 402 for a declined card, built from localstripe's bare error."""
        code, decline_code = decline
        message = DECLINE_MESSAGES.get(decline_code, "Your card was declined.")
        extra = {key: value for key, value in attached.items() if value is not None}
        if error.get("charge"):
            extra["charge"] = error["charge"]
        return StripeError(402, message, code=code, error_type="card_error",
                           decline_code=decline_code, **extra)

    # -- refunds --

    async def create_refund(self, request: web.Request) -> web.Response:
        """``POST /v1/refunds``: refused beyond the charge; publishes ``charge.refunded``."""
        params = await read_params(request)
        expand = expand_of(params)
        params.pop("expand", None)
        extras = {name: params.pop(name, None) for name in REFUND_EXTRA_FIELDS}
        for name in REFUND_REQUEST_ONLY:
            params.pop(name, None)
        charge = self._charge_to_refund(params)
        if charge is not None and charge.status == "succeeded":
            remaining = charge.amount - charge.amount_refunded
            if remaining <= 0:
                raise StripeError(400, f"Charge {charge.id} has already been refunded.",
                                  code="charge_already_refunded")
            amount = params.get("amount")
            if amount in (None, ""):
                # localstripe would refund the whole charge again; Stripe refunds what is left.
                params["amount"] = remaining
            elif str(amount).isdigit() and int(amount) > remaining:
                raise StripeError(
                    400, f"Refund amount (${int(amount) / 100:.2f}) is greater than unrefunded "
                         f"amount on charge (${remaining / 100:.2f})", code="amount_too_large",
                    param="amount")
        status, body = await self.call(request, "POST", "/v1/refunds", params)
        if status != 200:
            return self.respond(status, body)
        refund = self.bridge.get("refund", body["id"])
        charge = self.bridge.get("charge", refund.charge)
        for name, value in extras.items():
            setattr(refund, name, value)
        refund.payment_intent = refund.payment_intent or charge.payment_intent
        self.bus.publish("charge.refunded", self.normalize(charge._export()))
        self.bus.publish("refund.created", self.normalize(refund._export()))
        return self.respond(200, refund._export(), expand)

    def _charge_to_refund(self, params: Mapping[str, Any]) -> Any:
        if params.get("charge"):
            return self.bridge.get("charge", params["charge"])
        intent = self.bridge.get("payment_intent", params.get("payment_intent"))
        return intent.latest_charge if intent is not None else None

    # -- disputes --

    def _dispute(self, dispute_id: str) -> JsonObject:
        dispute = self.disputes.get(dispute_id)
        if dispute is None:
            raise not_found("dispute", dispute_id)
        return dispute

    async def list_disputes(self, request: web.Request) -> web.Response:
        """``GET /v1/disputes`` (filters: ``charge``, ``payment_intent``)."""
        params = await read_params(request)
        charge, intent = params.get("charge"), params.get("payment_intent")
        return json_response(list_response(
            list(self.disputes.values()), "/v1/disputes", params,
            predicate=lambda d: (charge is None or d["charge"] == charge)
            and (intent is None or d["payment_intent"] == intent)))

    async def retrieve_dispute(self, request: web.Request) -> web.Response:
        """``GET /v1/disputes/{id}``."""
        return json_response(self._dispute(request.match_info["id"]))

    async def close_dispute(self, request: web.Request) -> web.Response:
        """``POST /v1/disputes/{id}/close``: the merchant accepts the dispute, so it is lost
        (an inquiry is closed, ``warning_closed``), as in Stripe."""
        dispute = self._dispute(request.match_info["id"])
        inquiry = dispute["status"].startswith("warning_")
        return json_response(self._decide(dispute, "warning_closed" if inquiry else "lost"))

    async def helper_dispute_charge(self, request: web.Request) -> web.Response:
        """``POST /v1/test_helpers/charges/{id}/dispute``: the cardholder disputes ``amount``
        (default: the whole charge); ``status`` ``needs_response`` (default) or, for an
        inquiry, ``warning_needs_response``. Publishes ``charge.dispute.created``."""
        charge_id = request.match_info["id"]
        charge = self.bridge.get("charge", charge_id)
        if charge is None:
            raise not_found("charge", charge_id)
        if charge.status != "succeeded":
            raise StripeError(400, f"Charge {charge_id} did not succeed: it cannot be disputed.",
                              param="charge")
        params = await read_params(request)
        amount = as_int(params, "amount", default=charge.amount)
        if not 0 < amount <= charge.amount:
            raise StripeError(400, f"amount must be from 1 to {charge.amount}.",
                              code="parameter_invalid_integer", param="amount")
        status = params.get("status") or "needs_response"
        if status not in ("needs_response", "warning_needs_response"):
            raise StripeError(400, "status must be needs_response or warning_needs_response",
                              param="status")
        created = now()
        dispute = new_object(
            "dispute", id=new_id("dp_"), amount=amount, balance_transactions=[],
            charge=charge_id, created=created, currency=charge.currency,
            is_charge_refundable=False, livemode=False, metadata={},
            payment_intent=charge.payment_intent, reason=params.get("reason") or "fraudulent",
            status=status)
        dispute["evidence_details"]["due_by"] = created + DISPUTE_EVIDENCE_DAYS * 86400
        dispute["payment_method_details"]["card"]["case_type"] = (
            "inquiry" if status.startswith("warning_") else "chargeback")
        self.disputes[dispute["id"]] = dispute
        charge.disputed = True
        self.bus.publish("charge.dispute.created", copy.deepcopy(dispute))
        return json_response(dispute)

    async def helper_close_dispute(self, request: web.Request) -> web.Response:
        """``POST /v1/test_helpers/disputes/{id}/close`` ``status``: ``won``, ``lost`` or
        ``warning_closed`` (``charge.dispute.closed``), or another open status
        (``charge.dispute.updated``)."""
        dispute = self._dispute(request.match_info["id"])
        params = await read_params(request)
        status = params.get("status")
        if status not in (*DISPUTE_OPEN, *DISPUTE_FINAL):
            raise StripeError(400, f"status must be one of {', '.join(DISPUTE_FINAL)} or an "
                                   "open status", param="status")
        return json_response(self._decide(dispute, str(status)))

    def _decide(self, dispute: JsonObject, status: str) -> JsonObject:
        """Move an open dispute to ``status`` and publish the event Stripe would."""
        if dispute["status"] in DISPUTE_FINAL:
            raise StripeError(400, f"Dispute {dispute['id']} is already {dispute['status']}.")
        previous = dispute["status"]
        dispute["status"] = status
        final = status in DISPUTE_FINAL
        self.bus.publish("charge.dispute.closed" if final else "charge.dispute.updated",
                         copy.deepcopy(dispute), previous_attributes={"status": previous})
        return dispute

    # -- payment methods and customers --

    async def list_payment_methods(self, request: web.Request) -> web.Response:
        """``GET /v1/payment_methods?customer=...`` (``type`` optional, as in Stripe)."""
        query = dict(request.query)
        query.setdefault("type", "card")
        return await self.relay(request, "/v1/payment_methods?" + urlencode(query))

    async def list_payment_intents(self, request: web.Request) -> web.Response:
        """``GET /v1/payment_intents`` as Stripe answers it: ``customer`` and ``created``
        filters, newest first, ``limit`` per page and ``starting_after``. localstripe refuses
        the filters, so every one of its intents is read (page by page) and filtered here."""
        query = dict(request.query)
        customer = query.get("customer")
        bounds = {op: int(query[f"created[{op}]"]) for op in ("gt", "gte", "lt", "lte")
                  if f"created[{op}]" in query}
        checks = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
        intents: list[JsonObject] = []
        page: dict[str, Any] = {"limit": 100}
        while True:
            status, body = await self.call(request, "GET", "/v1/payment_intents", page)
            if status != 200:
                return self.respond(status, body)
            intents += body.get("data", [])
            if not body.get("has_more") or not body.get("data"):
                break
            page = {"limit": 100, "starting_after": body["data"][-1]["id"]}

        def wanted(pi: JsonObject) -> bool:
            created = int(pi.get("created") or 0)
            return ((customer is None or pi.get("customer") == customer)
                    and all(checks[op](created, bound) for op, bound in bounds.items()))

        return self.respond(200, list_response(intents, "/v1/payment_intents", query,
                                               predicate=wanted))

    async def list_charges(self, request: web.Request) -> web.Response:
        """``GET /v1/charges`` as Stripe answers it: ``customer``, ``payment_intent`` and
        ``created`` filters (every bound), newest first, ``limit`` per page and
        ``starting_after``. localstripe accepts one ``created[gt]`` bound at most, so every one
        of its charges is read (page by page) and filtered here."""
        query = dict(request.query)
        customer, intent = query.get("customer"), query.get("payment_intent")
        bounds = {op: int(query[f"created[{op}]"]) for op in ("gt", "gte", "lt", "lte")
                  if f"created[{op}]" in query}
        checks = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
        charges: list[JsonObject] = []
        page: dict[str, Any] = {"limit": 100}
        while True:
            status, body = await self.call(request, "GET", "/v1/charges", page)
            if status != 200:
                return self.respond(status, body)
            charges += body.get("data", [])
            if not body.get("has_more") or not body.get("data"):
                break
            page = {"limit": 100, "starting_after": body["data"][-1]["id"]}

        def wanted(charge: JsonObject) -> bool:
            created = int(charge.get("created") or 0)
            return ((customer is None or charge.get("customer") == customer)
                    and (intent is None or charge.get("payment_intent") == intent)
                    and all(checks[op](created, bound) for op, bound in bounds.items()))

        return self.respond(200, list_response(charges, "/v1/charges", query,
                                               predicate=wanted))

    async def list_customer_payment_methods(self, request: web.Request) -> web.Response:
        """``GET /v1/customers/{id}/payment_methods``."""
        customer_id = request.match_info["id"]
        query = {**request.query, "customer": customer_id}
        query.setdefault("type", "card")
        status, body = await self.call(request, "GET", "/v1/payment_methods", query)
        if status == 200:
            body["url"] = f"/v1/customers/{customer_id}/payment_methods"
        return self.respond(status, body)

    async def retrieve_customer_payment_method(self, request: web.Request) -> web.Response:
        """``GET /v1/customers/{id}/payment_methods/{pm}``: only the customer's own."""
        customer_id, pm_id = request.match_info["id"], request.match_info["pm"]
        pm = self.bridge.get("payment_method", pm_id)
        if pm is None or pm.customer != customer_id:
            raise StripeError(404, f"No such PaymentMethod: '{pm_id}'", code="resource_missing",
                              param="payment_method")
        return self.respond(200, pm._export())

    async def attach_payment_method(self, request: web.Request) -> web.Response:
        """``POST /v1/payment_methods/{id}/attach``: declines carry the name's decline code."""
        name = request.match_info["id"]
        params = await read_params(request)
        status, body = await self.call(
            request, "POST", f"/v1/payment_methods/{local_name(name)}/attach",
            {key: value for key, value in params.items() if key != "expand"})
        if status == 402:
            decline = ALIASES.get(name, (name, None))[1] or GENERIC_DECLINE
            raise self.card_error(body.get("error", {}), decline)
        return self.respond(status, body, expand_of(params))

    async def detach_payment_method(self, request: web.Request) -> web.Response:
        """``POST /v1/payment_methods/{id}/detach``: must be attached; clears the default."""
        pm_id = request.match_info["id"]
        pm = self.bridge.get("payment_method", pm_id)
        if pm is not None and pm.customer is None:
            raise StripeError(400, "The payment method you provided is not attached to a "
                                   "customer so detachment is impossible.",
                              code="payment_method_unexpected_state")
        customer = self.bridge.get("customer", pm.customer if pm is not None else None)
        response = await self.relay(request)
        if response.status == 200 and customer is not None:
            settings = customer.invoice_settings or {}
            if settings.get("default_payment_method") == pm_id:
                customer.invoice_settings = {**settings, "default_payment_method": None}
        return response

    async def update_customer(self, request: web.Request) -> web.Response:
        """``POST /v1/customers/{id}``: a default payment method must be the customer's own."""
        customer_id = request.match_info["id"]
        params = await read_params(request)
        settings = params.get("invoice_settings")
        default = settings.get("default_payment_method") if isinstance(settings, dict) else None
        if default and self.bridge.get("customer", customer_id) is not None:
            pm = self.bridge.get("payment_method", default)
            if pm is None or pm.customer != customer_id:
                raise StripeError(
                    400, f"The customer does not have a payment method with the ID {default}. "
                         "The payment method must be attached to the customer.",
                    code="resource_missing", param="invoice_settings[default_payment_method]")
        return await self.relay(request)

    # -- the wire shape of localstripe's objects --

    def normalize(self, value: Any, expand: set[str] | None = None) -> Any:
        """Complete localstripe objects (recursively) to Stripe's top-level shape."""
        expand = expand or set()
        if isinstance(value, list):
            return [self.normalize(item, expand) for item in value]
        if not isinstance(value, dict):
            return value
        obj = {key: self.normalize(item, expand) for key, item in value.items()}
        kind = obj.get("object")
        if kind in NORMALIZED_KINDS:
            getattr(self, f"_complete_{kind}")(obj, expand)
            template = fixture(kind)
            for key, example in template.items():
                if key not in obj and example is None:
                    obj[key] = None
        return obj

    def _complete_payment_intent(self, obj: JsonObject, expand: set[str]) -> None:
        charge = obj.get("latest_charge")
        if isinstance(charge, dict) and "latest_charge" not in expand:
            obj["latest_charge"] = charge["id"]
        obj.pop("charges", None)  # removed from Stripe's API in 2022-11-15
        status = obj.get("status")
        obj.setdefault("amount_received", obj["amount"] if status == "succeeded" else 0)
        obj.setdefault("amount_capturable", obj["amount"] if status == "requires_capture" else 0)
        obj.setdefault("payment_method_types", ["card"])
        obj.setdefault("confirmation_method", "automatic")
        obj.setdefault("automatic_payment_methods", None)
        obj.setdefault("processing", None)
        obj.setdefault("payment_method_options", {})
        obj.setdefault("amount_details", {"tip": {}})
        obj.setdefault("managed_payments", {"enabled": False})
        for name in ("canceled_at", "payment_method_configuration_details"):
            obj.setdefault(name, None)
        error = obj.get("last_payment_error")
        if isinstance(error, dict) and error.get("code") == "card_declined":
            code, decline_code = self.declines.get(obj.get("payment_method") or "",
                                                   GENERIC_DECLINE)
            error.update(type="card_error", code=code, decline_code=decline_code,
                         doc_url="https://stripe.com/docs/error-codes/card-declined")
            error.setdefault("payment_method", obj.get("payment_method"))

    def _complete_charge(self, obj: JsonObject, expand: set[str]) -> None:
        succeeded = obj.get("status") == "succeeded"
        obj.setdefault("amount_captured", obj["amount"] if succeeded and obj.get("captured")
                       else 0)
        obj.setdefault("disputed", False)
        obj.setdefault("fraud_details", {})
        obj.setdefault("billing_details", {"address": None, "email": None, "name": None,
                                           "phone": None, "tax_id": None})
        obj.setdefault("calculated_statement_descriptor", "DEVSTACK")
        decline_code = self.declines.get(obj.get("payment_method") or "", GENERIC_DECLINE)[1]
        obj.setdefault("outcome", {
            "advice_code": None, "network_advice_code": None, "network_decline_code": None,
            "network_status": "approved_by_network" if succeeded else "declined_by_network",
            "reason": None if succeeded else decline_code,
            "risk_level": "normal",
            "seller_message": "Payment complete." if succeeded
            else "The bank did not return any further details with this decline.",
            "type": "authorized" if succeeded else "issuer_declined",
        })
        for name in ("payment_method_details", "receipt_url", "shipping", "source",
                     "transfer_data"):
            obj.setdefault(name, None)

    def _complete_refund(self, obj: JsonObject, expand: set[str]) -> None:
        obj.pop("date", None)  # localstripe-only duplicate of ``created``
        obj.setdefault("destination_details", {"card": {"type": "refund"}, "type": "card"})

    def _complete_customer(self, obj: JsonObject, expand: set[str]) -> None:
        obj.setdefault("balance", -int(obj.get("account_balance") or 0))
        if obj.get("currency") == "eur":  # localstripe's placeholder for "no currency yet"
            obj["currency"] = None
        obj.setdefault("invoice_prefix", obj["id"][-8:].upper())
        obj.setdefault("next_invoice_sequence", 1)
        obj.setdefault("tax_exempt", "none")

    def _complete_payment_method(self, obj: JsonObject, expand: set[str]) -> None:
        obj.setdefault("allow_redisplay", "unspecified")

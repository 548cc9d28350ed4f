"""The Connect half of the emulator: accounts, links, transfers, balances, payouts, test helpers.

localstripe has no Connect at all, so this module implements the part our app uses, in Stripe's
wire format (objects start as Stripe's own fixture objects) and with Stripe's failure modes:
a transfer is refused when the platform's available balance is short (``balance_insufficient``)
or when the destination cannot receive transfers (``insufficient_capabilities_for_transfer``).

Money model (deliberately simple; also in ``devstack/README.md``):

* platform available USD = succeeded card charges - refunds (read from localstripe)
  - transfers + test top-ups (``/v1/test_helpers/balance/add_available``);
* connected account available USD = transfers received - payouts not failed.

Unlike real test mode, charges are available at once (no pending period), so a purchase can
fund a transfer in the same test.
"""

from __future__ import annotations

import copy
import html
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from devstack.stripe_webhooks import EventBus
from devstack.stripe_wire import (
    JsonObject,
    StripeError,
    as_int,
    fixture,
    json_response,
    list_response,
    merge_metadata,
    new_id,
    new_object,
    not_found,
    now,
    read_params,
)

# What Stripe asks of a fresh Express account before it can receive transfers and payouts.
ONBOARDING_REQUIREMENTS = [
    "business_profile.mcc",
    "business_profile.url",
    "external_account",
    "individual.dob.day",
    "individual.dob.month",
    "individual.dob.year",
    "individual.first_name",
    "individual.last_name",
    "individual.ssn_last_4",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]

PAYOUT_FAILURE_MESSAGES = {
    "account_closed": "The bank account has been closed.",
    "account_frozen": "The bank account has been frozen.",
    "bank_account_restricted": "The bank account has restrictions on either the type, or the "
                               "number, of payouts allowed.",
    "could_not_process": "The bank could not process this payout.",
    "insufficient_funds": "Your Stripe account has insufficient funds to cover the payout.",
    "invalid_account_number": "The routing number seems correct, but the account number is "
                              "invalid.",
    "no_account": "The bank account details on file are probably incorrect. No bank account "
                  "could be located with those details.",
}

TRANSFER_FAILURE_MESSAGES = {
    "balance_insufficient": "You have insufficient available funds in your Stripe account. Try "
                            "adding funds directly to your available balance by creating Charges "
                            "using the 4000000000000077 test card. See: "
                            "https://stripe.com/docs/testing#available-balance",
    "insufficient_capabilities_for_transfer": "Your destination account needs to have at least "
                                              "one of the following capabilities enabled: "
                                              "transfers, crypto_transfers, legacy_payments",
}

ACCOUNT_CREATE_PARAMS = {
    "type", "country", "email", "business_type", "business_profile", "capabilities", "metadata",
    "settings", "controller", "tos_acceptance", "default_currency", "individual", "company",
    "external_account", "expand",
}
ACCOUNT_UPDATE_PARAMS = ACCOUNT_CREATE_PARAMS - {"type", "country", "controller"}
TRANSFER_CREATE_PARAMS = {
    "amount", "currency", "destination", "description", "metadata", "transfer_group",
    "source_transaction", "source_type", "expand",
}
LINK_TTL_SECONDS = 300


def _reject_unknown(params: dict[str, Any], allowed: set[str]) -> None:
    for name in params:
        if name not in allowed:
            raise StripeError(400, f"Received unknown parameter: {name}",
                              code="parameter_unknown", param=name)


def _deep_merge(base: JsonObject, update: Any) -> JsonObject:
    """Stripe's nested-hash update: given keys replace, others stay."""
    if not isinstance(update, dict):
        return base
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = None if value == "" else value
    return merged


def _changed(before: JsonObject, after: JsonObject) -> JsonObject:
    """Stripe's ``previous_attributes``: old values of the top-level fields that changed."""
    return {key: before.get(key) for key in after if before.get(key) != after[key]}


@dataclass
class _Link:
    account: str
    kind: str
    refresh_url: str | None
    return_url: str | None
    expires_at: int
    used: bool = False


@dataclass
class _TransferFailure:
    code: str
    status: int
    message: str


@dataclass
class ConnectState:
    """All Connect objects, keyed by id (in memory; the local stack starts fresh each run)."""

    accounts: dict[str, JsonObject] = field(default_factory=dict)
    transfers: dict[str, JsonObject] = field(default_factory=dict)
    payouts: dict[str, JsonObject] = field(default_factory=dict)
    payout_account: dict[str, str] = field(default_factory=dict)
    links: dict[str, _Link] = field(default_factory=dict)
    top_up: int = 0
    fail_next: deque[_TransferFailure] = field(default_factory=deque)


class ConnectExtension:
    """HTTP handlers of the Connect extension (mounted by ``stripe_emulator.StripeEmulator``)."""

    def __init__(self, bus: EventBus, base_url: Callable[[], str],
                 charges_net: Callable[[], int]) -> None:
        """``base_url`` gives the public emulator URL (for links); ``charges_net`` the USD
        cents of succeeded charges minus refunds (read from localstripe)."""
        self.bus = bus
        self.base_url = base_url
        self.charges_net = charges_net
        self.state = ConnectState()

    def reset(self) -> None:
        """Forget every Connect object (``POST /_devstack/reset``)."""
        self.state = ConnectState()

    def routes(self) -> list[web.RouteDef]:
        """The routes this extension serves."""
        return [
            web.post("/v1/accounts", self.create_account),
            web.get("/v1/accounts", self.list_accounts),
            web.get("/v1/accounts/{id}", self.retrieve_account),
            web.post("/v1/accounts/{id}", self.update_account),
            web.delete("/v1/accounts/{id}", self.delete_account),
            web.post("/v1/accounts/{id}/login_links", self.create_login_link),
            web.post("/v1/account_links", self.create_account_link),
            web.post("/v1/transfers", self.create_transfer),
            web.get("/v1/transfers", self.list_transfers),
            web.get("/v1/transfers/{id}", self.retrieve_transfer),
            web.post("/v1/transfers/{id}", self.update_transfer),
            web.get("/v1/balance", self.retrieve_balance),
            web.post("/v1/test_helpers/accounts/{id}/complete_onboarding",
                     self.helper_complete_onboarding),
            web.post("/v1/test_helpers/accounts/{id}/restrict", self.helper_restrict),
            web.post("/v1/test_helpers/accounts/{id}/fail_payout", self.helper_fail_payout),
            web.post("/v1/test_helpers/accounts/{id}/pay_out", self.helper_pay_out),
            web.post("/v1/test_helpers/transfers/fail_next", self.helper_fail_next_transfer),
            web.post("/v1/test_helpers/balance/add_available", self.helper_add_available),
            web.get("/connect/onboarding/{id}", self.onboarding_page),
            web.post("/connect/onboarding/{id}/complete", self.onboarding_submit),
            web.get("/connect/express/{id}", self.express_dashboard_page),
        ]

    # -- payouts are served only with a Stripe-Account header; the emulator routes them here --

    async def connected_payouts(self, request: web.Request, account_id: str) -> web.Response:
        """``GET/POST /v1/payouts[/{id}]`` on a connected account (``Stripe-Account``)."""
        self._account(account_id, status=403)
        payout_id = request.match_info.get("id")
        params = await read_params(request)
        if request.method == "POST" and payout_id is None:
            return json_response(self._create_payout(account_id, params))
        if payout_id is not None:
            payout = self.state.payouts.get(payout_id)
            if payout is None or self.state.payout_account.get(payout_id) != account_id:
                raise not_found("payout", payout_id)
            if request.method == "POST":
                payout["metadata"] = merge_metadata(payout["metadata"], params.get("metadata"))
            return json_response(payout)
        status = params.get("status")
        return json_response(list_response(
            self._payouts_of(account_id), "/v1/payouts", params,
            predicate=lambda p: status is None or p["status"] == status))

    # -- accounts --

    async def create_account(self, request: web.Request) -> web.Response:
        """``POST /v1/accounts``: a new connected account, not yet onboarded."""
        params = await read_params(request)
        _reject_unknown(params, ACCOUNT_CREATE_PARAMS)
        account_type = params.get("type", "express")
        if account_type not in ("express", "standard", "custom"):
            raise StripeError(400, "Invalid type: must be one of custom, express, or standard",
                              code="parameter_invalid_empty", param="type")
        account_id = new_id("acct_", 16)
        account = new_object(
            "account",
            id=account_id,
            type=account_type,
            created=now(),
            email=params.get("email"),
            country=params.get("country", "US"),
            default_currency=params.get("default_currency", "usd"),
            business_type=params.get("business_type"),
            metadata=merge_metadata({}, params.get("metadata")),
            charges_enabled=False,
            payouts_enabled=False,
            details_submitted=False,
            capabilities=self._requested_capabilities(params.get("capabilities"), {}),
            controller=self._controller(account_type),
            external_accounts={"object": "list", "data": [], "has_more": False,
                               "url": f"/v1/accounts/{account_id}/external_accounts"},
            tos_acceptance={"date": None, "ip": None, "user_agent": None},
        )
        # The fixture's profile is all nulls: exactly a fresh account's, before merging input.
        account["business_profile"] = _deep_merge(account["business_profile"],
                                                  params.get("business_profile"))
        account["settings"] = _deep_merge(account["settings"], params.get("settings"))
        account["settings"]["dashboard"]["display_name"] = account["business_profile"]["name"]
        account["requirements"] = self._requirements(ONBOARDING_REQUIREMENTS,
                                                     "requirements.past_due")
        account["future_requirements"] = self._requirements([], None)
        self.state.accounts[account_id] = account
        return json_response(account)

    async def list_accounts(self, request: web.Request) -> web.Response:
        """``GET /v1/accounts``."""
        params = await read_params(request)
        return json_response(list_response(list(self.state.accounts.values()), "/v1/accounts",
                                           params))

    async def retrieve_account(self, request: web.Request) -> web.Response:
        """``GET /v1/accounts/{id}``."""
        return json_response(self._account(request.match_info["id"]))

    async def update_account(self, request: web.Request) -> web.Response:
        """``POST /v1/accounts/{id}``: email, metadata, profile, settings, capabilities."""
        account = self._account(request.match_info["id"])
        params = await read_params(request)
        _reject_unknown(params, ACCOUNT_UPDATE_PARAMS)
        before = copy.deepcopy(account)
        for name in ("email", "business_type", "default_currency"):
            if name in params:
                account[name] = params[name] or None
        if "metadata" in params:
            account["metadata"] = merge_metadata(account["metadata"], params["metadata"])
        for name in ("business_profile", "settings", "tos_acceptance"):
            if name in params:
                account[name] = _deep_merge(account[name], params[name])
        if "capabilities" in params:
            account["capabilities"] = self._requested_capabilities(
                params["capabilities"], account["capabilities"])
        self._publish_account_updated(account, before)
        return json_response(account)

    async def delete_account(self, request: web.Request) -> web.Response:
        """``DELETE /v1/accounts/{id}`` (test mode lets platforms delete their accounts)."""
        account = self._account(request.match_info["id"])
        del self.state.accounts[account["id"]]
        return json_response({"id": account["id"], "object": "account", "deleted": True})

    async def create_account_link(self, request: web.Request) -> web.Response:
        """``POST /v1/account_links``: a single-use, 5-minute onboarding URL on the emulator."""
        params = await read_params(request)
        account = self._account(str(params.get("account") or ""), param="account")
        kind = params.get("type")
        if kind not in ("account_onboarding", "account_update"):
            raise StripeError(400, "Invalid type: must be one of account_onboarding or "
                                   "account_update", code="parameter_invalid_empty", param="type")
        token = secrets.token_urlsafe(12)
        created = now()
        self.state.links[token] = _Link(account["id"], kind, params.get("refresh_url"),
                                        params.get("return_url"), created + LINK_TTL_SECONDS)
        url = f"{self.base_url()}/connect/onboarding/{account['id']}?link={token}"
        return json_response(new_object("account_link", created=created,
                                        expires_at=created + LINK_TTL_SECONDS, url=url))

    async def create_login_link(self, request: web.Request) -> web.Response:
        """``POST /v1/accounts/{id}/login_links``: Express dashboard URL (onboarded only)."""
        account = self._account(request.match_info["id"], param="account")
        if account["type"] != "express":
            raise StripeError(400, "Login links can only be created for Express accounts.",
                              param="account")
        if not account["details_submitted"]:
            raise StripeError(400, "Cannot create a login link for an account that has not "
                                   "completed onboarding.", param="account")
        token = secrets.token_urlsafe(12)
        url = f"{self.base_url()}/connect/express/{account['id']}?login={token}"
        return json_response(new_object("login_link", created=now(), url=url))

    # -- transfers and balances --

    async def create_transfer(self, request: web.Request) -> web.Response:
        """``POST /v1/transfers``: move platform funds to a connected account."""
        params = await read_params(request)
        _reject_unknown(params, TRANSFER_CREATE_PARAMS)
        amount = as_int(params, "amount")
        if amount <= 0:
            raise StripeError(400, "This value must be greater than or equal to 1.",
                              code="parameter_invalid_integer", param="amount")
        currency = str(params.get("currency") or "").lower()
        if not currency:
            raise StripeError(400, "Missing required param: currency.",
                              code="parameter_missing", param="currency")
        destination_id = str(params.get("destination") or "")
        if not destination_id:
            raise StripeError(400, "Missing required param: destination.",
                              code="parameter_missing", param="destination")
        # An injected failure wins over every business check, but not over malformed input,
        # so a test's bad request does not silently consume it.
        if self.state.fail_next:
            failure = self.state.fail_next.popleft()
            raise StripeError(failure.status, failure.message, code=failure.code,
                              error_type="api_error" if failure.status >= 500
                              else "invalid_request_error")
        destination = self.state.accounts.get(destination_id)
        if destination is None:
            raise StripeError(400, f"No such destination: '{destination_id}'",
                              code="resource_missing", param="destination")
        if (destination["capabilities"].get("transfers") != "active"
                or not destination["payouts_enabled"]):
            code = "insufficient_capabilities_for_transfer"
            raise StripeError(400, TRANSFER_FAILURE_MESSAGES[code], code=code,
                              param="destination")
        if currency != "usd" or self.platform_available() < amount:
            code = "balance_insufficient"
            raise StripeError(400, TRANSFER_FAILURE_MESSAGES[code], code=code)
        transfer_id = new_id("tr_")
        transfer = new_object(
            "transfer",
            id=transfer_id,
            amount=amount,
            amount_reversed=0,
            balance_transaction=new_id("txn_"),
            created=now(),
            currency=currency,
            description=params.get("description"),
            destination=destination_id,
            destination_payment=new_id("py_"),
            livemode=False,
            metadata=merge_metadata({}, params.get("metadata")),
            reversals={"object": "list", "data": [], "has_more": False,
                       "url": f"/v1/transfers/{transfer_id}/reversals"},
            reversed=False,
            source_transaction=params.get("source_transaction"),
            source_type=params.get("source_type", "card"),
            transfer_group=params.get("transfer_group"),
        )
        self.state.transfers[transfer_id] = transfer
        self.bus.publish("transfer.created", copy.deepcopy(transfer))
        return json_response(transfer)

    async def list_transfers(self, request: web.Request) -> web.Response:
        """``GET /v1/transfers`` (filters: ``destination``, ``transfer_group``, ``created``)."""
        params = await read_params(request)
        destination, group = params.get("destination"), params.get("transfer_group")
        created = params.get("created")
        bounds = ({op: as_int(created, op) for op in ("gt", "gte", "lt", "lte") if op in created}
                  if isinstance(created, dict) else {})
        checks = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
        return json_response(list_response(
            list(self.state.transfers.values()), "/v1/transfers", params,
            predicate=lambda t: (destination is None or t["destination"] == destination)
            and (group is None or t["transfer_group"] == group)
            and all(checks[op](int(t["created"]), bound) for op, bound in bounds.items())))

    async def retrieve_transfer(self, request: web.Request) -> web.Response:
        """``GET /v1/transfers/{id}``."""
        return json_response(self._transfer(request.match_info["id"]))

    async def update_transfer(self, request: web.Request) -> web.Response:
        """``POST /v1/transfers/{id}``: description and metadata only, as in Stripe."""
        transfer = self._transfer(request.match_info["id"])
        params = await read_params(request)
        _reject_unknown(params, {"description", "metadata", "expand"})
        before = copy.deepcopy(transfer)
        if "description" in params:
            transfer["description"] = params["description"] or None
        if "metadata" in params:
            transfer["metadata"] = merge_metadata(transfer["metadata"], params["metadata"])
        self.bus.publish("transfer.updated", copy.deepcopy(transfer),
                         previous_attributes=_changed(before, transfer))
        return json_response(transfer)

    async def retrieve_balance(self, request: web.Request) -> web.Response:
        """``GET /v1/balance``: the platform's, or a connected account's with Stripe-Account."""
        account_id = request.headers.get("Stripe-Account")
        if account_id:
            self._account(account_id, status=403)
            return json_response(self._balance(self.connected_available(account_id)))
        return json_response(self._balance(self.platform_available()))

    def platform_available(self) -> int:
        """Platform available USD cents: charges - refunds - transfers + test top-ups."""
        transferred = sum(t["amount"] - t["amount_reversed"]
                          for t in self.state.transfers.values() if t["currency"] == "usd")
        return self.charges_net() - transferred + self.state.top_up

    def connected_available(self, account_id: str) -> int:
        """A connected account's available USD cents: transfers in - payouts not failed."""
        received = sum(t["amount"] - t["amount_reversed"] for t in self.state.transfers.values()
                       if t["destination"] == account_id)
        paid_out = sum(p["amount"] for p in self._payouts_of(account_id)
                       if p["status"] not in ("failed", "canceled"))
        return received - paid_out

    # -- test helpers --

    async def helper_complete_onboarding(self, request: web.Request) -> web.Response:
        """Finish onboarding: details submitted, charges and payouts enabled, no requirements."""
        account = self._account(request.match_info["id"])
        self.complete_onboarding(account)
        return json_response(account)

    def complete_onboarding(self, account: JsonObject) -> None:
        """Mark ``account`` fully onboarded and publish ``account.updated`` (Connect event)."""
        before = copy.deepcopy(account)
        stamp = now()
        account.update(details_submitted=True, charges_enabled=True, payouts_enabled=True)
        account["capabilities"] = {name: "active" for name in account["capabilities"]}
        account["requirements"] = self._requirements([], None)
        account["future_requirements"] = self._requirements([], None)
        account["tos_acceptance"] = {"date": stamp, "ip": "127.0.0.1",
                                     "user_agent": "devstack-stripe-emulator"}
        profile = account["business_profile"]
        profile["mcc"] = profile["mcc"] or "5734"
        profile["url"] = profile["url"] or "https://example.com"
        if not account["external_accounts"]["data"]:
            account["external_accounts"]["data"] = [
                new_object("bank_account", id=new_id("ba_"), account=account["id"],
                           account_holder_name=profile["name"] or account["email"],
                           status="verified")]
        self._publish_account_updated(account, before)

    async def helper_restrict(self, request: web.Request) -> web.Response:
        """Restrict the account: payouts and charges disabled, a ``disabled_reason`` set."""
        account = self._account(request.match_info["id"])
        params = await read_params(request)
        before = copy.deepcopy(account)
        reason = params.get("disabled_reason") or "requirements.past_due"
        due = params.get("currently_due") or ["external_account"]
        account.update(charges_enabled=False, payouts_enabled=False)
        account["capabilities"] = {name: "inactive" for name in account["capabilities"]}
        account["requirements"] = self._requirements(list(due), reason)
        self._publish_account_updated(account, before)
        return json_response(account)

    async def helper_fail_payout(self, request: web.Request) -> web.Response:
        """A failed payout of the account's balance (or of ``payout=po_...``): ``payout.failed``."""
        account = self._account(request.match_info["id"])
        params = await read_params(request)
        code = params.get("failure_code") or "account_closed"
        payout = self._payout_for_helper(account["id"], params)
        payout.update(
            status="failed",
            failure_code=code,
            failure_message=PAYOUT_FAILURE_MESSAGES.get(code, f"The payout failed ({code})."),
            failure_balance_transaction=new_id("txn_"),
        )
        self.bus.publish("payout.failed", copy.deepcopy(payout), account=account["id"])
        return json_response(payout)

    async def helper_pay_out(self, request: web.Request) -> web.Response:
        """A paid payout of the account's balance (or of ``payout=po_...``): ``payout.paid``."""
        account = self._account(request.match_info["id"])
        params = await read_params(request)
        payout = self._payout_for_helper(account["id"], params)
        payout.update(status="paid", arrival_date=now())
        self.bus.publish("payout.paid", copy.deepcopy(payout), account=account["id"])
        return json_response(payout)

    async def helper_fail_next_transfer(self, request: web.Request) -> web.Response:
        """Queue one failure for the next ``POST /v1/transfers`` (``code``, ``status``)."""
        params = await read_params(request)
        code = params.get("code") or "balance_insufficient"
        status = as_int(params, "status", default=400)
        message = params.get("message") or TRANSFER_FAILURE_MESSAGES.get(
            code, f"Transfer failed ({code}), injected by a test helper.")
        self.state.fail_next.append(_TransferFailure(code, status, message))
        return json_response({"object": "test_helpers.transfer_failure", "code": code,
                              "status": status, "message": message,
                              "queued": len(self.state.fail_next)})

    async def helper_add_available(self, request: web.Request) -> web.Response:
        """Add ``amount`` cents (may be negative) to the platform's available USD balance."""
        params = await read_params(request)
        self.state.top_up += as_int(params, "amount")
        return json_response(self._balance(self.platform_available()))

    # -- HTML pages behind account links and login links --

    async def onboarding_page(self, request: web.Request) -> web.StreamResponse:
        """What an account link opens: a one-button stand-in for Stripe's hosted onboarding."""
        account_id = request.match_info["id"]
        token = request.query.get("link", "")
        link = self._usable_link(account_id, token)
        if link is None:
            return self._expired_link(account_id, token)
        account = self.state.accounts[account_id]
        title = f"Stripe Express onboarding (local emulator): {html.escape(account_id)}"
        body = (
            f"<p>Account email: {html.escape(str(account['email']))}</p>"
            f"<p>Status: details_submitted={account['details_submitted']}, "
            f"payouts_enabled={account['payouts_enabled']}</p>"
            f"<form method='post' action='/connect/onboarding/{html.escape(account_id)}/complete"
            f"?link={html.escape(token)}'>"
            "<button type='submit'>Complete onboarding with test data</button></form>"
        )
        if link.return_url:
            body += f"<p><a href='{html.escape(link.return_url)}'>Leave without finishing</a></p>"
        return web.Response(text=f"<html><body><h1>{title}</h1>{body}</body></html>",
                            content_type="text/html")

    async def onboarding_submit(self, request: web.Request) -> web.StreamResponse:
        """The onboarding form: completes onboarding, then returns to ``return_url``."""
        account_id = request.match_info["id"]
        token = request.query.get("link", "")
        link = self._usable_link(account_id, token)
        if link is None:
            return self._expired_link(account_id, token)
        link.used = True  # Stripe account links are single-use
        self.complete_onboarding(self.state.accounts[account_id])
        if link.return_url:
            raise web.HTTPSeeOther(link.return_url)
        return web.Response(text="Onboarding complete. You can close this window.")

    async def express_dashboard_page(self, request: web.Request) -> web.Response:
        """What a login link opens: the account's balance and payouts."""
        account_id = request.match_info["id"]
        account = self.state.accounts.get(account_id)
        if account is None:
            raise web.HTTPNotFound(text="No such account")
        rows = "".join(
            f"<li>{html.escape(p['id'])}: {p['amount'] / 100:.2f} {p['currency']} "
            f"{html.escape(p['status'])} {html.escape(str(p['failure_code'] or ''))}</li>"
            for p in self._payouts_of(account_id))
        text = (f"<html><body><h1>Express dashboard (local emulator): "
                f"{html.escape(account_id)}</h1>"
                f"<p>Available: {self.connected_available(account_id) / 100:.2f} USD</p>"
                f"<p>Payouts enabled: {account['payouts_enabled']}</p>"
                f"<ul>{rows}</ul></body></html>")
        return web.Response(text=text, content_type="text/html")

    # -- internals --

    def _account(self, account_id: str, *, param: str = "id", status: int = 404) -> JsonObject:
        account = self.state.accounts.get(account_id)
        if account is None:
            if status == 403:
                # What Stripe answers for a Stripe-Account header it cannot act on.
                raise StripeError(403, f"The provided key does not have access to account "
                                       f"'{account_id}' (or that account does not exist).",
                                  code="account_invalid")
            raise not_found("account", account_id, param)
        return account

    def _transfer(self, transfer_id: str) -> JsonObject:
        transfer = self.state.transfers.get(transfer_id)
        if transfer is None:
            raise not_found("transfer", transfer_id)
        return transfer

    def _payouts_of(self, account_id: str) -> list[JsonObject]:
        return [p for pid, p in self.state.payouts.items()
                if self.state.payout_account.get(pid) == account_id]

    def _create_payout(self, account_id: str, params: dict[str, Any]) -> JsonObject:
        """``POST /v1/payouts`` on a connected account: a pending payout from its balance."""
        _reject_unknown(params, {"amount", "currency", "description", "metadata", "method",
                                 "statement_descriptor", "destination", "expand"})
        amount = as_int(params, "amount")
        if amount <= 0 or amount > self.connected_available(account_id):
            code = "balance_insufficient"
            raise StripeError(400, "You have insufficient funds in your Stripe account for this "
                                   "transfer. Your card balance is too low.", code=code,
                              param="amount")
        payout = self._new_payout(account_id, amount, status="pending")
        payout.update(description=params.get("description") or payout["description"],
                      metadata=merge_metadata({}, params.get("metadata")),
                      method=params.get("method", "standard"), automatic=False)
        self.bus.publish("payout.created", copy.deepcopy(payout), account=account_id)
        return payout

    def _payout_for_helper(self, account_id: str, params: dict[str, Any]) -> JsonObject:
        """The payout a test helper acts on: ``payout=po_...`` if given, else a new payout of
        ``amount`` (default: the account's whole available balance)."""
        payout_id = params.get("payout")
        if payout_id:
            payout = self.state.payouts.get(payout_id)
            if payout is None or self.state.payout_account.get(payout_id) != account_id:
                raise not_found("payout", payout_id, "payout")
            if payout["status"] not in ("pending", "in_transit"):
                raise StripeError(400, f"Payout {payout_id} is already {payout['status']}.",
                                  param="payout")
            return payout
        amount = as_int(params, "amount", default=self.connected_available(account_id))
        if amount <= 0:
            raise StripeError(400, f"Account {account_id} has no available balance to pay out.",
                              code="balance_insufficient", param="amount")
        payout = self._new_payout(account_id, amount, status="in_transit")
        self.bus.publish("payout.created", copy.deepcopy(payout), account=account_id)
        return payout

    def _new_payout(self, account_id: str, amount: int, *, status: str) -> JsonObject:
        account = self.state.accounts[account_id]
        banks = account["external_accounts"]["data"]
        created = now()
        payout = new_object(
            "payout",
            id=new_id("po_"),
            amount=amount,
            arrival_date=created + 2 * 86400,
            automatic=True,
            balance_transaction=new_id("txn_"),
            created=created,
            currency="usd",
            destination=banks[0]["id"] if banks else new_id("ba_"),
            failure_balance_transaction=None,
            failure_code=None,
            failure_message=None,
            livemode=False,
            metadata={},
            status=status,
        )
        self.state.payouts[payout["id"]] = payout
        self.state.payout_account[payout["id"]] = account_id
        return payout

    def _balance(self, available: int) -> JsonObject:
        balance = fixture("balance")
        balance["available"] = [{"amount": available, "currency": "usd",
                                 "source_types": {"card": available}}]
        balance["pending"] = [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}]
        balance["connect_reserved"] = [{"amount": 0, "currency": "usd"}]
        balance["livemode"] = False
        return balance

    @staticmethod
    def _requested_capabilities(requested: Any, current: dict[str, str]) -> dict[str, str]:
        """Capability statuses after a request: newly requested ones start ``inactive``."""
        capabilities = dict(current)
        if isinstance(requested, dict):
            for name, options in requested.items():
                wanted = isinstance(options, dict) and str(options.get("requested")).lower()
                if wanted == "true":
                    capabilities.setdefault(name, "inactive")
                elif wanted == "false":
                    capabilities.pop(name, None)
        if not capabilities:
            capabilities["transfers"] = "inactive"
        return capabilities

    @staticmethod
    def _controller(account_type: str) -> JsonObject:
        if account_type == "express":
            return {"fees": {"payer": "application"}, "is_controller": True,
                    "losses": {"payments": "application"}, "requirement_collection": "stripe",
                    "stripe_dashboard": {"type": "express"}, "type": "application"}
        return {"is_controller": True, "type": "application"}

    @staticmethod
    def _requirements(due: list[str], disabled_reason: str | None) -> JsonObject:
        return {"alternatives": [], "current_deadline": None, "currently_due": list(due),
                "disabled_reason": disabled_reason, "errors": [], "eventually_due": list(due),
                "past_due": list(due), "pending_verification": []}

    def _publish_account_updated(self, account: JsonObject, before: JsonObject) -> None:
        self.bus.publish("account.updated", copy.deepcopy(account), account=account["id"],
                         previous_attributes=_changed(before, account))

    def _usable_link(self, account_id: str, token: str) -> _Link | None:
        link = self.state.links.get(token)
        if (link is None or link.account != account_id or link.used or link.expires_at < now()
                or account_id not in self.state.accounts):
            return None
        return link

    def _expired_link(self, account_id: str, token: str) -> web.StreamResponse:
        """Stripe sends a used or expired link to its ``refresh_url``."""
        link = self.state.links.get(token)
        if link is not None and link.account == account_id and link.refresh_url:
            raise web.HTTPFound(link.refresh_url)
        return web.Response(status=410, text="This account link has expired or was used.")

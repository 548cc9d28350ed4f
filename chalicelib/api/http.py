"""HTTP plumbing shared by every blueprint: one ``route`` decorator.

It registers the Chalice route and its OpenAPI entry, authenticates (user bearer token or
platform key), parses and validates the JSON body with a pydantic model, authorizes (the
route's ``guard``: 404 for what the caller cannot see, 403, 423 while suspended), applies
``Idempotency-Key`` replay on money POSTs, calls the handler, and renders the result or the
error envelope. A bug becomes a 500 with a generic body; no stack trace ever leaves.

Order matters (SPEC section 3): a stored answer is read and replayed only after the caller
was authenticated and authorized, and only to the caller that stored it (keys are scoped to
the user, or the platform key, and the concrete route).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request
from pydantic import BaseModel, ValidationError

from chalicelib.api.errors import current_request_id, error_body, headers_for, status_for
from chalicelib.api.idempotency import run_idempotent
from chalicelib.domain.errors import (
    DomainError,
    MalformedRequest,
    Unauthenticated,
    ValidationFailed,
)
from chalicelib.domain.roles import Principal
from chalicelib.observability import count, flush_metrics, logger
from chalicelib.services.cursors import bound_to
from chalicelib.services.ports import ports
from chalicelib.services.sessions import principal_from_token

ACCEPTED_CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "text/csv",
]


@dataclass
class RouteSpec:
    """What the OpenAPI document says of one route."""

    path: str
    method: str
    summary: str
    auth: str
    status: int
    body: type[BaseModel] | None
    query: tuple[str, ...]
    idempotent: bool
    tag: str
    #: The answer's shape (a pydantic model): the OpenAPI document's success schema.
    response: type[BaseModel] | None = None
    #: Error status → the error codes this route answers with it (the document lists them).
    errors: dict[int, tuple[str, ...]] = field(default_factory=dict)


ROUTES: list[RouteSpec] = []


@dataclass
class Reply:
    """A handler's answer when the default status or JSON content type does not fit."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RequestContext:
    """Everything a handler needs from the request, already checked."""

    request: Request
    principal: Principal | None
    body: Any
    query: dict[str, str]
    idempotency_key: str | None = None
    #: What the route's guard loaded while authorizing (say, the sub-account), for the handler.
    authorized: Any = None

    def header(self, name: str) -> str | None:
        """A request header, case-insensitive."""
        return self.request.headers.get(name.lower()) or self.request.headers.get(name)

    @property
    def user(self) -> Principal:
        """The authenticated principal (user routes only)."""
        if self.principal is None:
            raise Unauthenticated("authentication required")
        return self.principal


# CORS is answered by the app itself, per request, not by Chalice's static CORSConfig: with
# several configured origins the right ``Access-Control-Allow-Origin`` is the request's own
# ``Origin`` when it is listed, which a static header cannot say. Preflights are real
# ``OPTIONS`` routes (one per path), so ``chalice local`` and API Gateway both pass them to
# the Lambda instead of answering a fixed MOCK (README "CORS").
CORS_ALLOW_HEADERS = "Accept,Authorization,Content-Type,Idempotency-Key,X-Request-Id"
CORS_EXPOSE_HEADERS = "Content-Type,Retry-After,X-Request-Id"
CORS_MAX_AGE_SECONDS = 600


def cors_headers(request: Request) -> dict[str, str]:
    """``Access-Control-*`` headers of an answer to ``request`` (SPEC section 4): ``*`` only
    when the configured list is ``*``; else the request's ``Origin`` if listed, nothing if
    not, and ``Vary: Origin`` either way so caches keep answers per origin apart."""
    origins = ports().settings.cors_origins
    allowed: str | None
    if origins == ["*"]:
        allowed = "*"
        headers: dict[str, str] = {}
    else:
        origin = request.headers.get("origin")
        allowed = str(origin) if origin is not None and origin in origins else None
        headers = {"Vary": "Origin"}
    if allowed is not None:
        headers.update({"Access-Control-Allow-Origin": allowed,
                        "Access-Control-Expose-Headers": CORS_EXPOSE_HEADERS})
    return headers


def _with_cors(response: Response, request: Request) -> Response:
    for name, value in cors_headers(request).items():
        if name == "Vary" and response.headers.get("Vary"):
            value = f"{response.headers['Vary']}, {value}"
        response.headers[name] = value
    return response


#: Paths that already have their preflight route (one per path, whatever the blueprint).
_PREFLIGHT_PATHS: set[str] = set()


def _add_preflight(bp: Blueprint, path: str) -> None:
    if path in _PREFLIGHT_PATHS:
        return
    _PREFLIGHT_PATHS.add(path)

    def preflight(**_uri_params: Any) -> Response:
        request = bp.current_request
        methods = sorted({spec.method for spec in ROUTES if spec.path == path} | {"OPTIONS"})
        headers: dict[str, str | list[str]] = {**cors_headers(request),
                                               "X-Request-Id": request_id_of(request)}
        if "Access-Control-Allow-Origin" in headers:
            headers.update({"Access-Control-Allow-Methods": ",".join(methods),
                            "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
                            "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS)})
        return Response(body="", status_code=204, headers=headers)

    preflight.__name__ = f"preflight_{len(_PREFLIGHT_PATHS)}"
    bp.route(path, methods=["OPTIONS"], content_types=ACCEPTED_CONTENT_TYPES)(preflight)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer token")
    return token.strip()


def _authenticate(request: Request, auth: str) -> Principal | None:
    if auth == "none":
        return None
    token = bearer_token(request)
    if auth == "platform":
        if not hmac.compare_digest(token.encode(), ports().settings.platform_api_key.encode()):
            raise Unauthenticated("invalid platform key")
        return None
    return principal_from_token(token)


#: No request body of ours nests deeper than a few levels; far deeper is an attack on the
#: parser (Python's recursion limit), answered 400 like any unreadable body.
MAX_JSON_DEPTH = 32


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` deep (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def raw_body(request: Request) -> bytes:
    """The request's body as the bytes that arrived (Chalice types it ``str | bytes``)."""
    raw = request.raw_body
    return raw.encode() if isinstance(raw, str) else raw or b""


def parse_json(raw: bytes | None) -> Any:
    """Decode a JSON body; malformed or absurdly nested JSON is a 400, never a 500."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except RecursionError as exc:
        raise MalformedRequest("request body is nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest("request body is not valid JSON") from exc
    if _nested_deeper_than(data, MAX_JSON_DEPTH):
        raise MalformedRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels")
    return data


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    """Validate a decoded body against a pydantic model; wrong types are a 422."""
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]), "problem": err["msg"]}
            for err in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ValidationFailed("request body is invalid", details={"errors": details}) from None


def _render(result: Any, default_status: int) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, Reply):
        headers: dict[str, str | list[str]] = {"Content-Type": "application/json",
                                               **result.headers}
        return Response(body=result.body, status_code=result.status, headers=headers)
    if result is None:
        return Response(body="", status_code=204 if default_status == 200 else default_status)
    return Response(body=result, status_code=default_status,
                    headers={"Content-Type": "application/json"})


def error_response(error: DomainError) -> Response:
    """Render a domain error as the SPEC envelope."""
    return Response(
        body=error_body(error.code, error.message, error.details),
        status_code=status_for(error),
        headers={"Content-Type": "application/json", **headers_for(error)},
    )


def _body_hash(raw: bytes | None) -> str:
    try:
        canonical = json.dumps(json.loads(raw or b"{}"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = (raw or b"").decode("utf-8", "replace")
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_scope(principal: Principal | None) -> str:
    """Whose Idempotency-Keys these are: one user (within its agency), or the platform key."""
    return f"{principal.agency_id}#{principal.user_id}" if principal else "platform"


Guard = Callable[..., Any]

#: A caller's ``X-Request-Id`` we keep (SPEC section 3); anything else gets a new id.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def request_id_of(request: Request) -> str:
    """The caller's ``X-Request-Id`` when it is a short plain token, else a new one."""
    given = request.headers.get("x-request-id")
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


@dataclass
class _Seen:
    """What the request turned out to be about, for its log line."""

    principal: Principal | None = None


def _log_request(method: str, route_path: str, status_code: int, started_ns: int,
                 seen: _Seen) -> None:
    """One JSON line per request: ids and figures only (never an email, token or body)."""
    principal = seen.principal
    if status_code == 503:
        count("Http503")  # a dependency throttled or unreachable (alarmed on a rate)
    elif status_code >= 500:
        count("Http5xx")  # an internal error: every one is alarmed
    logger.info("request", extra={
        "method": method, "route": route_path, "status": status_code,
        "duration_ms": (time.monotonic_ns() - started_ns) // 1_000_000,
        "agency_id": principal.agency_id if principal else None,
        "user_id": principal.user_id if principal else None,
    })


def route(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    auth: str = "user",
    status: int = 200,
    body: type[BaseModel] | None = None,
    query: tuple[str, ...] = (),
    idempotent: bool = False,
    guard: Guard | None = None,
    summary: str = "",
    tag: str = "",
    response: type[BaseModel] | None = None,
    errors: dict[int, tuple[str, ...]] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a JSON route on ``bp``; see the module docstring for what it does.

    ``guard(ctx, **uri_params)`` authorizes before anything else runs (an idempotent route
    needs one: replay comes after it); what it returns is ``ctx.authorized``.
    """
    if idempotent and guard is None and auth == "user":
        raise ValueError(f"{method} {path}: an idempotent user route needs a guard")

    def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
        ROUTES.append(RouteSpec(path, method.upper(), summary or (handler.__doc__ or "").strip()
                                .split("\n")[0], auth, status, body, query, idempotent,
                                tag or bp._import_name.rsplit(".", 1)[-1], response,
                                dict(errors or {})))

        @wraps(handler)
        def view(**uri_params: Any) -> Response:
            request = bp.current_request
            request_id = request_id_of(request)
            started = time.monotonic_ns()
            seen = _Seen()
            id_token = current_request_id.set(request_id)
            logger.set_correlation_id(request_id)
            try:
                # Cursors made or read by this request belong to this route's list.
                with bound_to(f"{method.upper()} {path}"):
                    response = _with_cors(answer(seen, **uri_params), request)
                response.headers["X-Request-Id"] = request_id
                _log_request(method.upper(), path, response.status_code, started, seen)
                return response
            finally:
                flush_metrics()
                current_request_id.reset(id_token)

        def answer(seen: _Seen, **uri_params: Any) -> Response:
            request = bp.current_request
            try:
                principal = _authenticate(request, auth)
                seen.principal = principal
                data = parse_json(raw_body(request)) if method.upper() in ("POST", "PUT",
                                                                         "PATCH") else {}
                parsed = validate(body, data) if body is not None else data
                params = {k: v for k, v in (request.query_params or {}).items()}
                key = request.headers.get("idempotency-key") if idempotent else None
                ctx = RequestContext(request, principal, parsed, params, key)
                if guard is not None:
                    ctx.authorized = guard(ctx, **uri_params)
                if idempotent and key:
                    return run_idempotent(
                        scope=idempotency_scope(principal),
                        # The concrete resource, not the template: one key sent for two
                        # sub-accounts must not replay the first one's answer.
                        route=f"{method.upper()} {path} {sorted(uri_params.items())}",
                        key=key,
                        body_hash=_body_hash(raw_body(request)),
                        execute=lambda: _render(handler(ctx, **uri_params), status),
                    )
                return _render(handler(ctx, **uri_params), status)
            except DomainError as error:
                return error_response(error)
            except Exception as exc:
                # Where it broke, not what it said: an exception's message may quote a
                # secret, a password or an email address, which never reach the logs.
                logger.error("unhandled error", extra={
                    "method": method.upper(), "route": path, "error": type(exc).__name__,
                    "frames": [f"{frame.filename}:{frame.lineno} {frame.name}"
                               for frame in traceback.extract_tb(exc.__traceback__)]})
                return Response(
                    body=error_body("internal_error", "an internal error occurred"),
                    status_code=500,
                    headers={"Content-Type": "application/json"},
                )

        bp.route(path, methods=[method.upper()],
                 content_types=ACCEPTED_CONTENT_TYPES)(view)
        _add_preflight(bp, path)
        return view

    return decorator


_PLAIN_NUMBER = re.compile(r"[0-9]{1,6}")


def page_limit(ctx: RequestContext, default: int = 50, maximum: int = 200) -> int:
    """The ``limit`` query parameter, validated."""
    raw = ctx.query.get("limit")
    if raw is None:
        return default
    # ASCII digits only: str.isdigit() also accepts "²" or "٣", which int() then chokes on
    # or reads as a number (README: non-ASCII digits are a 422).
    if not _PLAIN_NUMBER.fullmatch(raw) or not 1 <= int(raw) <= maximum:
        raise ValidationFailed(f"limit must be an integer from 1 to {maximum}",
                               details={"field": "limit"})
    return int(raw)

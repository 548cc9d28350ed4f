"""OpenAPI 3.1 document built from the same route table and pydantic models the API uses."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from chalicelib.api.http import ROUTES, RouteSpec

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
                "request_id": {"type": "string"},
            },
        }
    },
}


ERROR_REF = {"$ref": "#/components/schemas/Error"}
RETRY_AFTER = {"description": "seconds to wait before trying again",
               "schema": {"type": "string"}}


#: Errors every route may answer, whatever it does (SPEC section 3).
def _common_errors(spec: RouteSpec) -> dict[int, tuple[str, ...]]:
    common: dict[int, tuple[str, ...]] = {503: ("temporarily_unavailable",),
                                          500: ("internal_error",)}
    if spec.auth != "none":
        common[401] = ("unauthenticated",)
    if spec.body is not None:
        common[400] = ("malformed_request",)
        common[422] = ("validation_failed",)
    if spec.query:
        common.setdefault(422, ("validation_failed",))
    if spec.idempotent:
        common[422] = (*common.get(422, ()), "idempotency_key_reused")
    return common


def _error_responses(spec: RouteSpec) -> dict[str, Any]:
    """Every error status of the route with the codes it answers (documentation), then the
    ranges, so that an answer outside them is still described."""
    merged: dict[int, list[str]] = {}
    for source in (_common_errors(spec), spec.errors):
        for status, codes in source.items():
            merged.setdefault(status, [])
            merged[status] += [code for code in codes if code not in merged[status]]
    responses: dict[str, Any] = {
        str(status): {
            "description": "error: " + ", ".join(f"`{code}`" for code in codes),
            "content": {"application/json": {"schema": ERROR_REF}},
            **({"headers": {"Retry-After": RETRY_AFTER}} if status in (429, 503) else {}),
        }
        for status, codes in sorted(merged.items())
    }
    responses["4XX"] = {"description": "error",
                        "content": {"application/json": {"schema": ERROR_REF}}}
    responses["5XX"] = {"description": "dependency unavailable or internal error",
                        "content": {"application/json": {"schema": ERROR_REF}}}
    return responses


def _model_ref(model: type[BaseModel], schemas: dict[str, Any], mode: str) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}",
                                     mode=mode)  # type: ignore[arg-type]
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_document() -> dict[str, Any]:
    """Describe every registered route."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for spec in ROUTES:
        success: dict[str, Any] = {"description": "success"}
        if spec.response is not None:
            success["content"] = {"application/json": {
                "schema": _model_ref(spec.response, schemas, "serialization")}}
        elif not (spec.method == "DELETE" or spec.status == 204):
            success["content"] = {"application/json": {"schema": {}}}
        operation: dict[str, Any] = {
            "summary": spec.summary,
            "operationId": f"{spec.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', spec.path.lower())}",
            "tags": [spec.tag],
            "responses": {
                str(spec.status): success,
                **({"204": {"description": "done, no content"}} if spec.method == "DELETE"
                   else {}),
                **_error_responses(spec),
            },
        }
        if spec.auth != "none":
            operation["security"] = [{"platformKey": []}] if spec.auth == "platform" else [
                {"bearer": []}]
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", spec.path)
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in spec.query
        ]
        if spec.idempotent:
            parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                               "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
        if parameters:
            operation["parameters"] = parameters
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {
                    "schema": _model_ref(spec.body, schemas, "validation")}},
            }
        paths.setdefault(spec.path, {})[spec.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Agency Accounts & Payouts API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "platformKey": {"type": "http", "scheme": "bearer"},
            },
        },
    }

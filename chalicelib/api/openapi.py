"""OpenAPI 3.1 document built from the same route table and pydantic models the API uses."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.api.http import ROUTES

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
            },
        }
    },
}


ERROR_REF = {"$ref": "#/components/schemas/Error"}


def build_document() -> dict[str, Any]:
    """Describe every registered route."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for spec in ROUTES:
        operation: dict[str, Any] = {
            "summary": spec.summary,
            "operationId": f"{spec.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', spec.path.lower())}",
            "tags": [spec.tag],
            "responses": {
                str(spec.status): {"description": "done, no content"} if spec.status == 204
                else {
                    "description": "success",
                    "content": {"application/json": {"schema": {}}},
                },
                **({"204": {"description": "done, no content"}} if spec.method == "DELETE"
                   else {}),
                "4XX": {
                    "description": "error",
                    "content": {"application/json": {"schema": ERROR_REF}},
                },
                "5XX": {
                    "description": "dependency unavailable",
                    "content": {"application/json": {"schema": ERROR_REF}},
                },
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
            schema = spec.body.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in schema.pop("$defs", {}).items():
                schemas[name] = definition
            schemas[spec.body.__name__] = schema
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{spec.body.__name__}"}}},
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

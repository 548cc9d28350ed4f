"""Health and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import RequestContext, route

bp = Blueprint(__name__)


@route(bp, "/v1/health", "GET", auth="none", summary="Health: the table is reachable")
def health(ctx: RequestContext) -> dict[str, Any]:
    """200 when DynamoDB answers."""
    from chalicelib.services.health import check_table

    check_table()
    return {"status": "ok"}


@route(bp, "/v1/openapi.json", "GET", auth="none", summary="This API, described")
def openapi(ctx: RequestContext) -> dict[str, Any]:
    """The OpenAPI 3.1 document generated from the route table and body models."""
    from chalicelib.api.openapi import build_document

    return build_document()

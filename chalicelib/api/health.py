"""Health and the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from chalice.app import Blueprint

from chalicelib.api.http import RequestContext, route
from chalicelib.api.openapi import build_document
from chalicelib.api.render import AnswerModel
from chalicelib.services.health import check_table

bp = Blueprint(__name__)


class HealthOut(AnswerModel):
    """The table answered."""

    status: Literal["ok"]


class OpenApiDocumentOut(AnswerModel):
    """An OpenAPI 3.1 document."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


@route(bp, "/v1/health", "GET", auth="none", response=HealthOut,
       summary="Health: the table is reachable")
def health(ctx: RequestContext) -> dict[str, Any]:
    """200 when DynamoDB answers (503 ``temporarily_unavailable`` when it does not)."""
    check_table()
    return {"status": "ok"}


@route(bp, "/v1/openapi.json", "GET", auth="none", response=OpenApiDocumentOut,
       summary="This API, described")
def openapi(ctx: RequestContext) -> dict[str, Any]:
    """The OpenAPI 3.1 document generated from the route table and body models."""
    return build_document()

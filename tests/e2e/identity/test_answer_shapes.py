"""Every identity route answers what the OpenAPI document declares: the success body
validates against the route's response model (strictly: no missing, extra or mistyped
field), and an error's code is one the route lists for that status."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.identity.support import fresh_email, invite, join, token_from_outbox
from tests.helpers import Answer, call, create_agency

#: Errors every route may answer (``chalicelib.api.openapi``).
COMMON = {400: {"malformed_request"}, 401: {"unauthenticated"}, 422: {"validation_failed"},
          503: {"temporarily_unavailable"}}


def route_of(method: str, path: str) -> Any:
    """The registered route (``RouteSpec``) that serves ``method path``."""
    from app import app  # noqa: F401  (registers every route)
    from chalicelib.api.http import ROUTES

    concrete = path.split("?")[0].strip("/").split("/")
    for spec in ROUTES:
        template = spec.path.strip("/").split("/")
        if spec.method == method and len(template) == len(concrete) and all(
                part == given or part.startswith("{") for part, given in zip(
                    template, concrete, strict=True)):
            return spec
    raise AssertionError(f"no route for {method} {path}")


def checked(client: Any, method: str, path: str, **options: Any) -> Answer:
    """Call, then check the answer against what the route declares."""
    answer = call(client, method, path, **options)
    spec = route_of(method, path)
    if answer.status < 300:
        if spec.response is None:
            assert answer.status == 204 and answer.body is None, (method, path, answer.body)
        else:
            spec.response.model_validate_json(json.dumps(answer.body), strict=True)
    else:
        declared = COMMON.get(answer.status, set()) | set(spec.errors.get(answer.status, ()))
        assert answer.error_code in declared, (method, path, answer.status, answer.body)
    return answer


def test_every_identity_answer_has_its_declared_shape(app_client: Any) -> None:
    agency = create_agency(app_client, plan="agency_lite")
    owner = agency.owner_token
    assert checked(app_client, "GET", "/v1/health").status == 200
    assert checked(app_client, "GET", "/v1/openapi.json").status == 200
    assert checked(app_client, "POST", "/v1/auth/login", body={
        "email": agency.owner_email, "password": agency.owner_password}).status == 200
    assert checked(app_client, "POST", "/v1/auth/login", body={
        "email": agency.owner_email, "password": "wrong-password"}).status == 401
    assert checked(app_client, "GET", "/v1/me", token=owner).status == 200
    assert checked(app_client, "GET", "/v1/agency", token=owner).status == 200
    assert checked(app_client, "PATCH", "/v1/agency", token=owner, body={
        "name": "Renamed", "low_balance_threshold_minutes": "12.5"}).status == 200
    assert checked(app_client, "PATCH", "/v1/agency", token=owner,
                   body={"plan": "no_such_plan"}).status == 422

    admin = join(app_client, owner, "agency_admin")
    email = fresh_email()
    invited = checked(app_client, "POST", "/v1/invitations", token=owner, body={
        "email": email, "role": "subaccount_member", "subaccount_access": "all"})
    assert invited.status == 201
    assert checked(app_client, "POST", "/v1/users", token=owner, body={
        "email": email, "role": "agency_member", "subaccount_access": "all"}
    ).error_code == "email_taken"
    assert checked(app_client, "GET", "/v1/invitations?limit=1", token=owner).status == 200
    assert checked(app_client, "POST", f"/v1/invitations/{invited.body['id']}/resend",
                   token=owner).status == 200
    accepted = checked(app_client, "POST", "/v1/auth/invitations/accept", body={
        "token": token_from_outbox(app_client, email), "password": "member-password-1"})
    assert accepted.status == 200
    assert checked(app_client, "POST", f"/v1/invitations/{invited.body['id']}/resend",
                   token=owner).error_code == "invitation_not_pending"
    other = invite(app_client, owner, fresh_email(), "agency_member")
    assert checked(app_client, "DELETE", f"/v1/invitations/{other.body['id']}",
                   token=owner).status == 204
    assert checked(app_client, "POST", "/v1/auth/invitations/accept", body={
        "token": "no-such-token", "password": "member-password-1"}).status == 404

    member_id = accepted.body["user"]["id"]
    assert checked(app_client, "GET", "/v1/users?limit=2", token=owner).status == 200
    assert checked(app_client, "PATCH", f"/v1/users/{member_id}", token=owner,
                   body={"role": "subaccount_admin"}).status == 200
    assert checked(app_client, "PATCH", f"/v1/users/{agency.owner_id}", token=admin.token,
                   body={"role": "agency_member"}).error_code == "owner_protected"
    assert checked(app_client, "DELETE", f"/v1/users/{member_id}", token=owner).status == 204
    assert checked(app_client, "DELETE", f"/v1/users/{member_id}",
                   token=owner).error_code == "user_not_found"

    assert checked(app_client, "GET", "/v1/audit-log?limit=3", token=owner).status == 200
    assert checked(app_client, "GET", "/v1/audit-log?from=2026-02-02&to=2026-02-01",
                   token=owner).status == 422
    assert checked(app_client, "GET", "/v1/notifications", token=owner).status == 200
    assert checked(app_client, "GET", "/v1/notifications?cursor=forged",
                   token=owner).error_code == "invalid_cursor"
    assert checked(app_client, "GET", f"/v1/platform/outbox?to={email}",
                   platform=True).status == 200
    assert checked(app_client, "POST", "/v1/platform/agencies", platform=True, body={
        "name": "Twin", "owner_email": agency.owner_email, "owner_password": "pass-word-1",
        "plan": "agency_lite", "subscription_start": "2026-01-01"}).error_code == "email_taken"

    assert checked(app_client, "POST", "/v1/agency/ownership-transfer", token=admin.token,
                   body={"user_id": agency.owner_id}).status == 403
    assert checked(app_client, "POST", "/v1/agency/ownership-transfer", token=owner,
                   body={"user_id": admin.user_id}).status == 200
    # The transfer ended both users' sessions: the new owner signs in again.
    signed_in = checked(app_client, "POST", "/v1/auth/login", body={
        "email": admin.email, "password": admin.password})
    assert checked(app_client, "POST", "/v1/auth/logout",
                   token=signed_in.body["access_token"]).status == 204
    token = call(app_client, "POST", "/v1/auth/login", body={
        "email": admin.email, "password": admin.password}).body["access_token"]
    assert checked(app_client, "DELETE", "/v1/agency", token=token).status == 204

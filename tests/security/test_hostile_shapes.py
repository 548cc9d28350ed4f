"""Issue 18, defect 10: hostile shapes get a clear 4xx, never a 500 (SPEC section 5), and
cursors are opaque and signed: a changed cursor → 400 (SPEC section 3).

Every body route, every ``limit`` and every ``cursor`` route is taken from the live route
table, so a new route is covered without touching this file.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from tests.helpers import AgencyFixture, call, create_agency

NESTED_ARRAYS = b"[" * 100_000 + b"]" * 100_000
NESTED_OBJECTS = b'{"a":' * 5_000 + b"{}" + b"}" * 5_000


def _routes(predicate: Any) -> list[Any]:
    from app import app  # noqa: F401  (registers every route)
    from chalicelib.api.http import ROUTES

    return [spec for spec in ROUTES if predicate(spec)]


def _path(template: str, agency: AgencyFixture) -> str:
    return re.sub(r"{subaccount_id}", agency.primary_id, re.sub(r"{(?!subaccount_id)\w+}",
                                                                  "x1", template))


def _send(client: Any, spec: Any, agency: AgencyFixture, path: str,
          raw: bytes | None = None) -> Any:
    platform = spec.auth == "platform"
    return call(client, spec.method, path, raw=raw, platform=platform,
                token=None if platform else agency.owner_token)


def test_deeply_nested_json_is_a_400_on_every_body_route(app_client: Any) -> None:
    agency = create_agency(app_client)
    specs = _routes(lambda s: s.method in ("POST", "PUT", "PATCH"))
    assert len(specs) > 20
    for spec in specs:
        for raw in (NESTED_ARRAYS, NESTED_OBJECTS):
            answer = _send(app_client, spec, agency, _path(spec.path, agency), raw)
            assert answer.status == 400, (spec.method, spec.path, answer.status, answer.body)
            assert answer.error_code == "malformed_request", answer.body
    # The app still answers normally afterwards.
    assert call(app_client, "GET", "/v1/me", token=agency.owner_token).status == 200


@pytest.mark.parametrize("limit", ["\u00b2", "\u0663", "\uff11", "1\u00b2", "+5", " 5", "5.0"])
def test_a_limit_that_is_not_plain_ascii_digits_is_a_422(app_client: Any, limit: str) -> None:
    agency = create_agency(app_client)
    specs = _routes(lambda s: "limit" in s.query)
    assert len(specs) >= 8
    for spec in specs:
        path = f"{_path(spec.path, agency)}?limit={limit}"
        answer = _send(app_client, spec, agency, path)
        assert answer.status == 422, (spec.path, limit, answer.status, answer.body)


def _forged(pk: str, sk: dict[str, str]) -> str:
    raw = json.dumps({"PK": {"S": pk}, "SK": sk}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_forged_or_garbled_cursor_is_a_400_on_every_list_route(app_client: Any) -> None:
    agency = create_agency(app_client)
    pk = f"AGENCY#{agency.agency_id}"
    cursors = [
        "garbage", "", "a.b", "." * 3, "x" * 5000,
        _forged(pk, {"N": "1"}),  # the right partition, a wrong key type (was a 500)
        _forged(pk, {"S": "ZZZ"}),
        _forged(f"AGENCY#{agency.agency_id}#NOTIFY", {"S": "2026"}),
    ]
    specs = _routes(lambda s: "cursor" in s.query)
    assert len(specs) >= 8
    for spec in specs:
        for cursor in cursors:
            if not cursor:
                continue
            answer = _send(app_client, spec, agency, f"{_path(spec.path, agency)}?cursor={cursor}")
            assert answer.status == 400, (spec.path, cursor[:40], answer.status, answer.body)


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _with_char(cursor: str, index: int, flip: int) -> str:
    """``cursor`` with the base64 character at ``index`` XOR-ed by ``flip`` (6 bits)."""
    return cursor[:index] + B64[B64.index(cursor[index]) ^ flip] + cursor[index + 1:]


def _flip(cursor: str) -> list[str]:
    """A few changed copies of a cursor: one character each, at the start, middle and end.

    The last character of unpadded base64 carries only 2 or 4 bits of data in its top bits
    (the rest is padding): flipping its top bit always changes the bytes. (Replacing it by
    "A"/"B", as this did before, changed only padding bits whenever it was an "A", a
    quarter of the signatures: the test then failed at random.)"""
    return [_with_char(cursor, 0, 0b000001), _with_char(cursor, len(cursor) // 2, 0b000001),
            _with_char(cursor, len(cursor) - 1, 0b100000)]


def test_a_cursor_changed_only_in_its_padding_bits_is_a_400(app_client: Any) -> None:
    """SPEC: a changed cursor → 400, even when the change decodes to the same bytes."""
    from tests.e2e.identity.support import fresh_email, invite

    agency = create_agency(app_client)
    for _ in range(2):
        assert invite(app_client, agency.owner_token, fresh_email(), "agency_member").status == 201
    first = call(app_client, "GET", "/v1/invitations?limit=1", token=agency.owner_token)
    cursor = first.body["next_cursor"]
    changed = _with_char(cursor, len(cursor) - 1, 0b000001)  # a padding bit of the 16 bytes
    assert changed != cursor
    answer = call(app_client, "GET", f"/v1/invitations?limit=1&cursor={changed}",
                  token=agency.owner_token)
    assert answer.status == 400, answer.body


def test_a_changed_cursor_is_a_400_and_the_real_one_pages_on(app_client: Any) -> None:
    from tests.e2e.identity.support import fresh_email, invite

    agency = create_agency(app_client)
    for _ in range(3):
        assert invite(app_client, agency.owner_token, fresh_email(), "agency_member").status == 201
    for path, key in (("/v1/invitations", "invitations"), ("/v1/audit-log", "events")):
        first = call(app_client, "GET", f"{path}?limit=1", token=agency.owner_token)
        assert first.status == 200, first.body
        cursor = first.body["next_cursor"]
        assert cursor and "AGENCY#" not in cursor
        decoded = base64.urlsafe_b64decode(cursor.split(".")[0] + "==")
        assert agency.agency_id.encode() not in decoded  # opaque: no partition key inside
        for changed in _flip(cursor):
            answer = call(app_client, "GET", f"{path}?limit=1&cursor={changed}",
                          token=agency.owner_token)
            assert answer.status == 400, (path, answer.body)
        nxt = call(app_client, "GET", f"{path}?limit=1&cursor={cursor}",
                   token=agency.owner_token)
        assert nxt.status == 200 and nxt.body[key], nxt.body
        assert nxt.body[key][0] != first.body[key][0]


def test_a_cursor_of_one_list_is_refused_by_another(app_client: Any) -> None:
    """Users and invitations share the agency's partition: a valid cursor of one list is
    still a changed cursor for the other (and not a 500 from DynamoDB)."""
    from tests.e2e.identity.support import fresh_email, invite, join

    agency = create_agency(app_client)
    join(app_client, agency.owner_token, "agency_member")
    invite(app_client, agency.owner_token, fresh_email(), "agency_member")
    invite(app_client, agency.owner_token, fresh_email(), "agency_member")
    users = call(app_client, "GET", "/v1/users?limit=1", token=agency.owner_token)
    assert users.body["next_cursor"], users.body
    answer = call(app_client, "GET", f"/v1/invitations?cursor={users.body['next_cursor']}",
                  token=agency.owner_token)
    assert answer.status == 400, answer.body


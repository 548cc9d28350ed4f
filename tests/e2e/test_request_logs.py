"""Observability (SPEC sections 3 and 4): every answer carries ``X-Request-Id``; the app
writes one JSON line per request with that id as its correlation id, and no line ever holds
an email address, a password or a token; business counts leave as embedded metrics."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import call, create_agency


class JsonLines(logging.Handler):
    """The app's log records, formatted exactly as they leave (Powertools' JSON)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[dict[str, Any]] = []
        self.text: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.text.append(line)
        self.lines.append(json.loads(line))


@pytest.fixture
def app_logs() -> Iterator[JsonLines]:
    from chalicelib.observability import SERVICE, logger

    handler = JsonLines()
    handler.setFormatter(logger.registered_formatter)
    stdlib = logging.getLogger(SERVICE)
    stdlib.addHandler(handler)
    try:
        yield handler
    finally:
        stdlib.removeHandler(handler)


def requests_logged(logs: JsonLines) -> list[dict[str, Any]]:
    return [line for line in logs.lines if line.get("message") == "request"]


class TestRequestId:
    def test_every_answer_has_a_request_id_and_errors_repeat_it(self, app_client: Any) -> None:
        ok = call(app_client, "GET", "/v1/health")
        missing = call(app_client, "GET", "/v1/me")
        assert ok.status == 200 and missing.status == 401
        assert ok.headers["X-Request-Id"] and missing.headers["X-Request-Id"]
        assert ok.headers["X-Request-Id"] != missing.headers["X-Request-Id"]
        assert missing.body["error"]["request_id"] == missing.headers["X-Request-Id"]

    def test_the_callers_id_is_kept_when_plain_and_replaced_when_not(self,
                                                                    app_client: Any) -> None:
        mine = call(app_client, "GET", "/v1/health", headers={"X-Request-Id": "req-42.a_b"})
        assert mine.headers["X-Request-Id"] == "req-42.a_b"
        for hostile in ("x" * 129, "has space", "<script>", "ünïcode"):
            answer = call(app_client, "GET", "/v1/health", headers={"X-Request-Id": hostile})
            assert answer.headers["X-Request-Id"] not in (hostile, "")

    def test_cors_exposes_the_request_id(self, app_client: Any) -> None:
        answer = call(app_client, "GET", "/v1/health")
        assert "X-Request-Id" in answer.headers.get("Access-Control-Expose-Headers", "")


class TestRequestLogs:
    def test_one_json_line_per_request_with_its_id(self, app_client: Any,
                                                    app_logs: JsonLines) -> None:
        agency = create_agency(app_client)
        app_logs.lines.clear()
        answer = call(app_client, "GET", "/v1/me", token=agency.owner_token,
                      headers={"X-Request-Id": "trace-me-1"})
        assert answer.status == 200
        logged = requests_logged(app_logs)
        assert len(logged) == 1
        line = logged[0]
        assert line["correlation_id"] == "trace-me-1"
        assert (line["method"], line["route"], line["status"]) == ("GET", "/v1/me", 200)
        assert isinstance(line["duration_ms"], int) and line["duration_ms"] >= 0
        assert (line["agency_id"], line["user_id"]) == (agency.agency_id, agency.owner_id)

    def test_no_line_holds_an_email_a_password_or_a_token(self, app_client: Any,
                                                          app_logs: JsonLines) -> None:
        agency = create_agency(app_client)
        invitee = "logged-invitee@example.com"
        invited = call(app_client, "POST", "/v1/invitations", token=agency.owner_token,
                       body={"email": invitee, "role": "agency_member",
                             "subaccount_access": "all"})
        assert invited.status == 201, invited.body
        wrong = call(app_client, "POST", "/v1/auth/login",
                     body={"email": agency.owner_email, "password": "Not-The-Pass-99"})
        assert wrong.status == 401
        call(app_client, "GET", "/v1/me", token=agency.owner_token)
        text = "\n".join(app_logs.text)
        assert requests_logged(app_logs)
        for secret in (agency.owner_email, invitee, agency.owner_password, "Not-The-Pass-99",
                       agency.owner_token, "@"):
            assert secret not in text, secret

    def test_a_crash_is_logged_without_what_its_message_said(
            self, app_client: Any, app_logs: JsonLines, monkeypatch: pytest.MonkeyPatch) -> None:
        from chalicelib.services import agencies

        def crash(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom for someone@example.com password=Hunter2-Secret")

        monkeypatch.setattr(agencies, "create_agency", crash)
        answer = call(app_client, "POST", "/v1/platform/agencies", platform=True, body={
            "name": "Crash", "owner_email": "crash@example.com", "owner_password": "x" * 12,
            "plan": "agency_pro", "subscription_start": "2026-01-01"})
        assert answer.status == 500
        crash_lines = [line for line in app_logs.lines if line["message"] == "unhandled error"]
        assert crash_lines and crash_lines[0]["error"] == "RuntimeError"
        assert crash_lines[0]["correlation_id"] == answer.headers["X-Request-Id"]
        text = "\n".join(app_logs.text)
        assert "someone@example.com" not in text and "Hunter2-Secret" not in text


def test_a_job_run_writes_one_line(app_client: Any, app_logs: JsonLines) -> None:
    answer = call(app_client, "POST", "/v1/platform/jobs/call-holds/runs", platform=True,
                  body={"as_of": "2026-06-01T00:00:00Z"})
    assert answer.status == 200, answer.body
    runs = [line for line in app_logs.lines if line["message"] == "job run"]
    assert len(runs) == 1
    assert (runs[0]["job"], runs[0]["outcome"]) == ("call-holds", "done")
    assert runs[0]["processed"] == answer.body["processed"]


def test_5xx_and_503_answers_are_counted_for_the_alarms(
        app_client: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    from chalicelib.domain.errors import TemporarilyUnavailable
    from chalicelib.services import agencies
    from tests.e2e.payments.test_money_metrics import emitted

    body = {"name": "Crash", "owner_email": "crash2@example.com", "owner_password": "x" * 12,
            "plan": "agency_pro", "subscription_start": "2026-01-01"}

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise TemporarilyUnavailable("the database is temporarily unavailable")

    capsys.readouterr()
    monkeypatch.setattr(agencies, "create_agency", crash)
    assert call(app_client, "POST", "/v1/platform/agencies", platform=True, body=body
                ).status == 500
    monkeypatch.setattr(agencies, "create_agency", unavailable)
    assert call(app_client, "POST", "/v1/platform/agencies", platform=True, body=body
                ).status == 503
    assert emitted(capsys.readouterr().out) == {"Http5xx": 1, "Http503": 1}

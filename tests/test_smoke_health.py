"""The app answers health and describes itself."""

from __future__ import annotations

import json


class TestHealth:
    def test_health_answers_ok_when_the_table_is_reachable(self, app_client) -> None:
        response = app_client.http.get("/v1/health")
        assert response.status_code == 200
        assert json.loads(response.body) == {"status": "ok"}

    def test_openapi_lists_the_health_route(self, app_client) -> None:
        response = app_client.http.get("/v1/openapi.json")
        document = json.loads(response.body)
        assert "/v1/health" in document["paths"]

"""Chalice application: wiring only (blueprints, schedules, webhook). No business logic here."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.config import get_settings

get_settings()  # fail fast at import with the names of missing/malformed variables

app = Chalice(app_name="agency-accounts")
app.api.binary_types = []

from chalicelib.api import health  # noqa: E402

app.register_blueprint(health.bp)

"""Report tests share one table and one app client per module (agencies keep them apart).

Resetting the emulator and hashing a fresh owner's password cost about a second per test;
report tests only read what their module's fixtures wrote, each in its own agency, so one
reset per module is enough.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ROOT, reset_table


@pytest.fixture(scope="module")
def reports_client() -> Iterator[Any]:
    """A chalice test client on a table reset once for the module."""
    from chalice.test import Client

    from app import app

    reset_table()
    with Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        yield client

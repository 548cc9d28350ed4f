"""Health check: can we read the table?"""

from __future__ import annotations

from chalicelib.store.base import check_table_reachable


def check_table() -> None:
    """Raises ``StorageUnavailable`` (503) when the table cannot be read."""
    check_table_reachable()

"""Health check: can we read the table?"""

from __future__ import annotations

from pynamodb.exceptions import PynamoDBException

from chalicelib.store.accounts import Agency
from chalicelib.store.transact import StorageUnavailable


def check_table() -> None:
    """One cheap GetItem; raises StorageUnavailable (503) when the table is unreachable."""
    try:
        Agency.get("HEALTH", "HEALTH")
    except Agency.DoesNotExist:
        return
    except PynamoDBException as exc:
        raise StorageUnavailable("the table is not reachable") from exc

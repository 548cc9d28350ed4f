"""Release call holds whose call never reported its usage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.services.sweeps import Deadline, job_summary


def call_hold_release(as_of: datetime, deadline: Deadline | None = None) -> dict[str, Any]:
    """Sweep the due index for expired holds and give their seconds back."""
    from chalicelib.services.usage import release_expired_holds

    result = release_expired_holds(as_of)
    return job_summary("call-holds", as_of, processed=result["released"] + result["failed"],
                       succeeded=result["released"], failed=result["failed"],
                       skipped=result["skipped"])

"""The agency's timezone: which calendar day an event belongs to.

Reports and the Monthly Overview speak in dates of the agency's timezone (IANA name stored
on the agency, default UTC). Each daily counter is keyed by the local date of its event in
the timezone the agency has when the event is recorded, so a report for a range of local
dates reads exactly the day rows of those dates. Changing the timezone applies from then
on; days already counted keep the dates they were counted under (README "Reports").

The zone rules come from the IANA database: the system's, or the ``tzdata`` package where
the runtime has none (Lambda images may not).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from chalicelib.domain.errors import ValidationFailed

#: The timezone of an agency that never chose one.
DEFAULT_TIMEZONE = "UTC"


#: Names some hosts' zone directories hold that are not zones of their own.
_HOST_SPECIFIC = frozenset({"localtime", "posixrules", "posix", "right"})


@lru_cache(maxsize=1)
def _known_names() -> frozenset[str]:
    # Walks the zone database once per process; only PATCH /v1/agency and agency creation
    # ask, never a money path.
    return (frozenset(available_timezones()) | {DEFAULT_TIMEZONE}) - _HOST_SPECIFIC


def is_known_timezone(name: object) -> bool:
    """Whether ``name`` is an IANA zone name such as ``America/New_York`` (case-sensitive).

    Host-specific names that ``ZoneInfo`` would also open (``localtime``, ``posixrules``)
    are refused: the answer must not depend on the machine.
    """
    return isinstance(name, str) and name in _known_names()


def require_known_timezone(name: object, field_name: str = "timezone") -> str:
    """``name`` if it is an IANA zone name, else 422 naming the field."""
    if not is_known_timezone(name):
        raise ValidationFailed("unknown timezone: use an IANA name such as America/New_York",
                               details={"field": field_name})
    return str(name)


@lru_cache(maxsize=256)
def zone_of(name: str | None) -> tzinfo:
    """The zone called ``name``; an empty or unknown name (never stored by the API) is UTC.

    A money path must not fail because of a report setting, hence the fallback.
    """
    if not name or name == DEFAULT_TIMEZONE:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


def local_date(moment: datetime, timezone: str | None) -> date:
    """The calendar date of ``moment`` (timezone-aware; naive means UTC) in ``timezone``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone_of(timezone)).date()

"""Resources of a sub-account: the four kinds, their statuses, and what a suspension or a
removal does to each; phone numbers in strict E.164.

Pure rules: no I/O (``phonenumbers`` loads a region's metadata on first use, not at import).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from chalicelib.domain.errors import NotFound, ValidationFailed


@dataclass(frozen=True)
class ResourceType:
    """One kind of resource: its route segment, stored type, statuses and suspension pair.

    ``running`` is the status a suspension pauses and ``stopped`` the status it sets; phone
    numbers have neither (they keep working for history; removal releases them).
    """

    route: str
    type: str
    id_prefix: str
    statuses: tuple[str, ...]
    default_status: str
    running: str | None = None
    stopped: str | None = None


RESOURCE_TYPES: dict[str, ResourceType] = {
    t.route: t
    for t in (
        ResourceType("campaigns", "campaign", "cmp", ("active", "paused"), "active",
                     "active", "paused"),
        ResourceType("agents", "agent", "agt", ("active", "inactive"), "active",
                     "active", "inactive"),
        ResourceType("automations", "automation", "aut", ("enabled", "disabled"), "enabled",
                     "enabled", "disabled"),
        ResourceType("phone-numbers", "phone_number", "pn", ("active",), "active"),
    )
}
BY_TYPE: dict[str, ResourceType] = {t.type: t for t in RESOURCE_TYPES.values()}

#: Status a phone number gets when its sub-account is removed (the number is given back).
RELEASED = "released"

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def resource_type(route: str) -> ResourceType:
    """The resource type of a route segment (``campaigns`` …); else 404."""
    try:
        return RESOURCE_TYPES[route]
    except KeyError:
        raise NotFound("no such resource type") from None


def phone_number_id(number: str) -> str:
    """A phone number's resource id, derived from the number: one sub-account cannot hold
    the same number twice."""
    return f"pn_{number[1:]}"


def normalize_e164(raw: str) -> str:
    """A phone number in strict E.164, validated with ``phonenumbers``; else 422."""
    error = ValidationFailed(
        "number must be a valid phone number in E.164 format, e.g. +14155550123",
        code="invalid_phone_number", details={"field": "number"})
    text = raw.strip()
    if not _E164.match(text):
        raise error
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise error from None
    if not phonenumbers.is_valid_number(parsed):
        raise error
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def stop_status(resource_type: str, status: str) -> str | None:
    """What removal sets on a resource of ``resource_type`` now in ``status``: a number is
    released, whatever runs is stopped; None when there is nothing to do."""
    if resource_type == "phone_number":
        return None if status == RELEASED else RELEASED
    kind = BY_TYPE.get(resource_type)
    if kind is None or kind.stopped is None or status == kind.stopped:
        return None
    return kind.stopped

"""Request bodies shared across blueprints (area-specific ones live next to their routes)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt


class StrictBody(BaseModel):
    """Base of every request body: unknown fields are refused (typos must not pass silently)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")


def _email(value: str) -> str:
    # Deliberately lenient (RFC 5322 is wider than any regex); the real proof is the
    # invitation email reaching its reader. Stored lower-case: emails are case-insensitive.
    value = value.strip().lower()
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value


#: An email address, normalised to lower case.
Email = Annotated[str, AfterValidator(_email)]

#: A decimal amount as it may arrive: a decimal string or an integer (never a float).
DecimalInput = str | StrictInt


class CreateAgencyBody(StrictBody):
    """``POST /v1/platform/agencies``."""

    name: str = Field(min_length=1, max_length=120)
    owner_email: Email
    owner_password: str = Field(min_length=1, max_length=256)
    plan: str = Field(min_length=1, max_length=64)
    subscription_start: date
    timezone: str = Field(default="UTC", min_length=1, max_length=64)  # IANA name


class LoginBody(StrictBody):
    """``POST /v1/auth/login``."""

    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=256)

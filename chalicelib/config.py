"""Runtime configuration: every environment variable, read and validated once.

A missing or malformed value stops start-up with a message naming the variable, so a
misconfigured Lambda fails at import instead of on the first paying customer.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(RuntimeError):
    """Raised when the environment does not describe a runnable deployment."""


class Settings(BaseSettings):
    """The environment contract of SPEC section 4 (plus a few tunables with defaults)."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    table_name: str = Field(min_length=3)
    aws_endpoint_url_dynamodb: str | None = None
    aws_default_region: str = "us-east-1"
    stripe_secret_key: str = Field(min_length=3)
    stripe_api_base: str | None = None
    stripe_webhook_secret: str = Field(min_length=3)
    stripe_connect_webhook_secret: str = Field(min_length=3)
    jwt_secret: str = Field(min_length=16)
    platform_api_key: str = Field(min_length=8)
    public_base_url: str = "http://127.0.0.1:8080"
    outbox_enabled: bool = False
    cors_allow_origins: str = "*"
    access_token_ttl_seconds: int = Field(default=3600, ge=60, le=86400)
    email_sender: str = "no-reply@agency-accounts.local"

    @field_validator("aws_endpoint_url_dynamodb", "stripe_api_base", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @property
    def cors_origins(self) -> list[str]:
        """The configured CORS origins as a list (``*`` allowed)."""
        return [origin.strip() for origin in self.cors_allow_origins.split(",") if origin.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the validated settings, built once per container."""
    try:
        return Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        names = ", ".join(
            str(err["loc"][0]).upper() for err in exc.errors() if err.get("loc")
        )
        raise ConfigurationError(f"invalid or missing environment variables: {names}") from exc

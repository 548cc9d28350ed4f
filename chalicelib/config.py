"""Runtime configuration: every environment variable, read and validated once.

A missing or malformed value stops start-up with a message naming the variable, so a
misconfigured Lambda fails at import instead of on the first paying customer.

Secrets (SPEC section 4). ``APP_STAGE`` says where the app runs: ``local`` (the local stack),
``test`` (the test suite) or ``aws``, the default, so a deployment that forgets it gets the
strict behaviour. In the local stack and the tests each secret is a plain variable
(``JWT_SECRET=...``). In AWS a plain value is refused: ``<NAME>_PARAM`` names the Secrets
Manager secret that holds it (``JWT_SECRET_PARAM=agency-accounts/prod/jwt-secret``), read
through Powertools' parameters utility and cached per container for
``SECRETS_MAX_AGE_SECONDS`` (so a rotated secret is picked up without a deploy). There, a
placeholder, a value published in this repository (local or test defaults), a short value or
a Stripe secret without Stripe's prefix stops the app at start, naming the variable, never
showing the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from pydantic import Field, PrivateAttr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(RuntimeError):
    """Raised when the environment does not describe a runnable deployment."""


#: Stages whose secrets are plain environment values (the local stack and the tests).
LOCAL_STAGES = frozenset({"local", "test"})


@dataclass(frozen=True)
class SecretRule:
    """What a secret must look like outside the local stack."""

    variable: str
    min_length: int = 32
    prefixes: tuple[str, ...] = ()
    #: In the local stack and the tests: only a floor against an empty or one-letter value.
    local_min_length: int = 3

    @property
    def param_variable(self) -> str:
        """The variable naming the Secrets Manager secret that holds it."""
        return f"{self.variable}_PARAM"


#: Every secret of the app, by settings attribute. A new one: a rule here, its two fields
#: (``<attr>_plain`` with the plain variable as alias, ``<attr>_param``) and a property.
SECRET_RULES: dict[str, SecretRule] = {
    # Stripe's secret keys are sk_…, restricted keys rk_… (a publishable pk_ key is refused).
    "stripe_secret_key": SecretRule("STRIPE_SECRET_KEY", prefixes=("sk_", "rk_")),
    "stripe_webhook_secret": SecretRule("STRIPE_WEBHOOK_SECRET", prefixes=("whsec_",)),
    "stripe_connect_webhook_secret": SecretRule("STRIPE_CONNECT_WEBHOOK_SECRET",
                                                prefixes=("whsec_",)),
    "jwt_secret": SecretRule("JWT_SECRET", local_min_length=16),
    "platform_api_key": SecretRule("PLATFORM_API_KEY", local_min_length=8),
}

#: Secret values published in this repository (local stack, tests, benchmark): never real.
KNOWN_DEFAULTS = frozenset({
    "sk_test_local", "whsec_local", "whsec_local_connect",
    "local-jwt-secret-change-me-0123456789", "local-platform-key",
    "whsec_test", "whsec_test_connect", "test-jwt-secret-0123456789abcdef", "test-platform-key",
    "whsec_bench", "bench-jwt-secret-0123456789abcdef", "bench-platform-key",
})
#: Markers of a value meant to be replaced (``REPLACE_AT_DEPLOY``, ``change-me``…).
PLACEHOLDER = re.compile(r"replace|change[-_ ]?me|placeholder|your[-_ ](secret|key)", re.I)


def secret_problem(rule: SecretRule, value: str) -> str | None:
    """Why ``value`` cannot be the secret ``rule`` describes outside the local stack (the
    message names the variable, never the value), or None."""
    name = rule.variable
    if PLACEHOLDER.search(value):
        return f"{name} is a placeholder"
    if value in KNOWN_DEFAULTS:
        return f"{name} is a default of the local stack or the tests"
    if value != value.strip():
        return f"{name} has leading or trailing whitespace"
    if rule.prefixes and not value.startswith(rule.prefixes):
        return f"{name} does not start with {' or '.join(rule.prefixes)}"
    if len(value) < rule.min_length:
        return f"{name} is shorter than {rule.min_length} characters"
    return None


class Settings(BaseSettings):
    """The environment contract of SPEC section 4 (plus a few tunables with defaults)."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    app_stage: Literal["local", "test", "aws"] = "aws"
    table_name: str = Field(min_length=3)
    aws_endpoint_url_dynamodb: str | None = None
    aws_default_region: str = "us-east-1"
    stripe_api_base: str | None = None
    public_base_url: str = "http://127.0.0.1:8080"
    outbox_enabled: bool = False
    cors_allow_origins: str = "*"
    access_token_ttl_seconds: int = Field(default=3600, ge=60, le=86400)
    email_sender: str = "no-reply@agency-accounts.local"

    # -- secrets (SECRET_RULES): a plain value (local stack) or a Secrets Manager name --
    stripe_secret_key_plain: str | None = Field(None, alias="STRIPE_SECRET_KEY")
    stripe_secret_key_param: str | None = None
    stripe_webhook_secret_plain: str | None = Field(None, alias="STRIPE_WEBHOOK_SECRET")
    stripe_webhook_secret_param: str | None = None
    stripe_connect_webhook_secret_plain: str | None = Field(
        None, alias="STRIPE_CONNECT_WEBHOOK_SECRET")
    stripe_connect_webhook_secret_param: str | None = None
    jwt_secret_plain: str | None = Field(None, alias="JWT_SECRET")
    jwt_secret_param: str | None = None
    platform_api_key_plain: str | None = Field(None, alias="PLATFORM_API_KEY")
    platform_api_key_param: str | None = None
    secrets_max_age_seconds: int = Field(default=300, ge=1, le=86400)
    #: Set by the Chalice CLI while it loads the app (``chalice package``/``deploy``/``local``).
    aws_chalice_cli_mode: bool = False

    _secrets_provider: Any = PrivateAttr(default=None)

    @field_validator("aws_endpoint_url_dynamodb", "stripe_api_base", "stripe_secret_key_plain",
                     "stripe_webhook_secret_plain", "stripe_connect_webhook_secret_plain",
                     "jwt_secret_plain", "platform_api_key_plain", "stripe_secret_key_param",
                     "stripe_webhook_secret_param", "stripe_connect_webhook_secret_param",
                     "jwt_secret_param", "platform_api_key_param", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @property
    def cors_origins(self) -> list[str]:
        """The configured CORS origins as a list (``*`` allowed)."""
        return [origin.strip() for origin in self.cors_allow_origins.split(",") if origin.strip()]

    @property
    def is_local(self) -> bool:
        """The local stack or the tests: secrets may be plain environment values."""
        return self.app_stage in LOCAL_STAGES

    # -- the secrets, read where they live each time (Powertools caches them) --

    @property
    def stripe_secret_key(self) -> str:
        """Stripe's secret (or restricted) API key."""
        return self.secret("stripe_secret_key")

    @property
    def stripe_webhook_secret(self) -> str:
        """Signing secret of the platform's webhook endpoint."""
        return self.secret("stripe_webhook_secret")

    @property
    def stripe_connect_webhook_secret(self) -> str:
        """Signing secret of the Connect webhook endpoint (connected accounts' events)."""
        return self.secret("stripe_connect_webhook_secret")

    @property
    def jwt_secret(self) -> str:
        """HS256 key of the access tokens."""
        return self.secret("jwt_secret")

    @property
    def platform_api_key(self) -> str:
        """Bearer key of the platform operator routes."""
        return self.secret("platform_api_key")

    def secret(self, attr: str) -> str:
        """The value of the secret ``attr`` (a key of ``SECRET_RULES``), checked."""
        value, problem = self._read_secret(attr)
        if problem is not None:
            raise ConfigurationError(problem)
        assert value is not None
        return value

    def secret_problems(self) -> list[str]:
        """Every secret read once and checked: what stops the app at start (empty: none)."""
        return [problem for attr in SECRET_RULES
                if (problem := self._read_secret(attr)[1]) is not None]

    def _read_secret(self, attr: str) -> tuple[str | None, str | None]:
        rule = SECRET_RULES[attr]
        plain: str | None = getattr(self, f"{attr}_plain")
        param: str | None = getattr(self, f"{attr}_param")
        if not self.is_local and plain is not None:
            return None, (f"{rule.variable} is set as a plain environment variable: outside "
                          f"the local stack it comes from Secrets Manager, named by "
                          f"{rule.param_variable}")
        if param is None:
            if self.is_local:
                if plain is None or len(plain) < rule.local_min_length:
                    return None, f"{rule.variable} is missing or shorter than " \
                                 f"{rule.local_min_length} characters"
                return plain, None
            return None, (f"{rule.param_variable} is missing (the Secrets Manager secret "
                          f"holding {rule.variable})")
        value, problem = self._fetch(rule, param)
        if problem is None and not self.is_local:
            problem = secret_problem(rule, value)
        return (value, None) if problem is None else (None, problem)

    def _fetch(self, rule: SecretRule, name: str) -> tuple[str, str | None]:
        """The secret ``name`` from Secrets Manager, through Powertools' cache."""
        if self._secrets_provider is None:
            self._secrets_provider = SecretsProvider()
        try:
            value = self._secrets_provider.get(name, max_age=self.secrets_max_age_seconds)
        except Exception as exc:  # any failure to read it is a configuration error
            cause = exc.__cause__ or exc.__context__ or exc
            code = getattr(cause, "response", {}).get("Error", {}).get("Code")
            return "", (f"{rule.param_variable}: cannot read the secret {name!r} "
                        f"({code or type(cause).__name__})")
        if not isinstance(value, str):
            return "", f"{rule.param_variable}: the secret {name!r} is not a text secret"
        return value, None


def load_settings() -> Settings:
    """Read and check the environment, secrets included; raises ``ConfigurationError``."""
    try:
        settings = Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        names = ", ".join(
            str(err["loc"][0]).upper() for err in exc.errors() if err.get("loc")
        )
        raise ConfigurationError(f"invalid or missing environment variables: {names}") from exc
    # `chalice package`/`deploy` load the app to read its routes, without its AWS secrets;
    # a Lambda never runs in that mode, and a secret is checked on every read anyway.
    if not (settings.aws_chalice_cli_mode and not settings.is_local):
        problems = settings.secret_problems()
        if problems:
            raise ConfigurationError("refusing to start: " + "; ".join(problems))
    return settings

"""Secrets outside the local stack (SPEC section 4).

In AWS the Stripe key, both webhook secrets, the JWT secret and the platform key come from
Secrets Manager (each named by ``<VARIABLE>_PARAM``), read through Powertools' parameters
utility and cached per container; plain environment values are for the local stack and the
tests only (``APP_STAGE=local|test``; unset means ``aws``). A placeholder, a default of the
local stack or the tests, or a short secret stops the app at start with a message naming the
variable, never showing the value.

Secrets Manager is the moto server the test session already runs (over HTTP, like AWS).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import boto3
import pytest

from bench.env import BENCH_ENV
from chalicelib.config import ConfigurationError, Settings, load_settings
from devstack.defaults import APP_ENV_DEFAULTS
from tests.conftest import ROOT, TEST_ENV

SECRET_VARIABLES = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
                    "STRIPE_CONNECT_WEBHOOK_SECRET", "JWT_SECRET", "PLATFORM_API_KEY")
#: The attribute of the settings each variable is read through.
ATTRIBUTE = {name: name.lower() for name in SECRET_VARIABLES}
PREFIX = {"STRIPE_SECRET_KEY": "sk_live_", "STRIPE_WEBHOOK_SECRET": "whsec_",
          "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_", "JWT_SECRET": "", "PLATFORM_API_KEY": ""}
MIN_LENGTH = 32


def strong_secrets() -> dict[str, str]:
    """Values a real deployment could have: the right prefix, long and random."""
    return {name: PREFIX[name] + secrets.token_urlsafe(33)[:40] for name in SECRET_VARIABLES}


def of_length(name: str, length: int) -> str:
    """A random value of exactly ``length`` characters with the variable's prefix."""
    prefix = PREFIX[name]
    return prefix + secrets.token_hex(length)[:length - len(prefix)]


Store = Callable[[dict[str, str]], dict[str, str]]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The environment of a Lambda in AWS: no APP_STAGE (the default), no plain secret, and
    ``store(values)`` puts each value in Secrets Manager and names it in ``<NAME>_PARAM``."""
    endpoint = TEST_ENV["AWS_ENDPOINT_URL_DYNAMODB"]  # moto serves every AWS service there
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint)
    for name in ("APP_STAGE", *SECRET_VARIABLES, *(f"{n}_PARAM" for n in SECRET_VARIABLES)):
        monkeypatch.delenv(name, raising=False)
    client = boto3.client("secretsmanager", endpoint_url=endpoint,
                          region_name=TEST_ENV["AWS_DEFAULT_REGION"])
    run = uuid.uuid4().hex[:8]

    def store(values: dict[str, str]) -> dict[str, str]:
        names = {}
        for variable, value in values.items():
            name = f"agency-accounts/{run}/{variable.lower().replace('_', '-')}"
            client.create_secret(Name=name, SecretString=value)
            monkeypatch.setenv(f"{variable}_PARAM", name)
            names[variable] = name
        return names

    yield store


def refusal(*, but: dict[str, str], store: Store) -> str:
    """The start-up error with strong secrets except ``but``."""
    store({**strong_secrets(), **but})
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    message = str(refused.value)
    for value in but.values():
        assert value not in message  # names the variable, never shows the secret
    return message


class TestSecretsManager:
    def test_secrets_load_through_powertools_from_secrets_manager(self, aws: Store) -> None:
        values = strong_secrets()
        aws(values)

        settings = load_settings()

        assert {name: getattr(settings, ATTRIBUTE[name]) for name in SECRET_VARIABLES} == values

    def test_a_secret_is_cached_per_container_for_its_max_age(
            self, aws: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SECRETS_MAX_AGE_SECONDS", "1")
        first = strong_secrets()
        names = aws(first)
        settings = load_settings()
        assert settings.jwt_secret == first["JWT_SECRET"]
        rotated = of_length("JWT_SECRET", 48)
        boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
                     region_name=TEST_ENV["AWS_DEFAULT_REGION"]).put_secret_value(
            SecretId=names["JWT_SECRET"], SecretString=rotated)

        assert settings.jwt_secret == first["JWT_SECRET"]  # still the cached value
        time.sleep(1.2)
        assert settings.jwt_secret == rotated  # read again once its max age is over

    def test_a_secret_that_cannot_be_read_stops_the_app_naming_its_variable(
            self, aws: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        aws(strong_secrets())
        monkeypatch.setenv("JWT_SECRET_PARAM", "agency-accounts/nowhere/jwt-secret")

        with pytest.raises(ConfigurationError, match="JWT_SECRET_PARAM"):
            load_settings()


class TestWeakSecretsStopTheApp:
    @pytest.mark.parametrize("name", SECRET_VARIABLES)
    def test_a_placeholder_stops_the_app_naming_the_variable(self, aws: Store,
                                                              name: str) -> None:
        # Long enough and with the right prefix: only the placeholder gives it away.
        placeholder = PREFIX[name] + "REPLACE_AT_DEPLOY_WITH_32_RANDOM_BYTES"

        message = refusal(but={name: placeholder}, store=aws)

        assert name in message and "placeholder" in message

    @pytest.mark.parametrize(("name", "value"), sorted({
        (name, env[name]) for env in (APP_ENV_DEFAULTS, TEST_ENV, BENCH_ENV)
        for name in SECRET_VARIABLES if name in env}))
    def test_a_default_of_the_local_stack_or_the_tests_stops_the_app(
            self, aws: Store, name: str, value: str) -> None:
        message = refusal(but={name: value}, store=aws)

        assert name in message

    @pytest.mark.parametrize("name", SECRET_VARIABLES)
    def test_a_short_secret_stops_the_app(self, aws: Store, name: str) -> None:
        message = refusal(but={name: of_length(name, MIN_LENGTH - 1)}, store=aws)

        assert name in message and str(MIN_LENGTH) in message

    @pytest.mark.parametrize("name", SECRET_VARIABLES)
    def test_a_secret_of_the_minimum_length_is_accepted(self, aws: Store, name: str) -> None:
        value = of_length(name, MIN_LENGTH)
        aws({**strong_secrets(), name: value})

        assert getattr(load_settings(), ATTRIBUTE[name]) == value

    @pytest.mark.parametrize(("name", "value"), [
        ("STRIPE_SECRET_KEY", "pk_live_" + "a" * 12 + secrets.token_hex(16)),  # publishable
        ("STRIPE_WEBHOOK_SECRET", "sk_live_" + secrets.token_hex(20)),
        ("STRIPE_CONNECT_WEBHOOK_SECRET", secrets.token_hex(20)),
    ], ids=["publishable key", "api key as webhook secret", "no prefix"])
    def test_a_stripe_secret_without_its_prefix_stops_the_app(self, aws: Store, name: str,
                                                              value: str) -> None:
        message = refusal(but={name: value}, store=aws)

        assert name in message

    def test_a_restricted_stripe_key_is_accepted(self, aws: Store) -> None:
        key = "rk_live_" + secrets.token_hex(20)
        aws({**strong_secrets(), "STRIPE_SECRET_KEY": key})

        assert load_settings().stripe_secret_key == key

    def test_every_problem_is_named_at_once(self, aws: Store) -> None:
        message = refusal(but={"JWT_SECRET": secrets.token_hex(8),
                               "PLATFORM_API_KEY": "REPLACE_AT_DEPLOY"}, store=aws)

        assert "JWT_SECRET" in message and "PLATFORM_API_KEY" in message


class TestStages:
    def test_plain_secret_values_stop_the_app_outside_the_local_stack(
            self, aws: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        values = strong_secrets()
        aws({name: value for name, value in values.items() if name != "STRIPE_SECRET_KEY"})
        monkeypatch.setenv("STRIPE_SECRET_KEY", values["STRIPE_SECRET_KEY"])

        with pytest.raises(ConfigurationError) as refused:
            load_settings()

        assert "STRIPE_SECRET_KEY" in str(refused.value)
        assert values["STRIPE_SECRET_KEY"] not in str(refused.value)

    def test_a_secret_not_named_outside_the_local_stack_stops_the_app(self, aws: Store) -> None:
        aws({name: value for name, value in strong_secrets().items() if name != "JWT_SECRET"})

        with pytest.raises(ConfigurationError, match="JWT_SECRET_PARAM"):
            load_settings()

    def test_the_stage_is_aws_unless_set(self, aws: Store) -> None:
        assert Settings().app_stage == "aws"  # type: ignore[call-arg]

    @pytest.mark.parametrize("stage", ["local", "test"])
    def test_the_local_stack_and_the_tests_take_plain_values(
            self, monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
        for name in SECRET_VARIABLES:
            monkeypatch.delenv(f"{name}_PARAM", raising=False)
            monkeypatch.setenv(name, APP_ENV_DEFAULTS[name])
        monkeypatch.setenv("APP_STAGE", stage)

        settings = load_settings()

        assert {name: getattr(settings, ATTRIBUTE[name]) for name in SECRET_VARIABLES} == {
            name: APP_ENV_DEFAULTS[name] for name in SECRET_VARIABLES}

    def test_the_app_refuses_to_start_with_the_placeholders_of_the_deploy_config(self) -> None:
        # What `.chalice/config.json` used to give the dev and prod Lambdas, APP_STAGE unset.
        env = {name: value for name, value in os.environ.items()
               if name != "APP_STAGE" and not name.endswith("_PARAM")}
        env.update({name: "REPLACE_AT_DEPLOY" for name in SECRET_VARIABLES})
        env["JWT_SECRET"] = "REPLACE_AT_DEPLOY_WITH_32_RANDOM_BYTES"
        env.pop("AWS_CHALICE_CLI_MODE", None)

        started = subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)

        assert started.returncode != 0
        last_line = started.stderr.strip().splitlines()[-1]
        assert last_line.startswith("chalicelib.config.ConfigurationError")
        assert all(name in last_line for name in SECRET_VARIABLES)
        assert "REPLACE_AT_DEPLOY" not in last_line

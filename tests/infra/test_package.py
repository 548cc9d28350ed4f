"""The deployable template: `chalice package` merged with infra/table.json passes cfn-lint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run `chalice package --stage dev` on a copy of the project (dependencies left out:
    they do not change the template, and downloading wheels would slow every test run)."""
    work = tmp_path_factory.mktemp("package")
    project = work / "project"
    project.mkdir()
    for name in ("app.py", "chalicelib", ".chalice", "infra"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name,
                            ignore=shutil.ignore_patterns("__pycache__", "deployments"))
        else:
            shutil.copy(source, project / name)
    (project / "requirements.txt").write_text("")
    out = work / "out"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run(
        [str(BIN / "chalice"), "package", "--stage", "dev", "--merge-template",
         "infra/table.json", str(out)],
        cwd=project, env=env, check=True, capture_output=True, timeout=240,
    )
    return out


class TestPackagedTemplate:
    def test_template_holds_the_table_the_functions_and_the_schedules(self, packaged) -> None:
        template = json.loads((packaged / "sam.json").read_text())
        resources = template["Resources"]
        table = resources["AppTable"]["Properties"]
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert table["DeletionProtectionEnabled"] is True
        assert table["TimeToLiveSpecification"]["AttributeName"] == "expires_at"
        assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {"GSI1",
                                                                                  "GSI2"}
        schedules = [name for name, res in resources.items()
                     if res["Type"] == "AWS::Serverless::Function"
                     and any(e.get("Type") == "Schedule"
                             for e in res["Properties"].get("Events", {}).values())]
        assert len(schedules) >= 4

    def test_cfn_lint_finds_no_errors(self, packaged) -> None:
        result = subprocess.run([str(BIN / "cfn-lint"), str(packaged / "sam.json")],
                                capture_output=True, text=True, timeout=240)
        errors = [line for line in result.stdout.splitlines() if line.startswith("E")]
        assert result.returncode in (0, 4, 8, 12) and not errors, result.stdout


SECRET_VARIABLES = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_CONNECT_WEBHOOK_SECRET",
                    "JWT_SECRET", "PLATFORM_API_KEY")
STAGES = ("dev", "prod")


def stage_env(stage: str) -> dict[str, str]:
    """The environment `.chalice/config.json` gives the Lambdas of ``stage``."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {**config.get("environment_variables", {}),
            **config["stages"][stage]["environment_variables"]}


def secret_names(stage: str) -> set[str]:
    """The Secrets Manager names the stage's Lambdas read their secrets from."""
    env = stage_env(stage)
    return {env[f"{name}_PARAM"] for name in SECRET_VARIABLES}


def statements(stage: str) -> list[dict]:
    """The statements of the stage's Lambda role policy."""
    policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    return policy["Statement"]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class TestSecretsInAws:
    @pytest.mark.parametrize("stage", STAGES)
    def test_the_deploy_config_names_every_secret_and_holds_none(self, stage: str) -> None:
        env = stage_env(stage)
        assert env.get("APP_STAGE", "aws") == "aws"
        assert not set(SECRET_VARIABLES) & set(env)
        assert not [value for value in env.values() if "REPLACE" in value.upper()]
        assert all(f"{name}_PARAM" in env for name in SECRET_VARIABLES)
        assert len(secret_names(stage)) == len(SECRET_VARIABLES)

    @pytest.mark.parametrize("stage", STAGES)
    def test_the_lambda_role_reads_exactly_the_secrets_of_its_stage(self, stage: str) -> None:
        arns = {f"arn:aws:secretsmanager:*:*:secret:{name}-??????"
                for name in secret_names(stage)}
        granted = [s for s in statements(stage)
                   if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))]
        assert [as_list(s["Action"]) for s in granted] == [["secretsmanager:GetSecretValue"]]
        assert set(as_list(granted[0]["Resource"])) == arns
        assert all(s["Effect"] == "Allow" and "Condition" not in s for s in granted)

    @pytest.mark.parametrize("stage", STAGES)
    def test_kms_decrypts_only_for_those_secrets_through_secrets_manager(self,
                                                                           stage: str) -> None:
        arns = {f"arn:aws:secretsmanager:*:*:secret:{name}-??????"
                for name in secret_names(stage)}
        kms = [s for s in statements(stage)
               if any(a.startswith("kms:") for a in as_list(s["Action"]))]
        assert [as_list(s["Action"]) for s in kms] == [["kms:Decrypt"]]
        condition = kms[0]["Condition"]["StringLike"]
        assert set(as_list(condition["kms:EncryptionContext:SecretARN"])) == arns
        assert as_list(condition["kms:ViaService"]) == ["secretsmanager.*.amazonaws.com"]
        assert not [s for s in statements(stage)
                    if any("*" in a.split(":", 1)[0] or a.endswith(":*")
                           for a in as_list(s["Action"]))]

    def test_the_template_creates_the_secrets_the_stage_names(self, packaged) -> None:
        template = json.loads((packaged / "sam.json").read_text())
        assert set(template["Parameters"]["Stage"]["AllowedValues"]) == set(STAGES)
        resources = template["Resources"]
        created = {name: res["Properties"] for name, res in resources.items()
                   if res["Type"] == "AWS::SecretsManager::Secret"}
        for stage in STAGES:
            names = {props["Name"]["Fn::Sub"].replace("${Stage}", stage)
                     for props in created.values()}
            assert names == secret_names(stage)
        key = next(name for name, res in resources.items() if res["Type"] == "AWS::KMS::Key")
        assert all(props["KmsKeyId"] == {"Ref": key} for props in created.values())
        assert all(resources[name]["DeletionPolicy"] == "Retain" for name in created)
        generated = [props["GenerateSecretString"] for props in created.values()
                     if "GenerateSecretString" in props]
        assert len(generated) == 2  # the JWT secret and the platform key; Stripe's are Stripe's
        assert all(g["PasswordLength"] >= 32 and g["ExcludePunctuation"] for g in generated)

    def test_every_function_is_given_names_not_secrets(self, packaged) -> None:
        template = json.loads((packaged / "sam.json").read_text())
        functions = [res["Properties"] for res in template["Resources"].values()
                     if res["Type"] == "AWS::Serverless::Function"]
        assert functions
        for function in functions:
            variables = function["Environment"]["Variables"]
            assert not set(SECRET_VARIABLES) & set(variables)
            assert {variables[f"{name}_PARAM"] for name in SECRET_VARIABLES} == (
                secret_names("dev"))

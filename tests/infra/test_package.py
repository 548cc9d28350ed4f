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

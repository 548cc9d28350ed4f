"""infra/slim_package.py: the deployment zip loses exactly what the Lambda runtime provides."""

from __future__ import annotations

import zipfile
from pathlib import Path

from infra.slim_package import main, provided_by_runtime, slim

KEPT = ["app.py", "chalicelib/__init__.py", "chalicelib/api/http.py", "pynamodb/models.py",
        "jmespath/__init__.py", "urllib3/__init__.py", "botocore_extras/x.py",
        "pynamodb-6.1.0.dist-info/METADATA"]
DROPPED = ["botocore/__init__.py", "botocore/data/s3/2006-03-01/service-2.json.gz",
           "botocore-1.40.0.dist-info/METADATA", "boto3/__init__.py",
           "boto3-1.40.0.dist-info/RECORD", "s3transfer/__init__.py"]


def build(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in KEPT + DROPPED:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16 if name == "app.py" else 0o644 << 16
            archive.writestr(info, f"content of {name}" * 50)


class TestSlimPackage:
    def test_drops_the_runtime_distributions_and_keeps_the_rest_intact(self,
                                                                       tmp_path: Path) -> None:
        package = tmp_path / "deployment.zip"
        build(package)
        package.chmod(0o644)
        before, after = slim(package)
        assert package.stat().st_mode & 0o777 == 0o644  # the file keeps its mode
        assert after < before
        with zipfile.ZipFile(package) as archive:
            assert sorted(archive.namelist()) == sorted(KEPT)
            assert archive.read("chalicelib/api/http.py") == (
                b"content of chalicelib/api/http.py" * 50)
            assert archive.getinfo("app.py").external_attr >> 16 == 0o755
            assert archive.testzip() is None
        assert not list(tmp_path.glob("tmp*.zip"))  # no temp file left behind

    def test_entry_classification(self) -> None:
        assert all(provided_by_runtime(name) for name in DROPPED)
        assert not any(provided_by_runtime(name) for name in KEPT)

    def test_cli(self, tmp_path: Path, capsys) -> None:
        package = tmp_path / "deployment.zip"
        build(package)
        assert main([str(package)]) == 0
        assert "MB →" in capsys.readouterr().out
        assert main([]) == 2

"""Cold start (import time of ``app.py`` against its heavy dependencies) and package size."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.env import ROOT

_PROBE = """
import sys, time
started = time.perf_counter()
{imports}
elapsed = time.perf_counter() - started
print(f"{{elapsed * 1000:.3f}} {{int('stripe' in sys.modules)}}")
"""
APP_IMPORT = "import app"
DEPENDENCY_IMPORT = "import chalice, pynamodb, pynamodb.models, stripe"


@dataclass
class ColdStart:
    """Median import times in fresh interpreters."""

    runs: int
    app_ms: float
    dependencies_ms: float
    stripe_loaded_by_app: bool
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """``import app`` over ``import chalice, pynamodb, stripe``."""
        return self.app_ms / self.dependencies_ms

    def as_json(self) -> dict[str, Any]:
        """For ``results.json``."""
        return {"runs": self.runs, "app_import_ms": round(self.app_ms, 1),
                "dependencies_import_ms": round(self.dependencies_ms, 1),
                "ratio": round(self.ratio, 3), "stripe_loaded_by_app": self.stripe_loaded_by_app,
                "app_statement": APP_IMPORT, "dependencies_statement": DEPENDENCY_IMPORT}


def _import_ms(statement: str) -> tuple[float, bool]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, "-c", _PROBE.format(imports=statement)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{statement!r} failed: {out.stderr[-500:]}")
    ms, stripe_loaded = out.stdout.split()
    return float(ms), stripe_loaded == "1"


def measure_cold_start(runs: int = 7) -> ColdStart:
    """Median of ``runs`` fresh interpreters each (one warm-up each for the bytecode cache)."""
    _import_ms(APP_IMPORT)
    _import_ms(DEPENDENCY_IMPORT)
    app, deps, stripe_loaded = [], [], False
    for _ in range(runs):  # interleaved, so machine load hits both alike
        ms, loaded = _import_ms(APP_IMPORT)
        app.append(ms)
        stripe_loaded = stripe_loaded or loaded
        deps.append(_import_ms(DEPENDENCY_IMPORT)[0])
    return ColdStart(runs, statistics.median(app), statistics.median(deps), stripe_loaded,
                     {"app": app, "dependencies": deps})


@dataclass
class PackageSize:
    """The ``chalice package`` deployment zip, or why there is none."""

    status: str = "ok"
    zip_bytes: int | None = None  # after infra/slim_package.py, as `make package` ships it
    largest: list[tuple[str, int]] = field(default_factory=list)  # top-level entry, bytes
    note: str = ""
    unslimmed_bytes: int | None = None  # straight out of `chalice package`

    @property
    def megabytes(self) -> float | None:
        """Size in MB (10^6 bytes)."""
        return None if self.zip_bytes is None else self.zip_bytes / 1e6

    def as_json(self) -> dict[str, Any]:
        """For ``results.json``."""
        return {"status": self.status, "zip_bytes": self.zip_bytes,
                "zip_mb": None if self.megabytes is None else round(self.megabytes, 2),
                "unslimmed_zip_bytes": self.unslimmed_bytes,
                "largest_compressed": [{"entry": n, "bytes": b} for n, b in self.largest],
                "note": self.note}


def measure_package(stage: str = "dev", timeout: float = 600) -> PackageSize:
    """Run ``chalice package --stage <stage>`` into a temp dir, slim ``deployment.zip`` as
    ``make package`` does (no boto3/botocore: the Lambda runtime has them) and size it."""
    chalice = Path(sys.executable).with_name("chalice")
    command = [str(chalice) if chalice.exists() else "chalice", "package", "--stage", stage]
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with tempfile.TemporaryDirectory(prefix="bench-package-") as out_dir:
        try:
            done = subprocess.run([*command, out_dir], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return PackageSize("n/a (chalice package timed out; it may be waiting on the "
                               "network to build wheels)")
        log = (done.stdout + done.stderr).strip()
        zip_path = Path(out_dir) / "deployment.zip"
        if done.returncode != 0 or not zip_path.exists():
            return PackageSize(f"n/a (chalice package failed, rc={done.returncode})",
                               note=log[-400:])
        from infra.slim_package import slim

        unslimmed, _ = slim(zip_path)  # what `make package` does after chalice package
        sizes: Counter[str] = Counter()
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                sizes[info.filename.split("/")[0]] += info.compress_size
        note = ("dependencies from chalice's cache (.chalice/deployments)"
                if "Reusing existing deployment package" in log else "")
        return PackageSize(zip_bytes=zip_path.stat().st_size, largest=sizes.most_common(5),
                           note=note, unslimmed_bytes=unslimmed)

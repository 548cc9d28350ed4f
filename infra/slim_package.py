"""Drop from a ``chalice package`` deployment zip what the Lambda Python runtime already has.

pynamodb depends on botocore (16 MB of the 26 MB zip), and every AWS Lambda Python runtime
ships boto3/botocore on its path. Chalice has no exclude option, so ``make package`` runs
this after ``chalice package``: the zip is rewritten without those top-level entries (and
their ``.dist-info``), everything else byte for byte with its permissions.

Usage: ``python infra/slim_package.py out/deployment.zip``
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from pathlib import Path

#: Distributions the Lambda runtime provides (import names and dist-info prefixes).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")


def provided_by_runtime(entry: str) -> bool:
    """Whether a zip entry belongs to a distribution the Lambda runtime provides."""
    top = entry.split("/", 1)[0]
    return any(top == name or (top.startswith(f"{name}-") and top.endswith(".dist-info"))
               for name in RUNTIME_PROVIDED)


def slim(zip_path: Path) -> tuple[int, int]:
    """Rewrite ``zip_path`` in place without the runtime-provided entries.

    Returns (bytes before, bytes after).
    """
    before = zip_path.stat().st_size
    fd, temp_name = tempfile.mkstemp(suffix=".zip", dir=zip_path.parent)
    os.close(fd)
    temp = Path(temp_name)
    try:
        with zipfile.ZipFile(zip_path) as source, \
                zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                if provided_by_runtime(info.filename):
                    continue
                target.writestr(info, source.read(info), compress_type=info.compress_type)
        temp.chmod(zip_path.stat().st_mode)  # mkstemp made it 0600
        temp.replace(zip_path)
    finally:
        temp.unlink(missing_ok=True)
    return before, zip_path.stat().st_size


def main(argv: list[str]) -> int:
    """CLI: slim each zip named on the command line."""
    if not argv:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    for name in argv:
        before, after = slim(Path(name))
        print(f"{name}: {before / 1e6:.1f} MB → {after / 1e6:.1f} MB "
              f"(without {', '.join(RUNTIME_PROVIDED)}: the Lambda runtime provides them)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Create the app's DynamoDB table in the local emulator (run by ``devstack.run``).

The table definition belongs to the app (``chalicelib.store.table.create_table``, built from the
same template as ``infra/``); this module only calls it, in a child process with the local
environment, so the app's import-time settings never leak into the supervisor. Until the app
team provides that function, it warns and succeeds, so the rest of the stack still starts.
"""

from __future__ import annotations

import sys


def main() -> int:
    """Call ``create_table()``; 0 on success or when the app does not provide it yet."""
    try:
        from chalicelib.store.table import create_table
    except ModuleNotFoundError as exc:
        if exc.name in ("chalicelib", "chalicelib.store", "chalicelib.store.table"):
            print(f"bootstrap_table: WARNING {exc.name} not found; no table created", flush=True)
            return 0
        raise
    except ImportError as exc:
        if "create_table" in str(exc):
            print("bootstrap_table: WARNING chalicelib.store.table has no create_table(); "
                  "no table created", flush=True)
            return 0
        raise
    create_table()
    print("bootstrap_table: table ready", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Create the app's DynamoDB table in the local emulator (run by ``devstack.run``).

The table definition belongs to the app (``chalicelib.store.table.create_table``, built from the
same template as ``infra/``); this module only calls it, in a child process with the local
environment, so the app's settings never leak into the supervisor.
"""

from __future__ import annotations

import sys


def main() -> int:
    """Build the app from the local environment and create its table."""
    from chalicelib import bootstrap
    from chalicelib.store.table import create_table

    bootstrap.build()
    create_table()
    print("bootstrap_table: table ready", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""moto's server for the local stack, with the project's DynamoDB fixes applied first.

``devstack.moto_dynamodb`` makes moto's ``TransactWriteItems`` O(items) and isolates
concurrent requests; the tests apply it to their in-process moto, and the local stack must run
the same emulator, so ``devstack.run`` starts DynamoDB through this module instead of
``python -m moto.server``. Arguments are moto's (``-H 127.0.0.1 -p 8001``).
"""

from __future__ import annotations

import sys

from devstack.moto_dynamodb import apply


def main(argv: list[str] | None = None) -> None:
    """Apply the fixes, then run ``moto.server`` with ``argv``."""
    apply()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()

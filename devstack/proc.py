"""Small process and port helpers shared by the supervisor, the emulator helper and tests.

Kept free of heavy imports so that ``python -m devstack.run`` starts fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from devstack.defaults import HOST


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_open(port_number: int, host: str = HOST) -> bool:
    """Whether something accepts connections on ``host:port_number``."""
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port_number)) == 0


def wait_for_http(url: str, timeout: float, alive: Callable[[], bool] = lambda: True) -> bool:
    """Poll ``url`` until it answers 200, ``alive()`` turns false, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return False


def stop_process_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group led by ``proc``, then SIGKILL it after ``grace`` seconds.

    The children are started with ``start_new_session=True``, so the group id is the pid and
    the signal reaches whatever they forked too (``chalice local`` may fork).
    """
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            continue
        # The leader exited; anything it forked into the group goes with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return

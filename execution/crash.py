"""Named crash points for the crash tests: a process started with ``DESK_CRASH_AT=<name>`` kills itself with
SIGKILL when it reaches that point (no clean-up, no ``finally``: what a power cut or an OOM kill does). Without the
variable a crash point costs one dictionary lookup."""

from __future__ import annotations

import os
import signal

CRASH_ENV = "DESK_CRASH_AT"


def crash_point(name: str) -> None:
    """Die here, at once, if this process was told to (see the module)."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)

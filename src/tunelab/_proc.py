"""Process helpers shared by the worker pool and command-line trials."""

from __future__ import annotations

import contextlib
import signal
import sys

__all__ = ["die_with_parent"]


def die_with_parent() -> None:
    """On Linux, ask the kernel to SIGKILL this process when its parent dies, so that no
    worker or trial command outlives the driver that started it. Elsewhere: no-op."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

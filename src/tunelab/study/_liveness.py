"""Who owns a RUNNING trial, and is it still alive?

Each driver signs the trials it runs with ``host:pid:token`` and refreshes their heartbeat.
A trial whose driver is gone (same host, process no longer exists) or whose heartbeat is
stale is an orphan: it is put back in the queue so that no trial stays RUNNING forever.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

from tunelab.trial import Trial

__all__ = ["HEARTBEAT_INTERVAL", "STALE_AFTER", "is_orphan", "new_worker_id"]

#: Seconds between heartbeats of a driver's running trials.
HEARTBEAT_INTERVAL = 15.0
#: A RUNNING trial whose heartbeat is older than this is taken as abandoned.
STALE_AFTER = 120.0

_HOST = socket.gethostname()


def new_worker_id() -> str:
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_orphan(trial: Trial, me: str, now: float | None = None) -> bool:
    """Whether ``trial`` (RUNNING) belongs to a driver that is gone."""
    if trial.worker == me:
        return False
    if not trial.worker:
        return True
    host, _, rest = trial.worker.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host == _HOST and pid_text.isdigit():
        # On this machine the process table is the truth: a live driver keeps its trials
        # however long one of them runs without a heartbeat.
        pid = int(pid_text)
        return pid != os.getpid() and not _pid_alive(pid)
    now = time.time() if now is None else now  # another machine: trust its heartbeat
    return trial.heartbeat_at is not None and now - trial.heartbeat_at > STALE_AFTER

"""Each trial's output in its artifact folder: ``stdout.log``, ``stderr.log`` and
``log.txt`` (the log records emitted while it ran).

Output still reaches the terminal: the trial's streams are copied, not taken. Files are
created on the first line written, so a quiet trial leaves no empty files behind; a
resumed trial appends to them.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["LOG_FILE", "STDERR_FILE", "STDOUT_FILE", "LazyFile", "capture_output"]

STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
LOG_FILE = "log.txt"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LazyFile:
    """A text file opened for appending on the first write (and its folder made)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
            self._fh.write(text)
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


class _Tee:
    """A text stream that writes to the original stream and to a file."""

    def __init__(self, original: Any, copy: LazyFile) -> None:
        self._original = original
        self._copy = copy

    def write(self, text: str) -> int:
        self._copy.write(text)
        if self._original is not None:
            return int(self._original.write(text) or 0)
        return len(text)

    def flush(self) -> None:
        if self._original is not None:
            self._original.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding...
        return getattr(self._original, name)


@contextlib.contextmanager
def capture_output(trial_dir: str | Path | None) -> Iterator[tuple[LazyFile, LazyFile]]:
    """Copy ``sys.stdout``, ``sys.stderr`` and log records into ``trial_dir`` while the
    block runs; yields the stdout and stderr files (for a failure's traceback). Without a
    folder the files go nowhere."""
    if trial_dir is None:
        yield (_Null(), _Null())
        return
    folder = Path(trial_dir)
    out, err = LazyFile(folder / STDOUT_FILE), LazyFile(folder / STDERR_FILE)
    log = LazyFile(folder / LOG_FILE)
    handler = _FileHandler(log)
    root = logging.getLogger()
    saved = (sys.stdout, sys.stderr)
    sys.stdout = _Tee(saved[0], out)
    sys.stderr = _Tee(saved[1], err)
    # With no handler of their own, records went to logging's last resort (stderr):
    # keep that, or the trial's warnings would vanish from the terminal.
    extra = [logging.lastResort] if not root.handlers and logging.lastResort else []
    for h in [handler, *extra]:
        root.addHandler(h)
    try:
        yield (out, err)
    finally:
        sys.stdout, sys.stderr = saved
        for h in [handler, *extra]:
            root.removeHandler(h)
        handler.close()
        for f in (out, err, log):
            f.close()


class _FileHandler(logging.Handler):
    """Formatted records to a :class:`LazyFile`."""

    def __init__(self, target: LazyFile) -> None:
        super().__init__()
        self.target = target
        self.setFormatter(logging.Formatter(_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.target.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


class _Null(LazyFile):
    def __init__(self) -> None:
        pass

    def write(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

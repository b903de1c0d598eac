"""Each trial's output in its artifact folder: ``stdout.log``, ``stderr.log`` and
``log.txt`` (the log records emitted while it ran, when logging is configured; without
a handler Python prints them on stderr, so they are in ``stderr.log``).

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

from tunelab._log import logger

__all__ = ["LOG_FILE", "STDERR_FILE", "STDOUT_FILE", "LazyFile", "capture_output"]

STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
LOG_FILE = "log.txt"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LazyFile:
    """A text file opened for appending on the first write (and its folder made).

    A copy is a record, never a reason for a trial to fail: if the file cannot be written
    (a full disk, a bad folder) the copy stops with one warning. Writes after
    :meth:`close` are dropped (a stream kept by the objective beyond its trial must not
    write into that trial's files)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None
        self._lock = threading.Lock()
        self._done = False

    def write(self, text: str) -> None:
        if not text or self._done:
            return
        with self._lock:
            try:
                if self._fh is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._fh = open(self.path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
                self._fh.write(text)
                self._fh.flush()
            except OSError as exc:
                self._done = True
                logger.warning("not copying output to %s any more: %s", self.path, exc)

    def close(self) -> None:
        with self._lock:
            self._done = True
            if self._fh is not None:
                with contextlib.suppress(OSError):
                    self._fh.close()
                self._fh = None


class _Tee:
    """A text stream that writes to the original stream and to a file."""

    def __init__(self, original: Any, copy: LazyFile) -> None:
        self._original = original
        self._copy = copy

    def write(self, text: str) -> int:
        written = len(text)
        if self._original is not None:  # the terminal first: the copy may fail
            written = int(self._original.write(text) or 0)
        self._copy.write(text)
        return written

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
    # Only when logging is configured: otherwise records go to logging's last resort,
    # stderr (copied to stderr.log), and a logging.basicConfig() in the objective must
    # still find a root logger without handlers.
    added = [handler] if root.handlers else []
    for h in added:
        root.addHandler(h)
    try:
        yield (out, err)
    finally:
        sys.stdout, sys.stderr = saved
        for h in added:
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

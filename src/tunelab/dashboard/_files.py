"""A trial's files (logs, checkpoints, artifacts), and nothing outside its folder.

Every requested path is checked before anything is opened: no NUL byte, no absolute path,
no ``..`` component (after URL decoding, which the web framework has done once; a second
layer of encoding is refused as it stands: ``%2e%2e`` stays a literal, non-existent name),
and the fully resolved path (symbolic links followed) must stay inside the resolved trial
folder.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from tunelab._errors import InvalidArgumentError

__all__ = ["MAX_PREVIEW", "list_files", "safe_path"]

#: The most of a file the API returns inline (bytes); the rest is cut and flagged.
MAX_PREVIEW = 1_000_000


def safe_path(root: Path, relative: str) -> Path:
    """``root / relative`` if it is a file inside ``root``; InvalidArgumentError (bad
    path) or FileNotFoundError (no such file) otherwise.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()); (root / "a.txt").write_text("x")
    1
    >>> safe_path(root, "a.txt").name
    'a.txt'
    >>> safe_path(root, "../etc/passwd")
    Traceback (most recent call last):
    ...
    tunelab._errors.InvalidArgumentError: path '../etc/passwd' leaves the trial's folder
    """
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise InvalidArgumentError(f"bad file path {relative!r}")
    if "\\" in relative or relative.startswith("/") or (len(relative) > 1
                                                        and relative[1] == ":"):
        raise InvalidArgumentError(f"path {relative!r} must be relative to the trial's folder")
    parts = PurePosixPath(relative).parts
    if any(p in ("..", "") for p in parts):
        raise InvalidArgumentError(f"path {relative!r} leaves the trial's folder")
    base = root.resolve()
    target = (base / PurePosixPath(*parts)).resolve()
    if target != base and base not in target.parents:
        raise InvalidArgumentError(f"path {relative!r} leaves the trial's folder")
    if not target.is_file():
        raise FileNotFoundError(relative)
    return target


def list_files(root: Path, limit: int = 500) -> list[dict[str, Any]]:
    """The regular files under ``root`` (relative paths, sizes, times); symbolic links
    that point outside it are left out."""
    if not root.is_dir():
        return []
    base = root.resolve()
    out: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                real = path.resolve()
                if base not in real.parents or not real.is_file():
                    continue
                stat = real.stat()
            except OSError:
                continue
            out.append({"path": path.relative_to(base).as_posix(), "size": stat.st_size,
                        "modified": stat.st_mtime})
            if len(out) >= limit:
                return out
    return out

"""Where a study keeps per-trial files (checkpoints, later logs and artifacts).

The root is, in order: the ``artifacts`` argument, ``$TUNELAB_ARTIFACTS``, the folder
next to an SQLite store (``runs/tunelab.db`` -> ``runs/tunelab-artifacts``), a temporary
folder per in-memory store (removed when the process exits), else
``./tunelab-artifacts``. A study's folder name is derived from its name with every
character outside ``[A-Za-z0-9_-]`` replaced, plus a hash when anything was replaced, so
no study name can point outside the root.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from tunelab.store import Store

__all__ = ["artifact_root", "study_folder"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _temporary_root(store: Store) -> Path:
    """A temporary folder of this store object's own (removed at exit)."""
    root: Path | None = getattr(store, "_tunelab_artifacts", None)
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="tunelab-artifacts-"))
        atexit.register(shutil.rmtree, root, True)
        store._tunelab_artifacts = root  # type: ignore[attr-defined]
    return root


def artifact_root(store: Store, artifacts: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding every study's artifact folders for ``store``."""
    if artifacts is not None:
        return Path(artifacts).expanduser().absolute()
    env = os.environ.get("TUNELAB_ARTIFACTS")
    if env:
        return Path(env).expanduser().absolute()
    if store.url == "memory":
        return _temporary_root(store)
    try:
        url = make_url(store.url)
    except Exception:
        return Path.cwd() / "tunelab-artifacts"
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return _temporary_root(store)
        db = Path(url.database).expanduser().absolute()
        return db.parent / f"{db.stem}-artifacts"
    return Path.cwd() / "tunelab-artifacts"


def study_folder(root: Path, name: str) -> Path:
    """``root``/a folder name safe to derive from the study ``name``.

    >>> study_folder(Path("/runs"), "mnist-lr").as_posix()
    '/runs/mnist-lr'
    >>> study_folder(Path("/runs"), "../../etc").as_posix()
    '/runs/______etc-74ccf3c5'
    """
    slug = _UNSAFE.sub("_", name)[:80] or "_"
    if slug != name:
        slug += "-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return root / slug

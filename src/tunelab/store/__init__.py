"""The durable record: studies, trials, per-step reports and attributes."""

from __future__ import annotations

import os
from pathlib import Path

from tunelab.store._base import SCHEMA_VERSION, Store, StudyRecord, StudySummary
from tunelab.store._memory import MemoryStore
from tunelab.store._sql import SQLStore

__all__ = [
    "DEFAULT_STORE",
    "SCHEMA_VERSION",
    "MemoryStore",
    "SQLStore",
    "Store",
    "StudyRecord",
    "StudySummary",
    "open_store",
    "resolve_store_url",
]

#: Where studies go when nothing else is said: an SQLite file in the working directory.
DEFAULT_STORE = "sqlite:///tunelab.db"


def resolve_store_url(url: str | os.PathLike[str] | None = None) -> str:
    """The store URL to use: ``url``, else ``$TUNELAB_STORE``, else ``tunelab.db`` here.

    A plain file path means an SQLite file; ``memory`` means an in-memory store.

    >>> resolve_store_url("runs/tunelab.db")
    'sqlite:///runs/tunelab.db'
    """
    if url is None:
        url = os.environ.get("TUNELAB_STORE") or DEFAULT_STORE
    url = os.fspath(url)
    if url in ("memory", ":memory:"):
        return "memory"
    if "://" not in url:
        return "sqlite:///" + str(Path(url).expanduser())
    return url


def open_store(url: Store | str | os.PathLike[str] | None = None) -> Store:
    """Open the store at ``url`` (see :func:`resolve_store_url`); a Store passes through.

    >>> open_store("memory").url
    'memory'
    """
    if isinstance(url, Store):
        return url
    resolved = resolve_store_url(url)
    if resolved == "memory":
        return MemoryStore()
    return SQLStore(resolved)

"""The one exception hierarchy of tunelab.

::

    TunelabError
    ├── InvalidSpaceError (also ValueError)   a search-space spec is wrong
    ├── InvalidConfigError (also ValueError)  a configuration does not fit its space
    ├── InvalidArgumentError (also ValueError) a bad argument to a tunelab function
    ├── StudyNotFoundError (also KeyError)    no study by that name in the store
    ├── StudyMismatchError                    resuming a study with a different space/metric
    ├── TrialNotFoundError (also KeyError)    no trial with that number
    ├── TrialError                            a trial failed (objective raised, bad value)
    ├── SearchExhausted                       a searcher has nothing left to propose
    ├── StoreError                            the store could not do what was asked
    │   └── SchemaVersionError                the store's schema is newer than this tunelab
    └── MissingExtraError (also ImportError)  an optional extra is not installed

Every message names the value at fault and what is allowed.
"""

from __future__ import annotations

__all__ = [
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidSpaceError",
    "MissingExtraError",
    "SchemaVersionError",
    "SearchExhausted",
    "StoreError",
    "StudyMismatchError",
    "StudyNotFoundError",
    "TrialError",
    "TrialNotFoundError",
    "TunelabError",
    "require_extra",
]


class TunelabError(Exception):
    """Base class of every error tunelab raises on purpose."""


class InvalidSpaceError(TunelabError, ValueError):
    """A search-space specification is invalid."""


class InvalidConfigError(TunelabError, ValueError):
    """A configuration does not belong to its search space."""


class InvalidArgumentError(TunelabError, ValueError):
    """An argument to a tunelab function is invalid."""


class StudyNotFoundError(TunelabError, KeyError):
    """No study with the given name exists in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class StudyMismatchError(TunelabError):
    """A study was resumed with a space, metric or direction that differs from the stored one."""


class TrialNotFoundError(TunelabError, KeyError):
    """No trial with the given number exists in the study."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class TrialError(TunelabError):
    """A trial failed: the objective raised, returned a bad value or reported a bad metric."""


class SearchExhausted(TunelabError):
    """The searcher has no configuration left to propose (e.g. a finished grid)."""


class StoreError(TunelabError):
    """The store failed to read or write."""


class SchemaVersionError(StoreError):
    """The store was written by a newer tunelab whose schema this version cannot read."""


class MissingExtraError(TunelabError, ImportError):
    """An optional dependency is missing; the message gives the exact ``pip install`` line."""


def require_extra(module: str, extra: str, feature: str) -> object:
    """Import ``module`` or raise :class:`MissingExtraError` naming the pip line.

    >>> require_extra("json", "none", "json support").__name__
    'json'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{feature} needs the '{module}' package, which is not installed; "
            f"install it with: pip install 'tunelab[{extra}]'"
        ) from exc

"""Skip this package's doctests where the ``torch`` extra is not installed (importing
:mod:`tunelab.nas` then raises :class:`tunelab.MissingExtraError`, by design)."""

from __future__ import annotations

import importlib.util

collect_ignore_glob: list[str] = [] if importlib.util.find_spec("torch") else ["*.py"]

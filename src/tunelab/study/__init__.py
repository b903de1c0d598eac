"""Studies compose space x searcher x scheduler x store x executor: ask / tell / optimize."""

from tunelab.study._presets import bohb, default_searcher
from tunelab.study._rerun import RunRequest
from tunelab.study._study import Study, load_study

__all__ = ["RunRequest", "Study", "bohb", "default_searcher", "load_study"]

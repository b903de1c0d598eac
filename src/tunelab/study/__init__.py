"""Studies compose space x searcher x scheduler x store x executor: ask / tell / optimize."""

from tunelab.study._study import Study, load_study

__all__ = ["Study", "load_study"]

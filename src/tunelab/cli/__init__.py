"""The ``tunelab`` command line: run, studies, trials, best, export."""

from tunelab.cli._main import cli, main

__all__ = ["cli", "main"]

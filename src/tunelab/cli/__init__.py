"""The ``tunelab`` command line: run, studies, trials, best, export, budget, fidelity."""

from tunelab.cli._main import cli, main

__all__ = ["cli", "main"]

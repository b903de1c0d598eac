"""The ``tunelab`` command line: run, studies, trials, best, export, budget, fidelity,
env, repro, seeds, sensitivity, importance, plot, dashboard."""

from tunelab.cli import _dashboard, _insight  # noqa: F401 - register their commands
from tunelab.cli._main import cli, main

__all__ = ["cli", "main"]

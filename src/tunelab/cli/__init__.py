"""The ``tunelab`` command line: run, studies, trials, best, export, budget, fidelity,
env, repro, seeds, sensitivity, importance, plot, dashboard, portfolio, worker."""

from tunelab.cli import _dashboard, _insight, _portfolio, _worker  # noqa: F401 - register commands
from tunelab.cli._main import cli, main

__all__ = ["cli", "main"]

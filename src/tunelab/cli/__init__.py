"""The ``tunelab`` command line: run, studies, trials, best, export, budget, fidelity,
env, repro, seeds, sensitivity, importance, plot."""

from tunelab.cli import _insight  # noqa: F401 - registers its commands on `cli`
from tunelab.cli._main import cli, main

__all__ = ["cli", "main"]

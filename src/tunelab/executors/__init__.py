"""Executors decide WHERE trials run: inline in the driver, in local worker processes, or
as Ray tasks (:mod:`tunelab.executors.ray`, the ``tunelab[ray]`` extra, imported on demand)."""

from __future__ import annotations

from tunelab._errors import InvalidArgumentError
from tunelab.executors._base import Executor, Job, Objective, OnReport, Outcome, run_objective
from tunelab.executors.inline import InlineExecutor
from tunelab.executors.process import ProcessExecutor
from tunelab.executors.simulated import SimStep, SimulatedExecutor

__all__ = [
    "Executor",
    "InlineExecutor",
    "Job",
    "Objective",
    "OnReport",
    "Outcome",
    "ProcessExecutor",
    "SimStep",
    "SimulatedExecutor",
    "make_executor",
    "run_objective",
]


def make_executor(
    executor: str | Executor | None, workers: int, trial_timeout: float | None
) -> Executor:
    """Pick an executor: ``inline`` for one worker, ``process`` for more (or when asked).
    Simulated runs pass a :class:`SimulatedExecutor` instance.

    >>> type(make_executor(None, 1, None)).__name__
    'InlineExecutor'
    """
    if isinstance(executor, Executor):
        return executor
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidArgumentError(f"`workers` must be an integer >= 1; got {workers!r}")
    if executor is None:
        executor = "inline" if workers == 1 else "process"
    if executor == "inline":
        if workers != 1:
            raise InvalidArgumentError(
                f"executor='inline' runs one trial at a time; got workers={workers}"
            )
        return InlineExecutor(trial_timeout)
    if executor == "process":
        return ProcessExecutor(workers, trial_timeout=trial_timeout)
    if executor == "ray":  # a local Ray; RayExecutor(address=...) joins a cluster
        from tunelab.executors.ray import RayExecutor  # needs the [ray] extra

        return RayExecutor(workers, trial_timeout=trial_timeout)
    raise InvalidArgumentError(
        f"`executor` must be 'inline', 'process', 'ray' or an Executor; got {executor!r}"
    )

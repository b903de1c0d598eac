"""Runs of given configurations with given seeds, outside the scheduler and searcher.

Reproducing a trial, rerunning the best configurations under new seeds, and
one-at-a-time sensitivity all need the same thing: run *this* configuration with *this*
seed (at *this* resource) and record it as a trial linked to why it ran.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunelab._errors import InvalidArgumentError
from tunelab.executors import Executor, Objective, make_executor
from tunelab.study import _liveness
from tunelab.trial import Trial, TrialStatus

if TYPE_CHECKING:
    from tunelab.study._study import Study

__all__ = ["RERUN_ATTRS", "RunRequest", "run_requests"]

#: Marks a trial that ran outside the scheduler: schedulers ignore it when they restore.
RERUN_ATTRS: Mapping[str, Any] = {"scheduler": "rerun"}


@dataclass(frozen=True)
class RunRequest:
    """One run to make: ``config`` with ``seed`` (handed to the objective as
    ``trial.seed``), granted ``resource`` (None: no limit), and ``attrs`` recorded in the
    trial's ``system_attrs`` (e.g. ``{"rerun_of": 12, "purpose": "seeds"}``).

    >>> from tunelab import Float, Space, Study
    >>> study = Study("doc-rerun", Space(x=Float(0, 1)), store="memory", seed=0)
    >>> [t] = study.run_requests(lambda c: c["x"] + c.seed % 2, [RunRequest({"x": 0.5}, 3)])
    >>> t.value, t.system_attrs["seed"]
    (1.5, 3)
    """

    config: Mapping[str, Any]
    seed: int
    resource: int | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidArgumentError(f"`seed` must be an integer >= 0; got {self.seed!r}")
        if self.resource is not None and (
            isinstance(self.resource, bool) or not isinstance(self.resource, int)
            or self.resource < 1
        ):
            raise InvalidArgumentError(
                f"`resource` must be None or an integer >= 1; got {self.resource!r}")


def run_requests(
    study: Study,
    objective: Objective,
    requests: Sequence[RunRequest],
    *,
    workers: int = 1,
    executor: str | Executor | None = None,
    trial_timeout: float | None = None,
    progress: Callable[[Trial], None] | None = None,
) -> list[Trial]:
    """See :meth:`Study.run_requests`."""
    if not callable(objective):
        raise InvalidArgumentError(f"`objective` must be callable; got {objective!r}")
    requests = list(requests)
    for r in requests:
        if not isinstance(r, RunRequest):
            raise InvalidArgumentError(f"requests must be RunRequest objects; got {r!r}")
    runner = make_executor(executor, workers, trial_timeout)
    results: dict[int, Trial] = {}
    order: dict[int, int] = {}  # trial id -> request index
    pending = list(enumerate(requests))
    pending.reverse()
    runner.start(objective, study._on_report)
    try:
        with study._heartbeat_thread(runner.blocks_driver):
            while pending or runner.running:
                while pending and runner.can_start():
                    index, request = pending.pop()
                    live = study._start_request(request)
                    order[live.trial.id] = index
                    runner.submit(study._job(live))
                for outcome in runner.wait(timeout=_liveness.HEARTBEAT_INTERVAL):
                    trial = study._finish(outcome)
                    results[order[outcome.trial_id]] = trial
                    if progress is not None:
                        progress(trial)
                study._heartbeat()
    except BaseException as exc:
        runner.close()
        study._abandon_live(f"the reruns were interrupted ({type(exc).__name__})")
        raise
    runner.close()
    out = [results[i] for i in range(len(requests))]
    assert all(t.status is not TrialStatus.RUNNING for t in out)
    return out

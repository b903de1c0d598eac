"""Simulated time: replay learning curves with N virtual workers on a virtual clock.

For benchmarks whose cost per step is known (tabular benchmarks and surrogates record the
training time; synthetic problems use a cost model), nothing needs to run for real. The
objective returns the whole curve of a trial up front — one :class:`SimStep` per step
with its metrics and its cost in seconds — and this executor replays it: each step is an
event at ``start + cumulative cost`` in a priority queue, the scheduler sees the reports
in virtual-time order across all workers, and a trial it stops frees its worker at that
virtual moment. Hours of simulated tuning take seconds, and the same searchers and
schedulers run as in real runs.

Ties are broken by the order in which events were created, so a run is deterministic for
a seed.
"""

from __future__ import annotations

import heapq
import math
import traceback as tb_module
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from tunelab._errors import InvalidArgumentError, TrialError
from tunelab.executors._base import Executor, Job, Objective, OnReport, Outcome
from tunelab.trial import Decision, TrialStatus, check_metrics, final_metrics

__all__ = ["SimStep", "SimulatedExecutor"]


class SimStep(NamedTuple):
    """One step of a simulated curve: its metrics and how many seconds it took."""

    metrics: Mapping[str, float]
    seconds: float


_AT_BUDGET = ("finish", "stop")


@dataclass
class _SimTrial:
    job: Job
    curve: list[SimStep]
    next_step: int
    started: float
    last: dict[str, float]


class SimulatedExecutor(Executor):
    """Runs trials on a virtual clock with ``workers`` simulated workers.

    The objective returns a sequence of :class:`SimStep`; step ``i`` (counting from 1) is
    reported at the virtual time its cumulative cost is paid. ``now`` is the virtual time,
    ``steps_run`` the number of steps replayed (resource consumed), ``log`` the event log
    ``(time, trial number, kind, step)``. With ``time_budget``, no trial starts after
    that virtual second; with ``step_budget``, none starts once that many steps ran.
    ``at_budget`` says what happens to the trials still running then: ``"finish"`` (the
    default) lets them run to their end; ``"stop"`` is a hard end of the budget: they
    stop at once, with the steps they reported (the clock stops there too).

    A paused trial that is resumed continues its curve where it paused, as if it had
    loaded a checkpoint (the objective is not called again).

    >>> from tunelab import Float, Space, Study
    >>> from tunelab.executors import SimStep, SimulatedExecutor
    >>> def curve(trial):  # three epochs of 10 s each; the loss falls with x
    ...     return [SimStep({"loss": trial["x"] / e}, 10.0) for e in (1, 2, 3)]
    >>> sim = SimulatedExecutor(workers=2)
    >>> study = Study("doc-sim", Space(x=Float(0, 1)), metric="loss", store="memory")
    >>> study.optimize(curve, n_trials=4, executor=sim)
    >>> sim.now, sim.steps_run  # 4 trials x 30 s on 2 workers
    (60.0, 12)
    """

    def __init__(
        self,
        workers: int,
        *,
        time_budget: float | None = None,
        step_budget: int | None = None,
        at_budget: str = "finish",
    ) -> None:
        if at_budget not in _AT_BUDGET:
            raise InvalidArgumentError(
                f"`at_budget` must be one of {_AT_BUDGET}; got {at_budget!r}"
            )
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidArgumentError(f"`workers` must be an integer >= 1; got {workers!r}")
        if time_budget is not None and not (
            isinstance(time_budget, (int, float)) and time_budget > 0
        ):
            raise InvalidArgumentError(f"`time_budget` must be a number > 0; got {time_budget!r}")
        if step_budget is not None and (
            isinstance(step_budget, bool) or not isinstance(step_budget, int) or step_budget < 1
        ):
            raise InvalidArgumentError(
                f"`step_budget` must be an integer >= 1; got {step_budget!r}"
            )
        self._n = workers
        self.time_budget = time_budget
        self.step_budget = step_budget
        self.at_budget = at_budget
        self.now = 0.0
        self.steps_run = 0
        self.log: list[tuple[float, int, str, int]] = []
        self._events: list[tuple[float, int, int]] = []  # (time, sequence, trial id)
        self._seq = 0
        self._trials: dict[int, _SimTrial] = {}
        self._done: list[Outcome] = []  # outcomes known at submit time (bad curves)
        self._paused: dict[int, list[SimStep]] = {}  # curves of paused trials
        self._objective: Objective | None = None
        self._on_report: OnReport | None = None

    @property
    def slots(self) -> int:
        return self._n

    @property
    def running(self) -> int:
        return len(self._trials) + len(self._done)

    def budget_spent(self) -> bool:
        """Whether the time or step budget has run out."""
        if self.time_budget is not None and self.now >= self.time_budget:
            return True
        return self.step_budget is not None and self.steps_run >= self.step_budget

    def can_start(self) -> bool:
        return not self.budget_spent() and self.running < self._n

    def start(self, objective: Objective, on_report: OnReport) -> None:
        self._objective, self._on_report = objective, on_report

    def _push(self, at: float, trial_id: int) -> None:
        heapq.heappush(self._events, (at, self._seq, trial_id))
        self._seq += 1

    def submit(self, job: Job) -> None:
        assert self._objective is not None
        curve = self._paused.pop(job.trial_id, None)
        if curve is None or job.resume_step == 0:
            try:
                curve = _check_curve(self._objective(job.handle(None)))
            except Exception as exc:
                self._done.append(Outcome(job.trial_id, TrialStatus.FAILED,
                                          error=f"{type(exc).__name__}: {exc}",
                                          traceback=tb_module.format_exc()))
                self.log.append((self.now, job.number, "failed", 0))
                return
        first = min(job.resume_step, len(curve)) if curve is not None else 0
        last = dict(curve[first - 1].metrics) if first else {}
        sim = _SimTrial(job, curve, first, self.now, last)
        self._trials[job.trial_id] = sim
        self.log.append((self.now, job.number, "resume" if first else "start", first))
        if first >= len(curve):  # nothing left to replay: the curve ended where it paused
            assert self._on_report is not None
            decision = self._on_report(job.trial_id, len(curve), dict(sim.last))
            self._done.append(self._end(job.trial_id, decision))
            return
        self._push(self.now + curve[first].seconds, job.trial_id)

    def wait(self, timeout: float | None) -> list[Outcome]:
        """Advance the clock to the next trial that ends; ``timeout`` (wall time) is moot."""
        if self._done:
            done, self._done = self._done, []
            return done
        assert self._on_report is not None
        while self._events:
            at, _, trial_id = heapq.heappop(self._events)
            self.now = at
            sim = self._trials[trial_id]
            step = sim.curve[sim.next_step]
            sim.next_step += 1
            self.steps_run += 1
            metrics = dict(step.metrics)
            sim.last.update(metrics)
            self.log.append((at, sim.job.number, "report", sim.next_step))
            decision = self._on_report(trial_id, sim.next_step, metrics)
            if self.at_budget == "stop" and self.budget_spent():
                return self._stop_all(trial_id, decision)
            if decision is Decision.CONTINUE and sim.next_step < len(sim.curve):
                self._push(at + sim.curve[sim.next_step].seconds, trial_id)
                continue
            return [self._end(trial_id, decision)]
        return []

    def _stop_all(self, trial_id: int, decision: Decision) -> list[Outcome]:
        """Hard end of the budget: ``trial_id`` ends as decided if its curve is done or it
        was told to stop or pause; every running trial stops where it is."""
        sim = self._trials[trial_id]
        if decision is Decision.CONTINUE and sim.next_step < len(sim.curve):
            decision = Decision.STOP
        out = [self._end(trial_id, decision)]
        for other in list(self._trials):
            out.append(self._end(other, Decision.STOP))
        self._events.clear()
        return out

    def _end(self, trial_id: int, decision: Decision) -> Outcome:
        sim = self._trials.pop(trial_id)
        kind = {Decision.STOP: "stopped", Decision.PAUSE: "paused"}.get(decision, "finish")
        self.log.append((self.now, sim.job.number, kind, sim.next_step))
        resumed = sim.job.resume_step
        if decision is Decision.STOP:
            return Outcome(trial_id, TrialStatus.STOPPED, sim.last, resumed_from=resumed)
        if decision is Decision.PAUSE:
            self._paused[trial_id] = sim.curve
            return Outcome(trial_id, TrialStatus.PAUSED, sim.last, resumed_from=resumed)
        try:
            metrics = final_metrics(None, sim.last, sim.job.metric)
        except TrialError as exc:
            return Outcome(trial_id, TrialStatus.FAILED, sim.last, str(exc),
                           resumed_from=resumed)
        return Outcome(trial_id, TrialStatus.COMPLETE, metrics, resumed_from=resumed)

    def close(self) -> None:
        self._events.clear()
        self._trials.clear()
        self._done.clear()  # curves of paused trials stay: a later optimize() resumes them


def _check_curve(curve: object) -> list[SimStep]:
    """A non-empty sequence of (metrics, seconds) with finite metrics and seconds >= 0."""
    if not isinstance(curve, Sequence) or isinstance(curve, (str, bytes)) or not curve:
        raise TrialError(
            "a simulated objective must return a non-empty list of SimStep(metrics, seconds); "
            f"got {type(curve).__name__}"
        )
    steps = []
    for i, item in enumerate(curve, 1):
        try:
            metrics, seconds = item
        except (TypeError, ValueError):
            raise TrialError(
                f"step {i} must be SimStep(metrics, seconds); got {item!r:.100}"
            ) from None
        if not isinstance(metrics, Mapping):
            raise TrialError(f"step {i}: metrics must be a dict; got {metrics!r:.100}")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
            math.isfinite(seconds) and seconds >= 0
        ):
            raise TrialError(f"step {i}: seconds must be a finite number >= 0; got {seconds!r}")
        steps.append(SimStep(check_metrics(metrics, f"at simulated step {i}"), float(seconds)))
    return steps

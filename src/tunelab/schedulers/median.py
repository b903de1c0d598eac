"""Median stopping (Golovin et al., "Google Vizier", KDD 2017).

A trial stops at step ``t`` when its best value so far is worse than the median of the
running averages, up to ``t``, of the trials that already finished and reached ``t``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from tunelab._errors import InvalidArgumentError
from tunelab.schedulers._base import Scheduler, check_resources
from tunelab.trial import Decision, Report, Trial, TrialStatus

__all__ = ["MedianStopping"]


class MedianStopping(Scheduler):
    """Stop a trial whose best value is worse than the finished trials' median.

    No decision before ``grace_period`` steps or before ``min_samples`` finished trials
    reached the step. With ``max_resource`` trials are granted (and stopped at) that many
    steps.

    >>> from tunelab import Float, MedianStopping, Space, Study
    >>> def objective(trial):
    ...     for epoch in range(1, 6):
    ...         if trial.report(epoch, loss=trial["x"] + 1 / epoch) != "CONTINUE":
    ...             return
    >>> study = Study("doc-median", Space(x=Float(0, 1)), metric="loss", store="memory",
    ...               scheduler=MedianStopping(), seed=0)
    >>> study.optimize(objective, n_trials=20)
    >>> sum(t.status.value == "STOPPED" for t in study.trials) > 0
    True
    """

    name = "median"
    needs_history = True

    def __init__(
        self,
        grace_period: int = 1,
        min_samples: int = 3,
        max_resource: int | None = None,
    ) -> None:
        for label, value in (("grace_period", grace_period), ("min_samples", min_samples)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"`{label}` must be an integer >= 1; got {value!r}")
        if max_resource is not None:
            check_resources(1, max_resource)
        self.grace_period = grace_period
        self.min_samples = min_samples
        self.max_resource = max_resource
        self.min_resource = 1 if max_resource is not None else None
        self._curves: dict[int, list[tuple[int, float]]] = {}
        self._best: dict[int, float] = {}
        self._averages: dict[int, list[float]] = {}  # step -> sorted running averages

    def restore(self, trials: Sequence[Trial]) -> None:
        self._curves.clear()
        self._best.clear()
        self._averages.clear()
        for trial in trials:
            if trial.is_rerun:
                continue  # ran outside the scheduler (repro, seeds, sensitivity)
            for report in trial.reports:
                self._note(trial.number, report)
            if trial.status.is_finished:
                self.on_finish(trial)

    def _note(self, number: int, report: Report) -> float | None:
        value = report.metrics.get(self.metric)
        if value is None:
            return self._best.get(number)
        score = self.score(value)
        self._curves.setdefault(number, []).append((report.step, score))
        best = min(score, self._best.get(number, score))
        self._best[number] = best
        return best

    def on_report(self, trial: Trial, report: Report) -> Decision:
        best = self._note(trial.number, report)
        if self.max_resource is not None and report.step >= self.max_resource:
            return Decision.STOP  # the maximum resource: done (the study marks it COMPLETE)
        if best is None or report.step < self.grace_period:
            return Decision.CONTINUE
        averages = self._averages.get(report.step, [])
        if len(averages) < self.min_samples:
            return Decision.CONTINUE
        n = len(averages)
        median = averages[n // 2] if n % 2 else (averages[n // 2 - 1] + averages[n // 2]) / 2
        return Decision.STOP if best > median else Decision.CONTINUE

    def on_finish(self, trial: Trial) -> None:
        curve = self._curves.pop(trial.number, [])
        self._best.pop(trial.number, None)
        if trial.status not in (TrialStatus.COMPLETE, TrialStatus.STOPPED):
            return
        total = 0.0
        for i, (step, score) in enumerate(curve, 1):
            total += score
            bisect.insort(self._averages.setdefault(step, []), total / i)

    def spec(self) -> dict[str, object]:
        return {
            "name": self.name,
            "grace_period": self.grace_period,
            "min_samples": self.min_samples,
            "max_resource": self.max_resource,
        }

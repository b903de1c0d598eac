"""What a model-based searcher learns from: the trial history as arrays on the unit cube."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from tunelab.space import Space
from tunelab.trial import Trial, TrialStatus

__all__ = ["Observations", "observe", "value_at", "resources_seen"]

#: Trials whose configuration is being evaluated: a proposal should not repeat them.
PENDING = (TrialStatus.RUNNING, TrialStatus.WAITING)
#: Trials that carry a value of the target.
VALUED = (TrialStatus.COMPLETE, TrialStatus.STOPPED, TrialStatus.PAUSED)


@dataclass(frozen=True)
class Observations:
    """The history of a study, encoded for a model.

    ``x`` holds one row per observed trial on the unit cube (``Space.encode``; NaN where a
    conditional parameter is inactive), ``loss`` the target turned into a loss (lower is
    better whatever the study's direction), ``step`` the highest step at which the value
    was measured (0 when unknown) and ``numbers`` the trial numbers. ``pending`` holds the
    encoded configurations of trials still running or queued.
    """

    x: np.ndarray
    loss: np.ndarray
    step: np.ndarray
    numbers: np.ndarray
    pending: np.ndarray

    def __len__(self) -> int:
        return len(self.loss)

    def ranked(self) -> np.ndarray:
        """Indices from best to worst: trials measured at a higher step first (a value
        after more training outranks one after less), then by loss; ties by number."""
        return np.lexsort((self.numbers, self.loss, -self.step))


def _loss(value: float, direction: str) -> float:
    return value if direction == "min" else -value


def value_at(trial: Trial, metric: str, step: int) -> float | None:
    """The trial's ``metric`` reported at exactly ``step`` (None if never reported)."""
    for report in trial.reports:
        if report.step == step and metric in report.metrics:
            v = report.metrics[metric]
            return v if math.isfinite(v) else None
    return None


def resources_seen(history: Collection[Trial]) -> list[int]:
    """The resources (rung levels) schedulers granted in ``history``, ascending."""
    seen = set()
    for t in history:
        r = t.system_attrs.get("resource")
        if isinstance(r, int) and not isinstance(r, bool) and r > 0:
            seen.add(r)
    return sorted(seen)


def observe(
    space: Space,
    history: Collection[Trial],
    direction: str = "min",
    *,
    metric: str | None = None,
    resource: int | None = None,
) -> Observations:
    """Encode ``history`` for a model.

    Without ``resource``, every trial with a finite value counts (COMPLETE, and STOPPED or
    PAUSED trials with the value they reached). With ``resource`` (and ``metric``), a
    trial counts with its value reported at that step, whatever its status — the
    observations of one budget, as BOHB fits them.
    """
    d = len(space)
    rows: list[np.ndarray] = []
    losses: list[float] = []
    steps: list[float] = []
    numbers: list[int] = []
    pending: list[np.ndarray] = []
    for t in history:
        if t.status in PENDING and resource is None:
            pending.append(space.encode(t.config))
            continue
        if resource is not None:
            assert metric is not None, "observations at a resource need the metric"
            value = value_at(t, metric, resource)
            step = resource
        else:
            if t.status not in VALUED or t.value is None or not math.isfinite(t.value):
                continue
            value = t.value
            step = int(t.system_attrs.get("step", 0) or 0)
            if t.status is TrialStatus.COMPLETE and step == 0:
                step = np.iinfo(np.int64).max  # no scheduler: a full evaluation
        if value is None:
            continue
        rows.append(space.encode(t.config))
        losses.append(_loss(value, direction))
        steps.append(step)
        numbers.append(t.number)
    return Observations(
        x=np.array(rows, dtype=float).reshape(-1, d),
        loss=np.array(losses, dtype=float),
        step=np.array(steps, dtype=float),
        numbers=np.array(numbers, dtype=np.int64),
        pending=np.array(pending, dtype=float).reshape(-1, d),
    )

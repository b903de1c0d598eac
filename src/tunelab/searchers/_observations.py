"""What a model-based searcher learns from: the trial history as arrays on the unit cube."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from tunelab.space import Space
from tunelab.trial import Trial, TrialStatus

__all__ = ["EncodingCache", "Observations", "observe", "resources_seen", "value_at"]

#: Trials whose configuration is being evaluated: a proposal should not repeat them.
PENDING = (TrialStatus.RUNNING, TrialStatus.WAITING)
#: Trials that carry a value of the target.
VALUED = (TrialStatus.COMPLETE, TrialStatus.STOPPED, TrialStatus.PAUSED)


class EncodingCache:
    """Remembers each trial's encoded configuration, so that a searcher that sees the same
    trial objects again (a study hands over its history at every proposal) encodes only
    the new ones. Entries hold the trial, so an object's identity is never reused."""

    def __init__(self) -> None:
        self._rows: dict[int, tuple[Trial, np.ndarray]] = {}
        self._summaries: dict[int, tuple[Trial, tuple[int, np.ndarray | None, float, float]]] = {}
        self._trials: list[Trial] = []
        self._kind = np.zeros(0, dtype=np.int8)
        self._x = np.zeros((0, 0))
        self._value = np.zeros(0)
        self._step = np.zeros(0)
        self._number = np.zeros(0, dtype=np.int64)
        self._space: Space | None = None

    def table(
        self, space: Space, history: Collection[Trial]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(kind, rows, value, step, number) of every trial of ``history``, in order.

        A study hands over the same trial objects, in the same order, at each proposal,
        changing only trials that finished or started since: the summaries are kept
        and only those from the first changed position on are recomputed.
        """
        self._switch(space)
        trials = list(history)
        old = self._trials
        limit = min(len(old), len(trials))
        if all(map(operator.is_, old, trials)):  # the usual case: trials added at the end
            p = limit
        else:
            same = list(map(operator.is_, old[:limit], trials[:limit]))
            p = same.index(False)
        n, d = len(trials), len(space)
        if self._kind.shape[0] < n or self._x.shape[1] != d:
            size = max(n, 2 * self._kind.shape[0], 64)
            grow = np.full((size, d), np.nan)
            keep = min(p, self._kind.shape[0]) if self._x.shape[1] == d else 0
            if keep:
                grow[:keep] = self._x[:keep]
            self._x = grow
            for name in ("_kind", "_value", "_step", "_number"):
                arr = getattr(self, name)
                new = np.zeros(size, dtype=arr.dtype)
                new[:keep] = arr[:keep]
                setattr(self, name, new)
            p = min(p, keep)
        for i in range(p, n):
            t = trials[i]
            kind, row, value, step = self.summary(space, t)
            self._kind[i] = kind
            if row is not None:
                self._x[i] = row
            self._value[i] = value
            self._step[i] = step
            self._number[i] = t.number
        self._trials = trials
        return (self._kind[:n], self._x[:n], self._value[:n], self._step[:n],
                self._number[:n])

    def summary(
        self, space: Space, trial: Trial
    ) -> tuple[int, np.ndarray | None, float, float]:
        """:func:`_summary` of ``trial``, computed once per trial object."""
        self._switch(space)
        return _memo(self._summaries, trial, lambda: _summary(space, trial))

    def encode(self, space: Space, trial: Trial) -> np.ndarray:
        """``space.encode(trial.config)``, computed once per trial object."""
        self._switch(space)
        return _memo(self._rows, trial, lambda: space.encode(trial.config))

    def _switch(self, space: Space) -> None:
        """Forget everything when the space changes."""
        if self._space is not space:
            self._rows.clear()
            self._summaries.clear()
            self._trials = []
            self._space = space


_T = TypeVar("_T")


def _memo(memo: dict[int, tuple[Trial, _T]], trial: Trial, compute: Callable[[], _T]) -> _T:
    """``compute()`` for ``trial``, kept by object identity (the entry holds the trial, so
    its id is never reused); the memo starts over if trials were replaced very often."""
    hit = memo.get(id(trial))
    if hit is not None and hit[0] is trial:
        return hit[1]
    out = compute()
    if len(memo) > 4 * _MAX_CACHED:
        memo.clear()
    memo[id(trial)] = (trial, out)
    return out


_MAX_CACHED = 100_000


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
        loss, step, numbers = self.loss, self.step, self.numbers
        if len(loss) > 1 and (step == step[0]).all() and (numbers[1:] > numbers[:-1]).all():
            # one step, numbers ascending: the order of the losses, ties in array order
            order: np.ndarray = np.argsort(loss)
            ranked = loss[order]
            if not (ranked[1:] == ranked[:-1]).any():  # no ties: one order only
                return order
            return np.argsort(loss, kind="stable")
        return np.lexsort((numbers, loss, -step))


_SKIP, _VALUED, _PENDING = 0, 1, 2


def _summary(space: Space, t: Trial) -> tuple[int, np.ndarray | None, float, float]:
    """(kind, encoded row, value, step) of a trial for :func:`observe` without a resource."""
    if t.status in PENDING:
        return _PENDING, space.encode(t.config), math.nan, 0.0
    if t.status not in VALUED or t.value is None or not math.isfinite(t.value):
        return _SKIP, None, math.nan, 0.0
    step = float(t.system_attrs.get("step", 0) or 0)
    if t.status is TrialStatus.COMPLETE and step == 0:
        step = math.inf  # no scheduler: a full evaluation
    return _VALUED, space.encode(t.config), float(t.value), step


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
    cache: EncodingCache | None = None,
) -> Observations:
    """Encode ``history`` for a model.

    Without ``resource``, every trial with a finite value counts (COMPLETE, and STOPPED or
    PAUSED trials with the value they reached). With ``resource`` (and ``metric``), a
    trial counts with its value reported at that step, whatever its status — the
    observations of one budget, as BOHB fits them. A ``cache`` saves re-encoding trials
    seen before.
    """

    d = len(space)
    rows: list[np.ndarray] = []
    values: list[float] = []
    steps: list[float] = []
    numbers: list[int] = []
    pending: list[np.ndarray] = []
    if resource is None and cache is not None:
        kinds, x, vals, stps, nums = cache.table(space, history)
        valued, waiting = kinds == _VALUED, kinds == _PENDING
        loss = vals[valued] if direction == "min" else -vals[valued]
        return Observations(x=x[valued], loss=loss, step=stps[valued],
                            numbers=nums[valued], pending=x[waiting])
    if resource is None:
        for t in history:
            kind, row, value, step = _summary(space, t)
            if kind == _VALUED and row is not None:
                rows.append(row)
                values.append(value)
                steps.append(step)
                numbers.append(t.number)
            elif kind == _PENDING and row is not None:
                pending.append(row)
    else:
        assert metric is not None, "observations at a resource need the metric"
        for t in history:
            at = value_at(t, metric, resource)
            if at is None:
                continue
            rows.append(space.encode(t.config) if cache is None else cache.encode(space, t))
            values.append(at)
            steps.append(resource)
            numbers.append(t.number)
    loss = np.array(values, dtype=float)
    if direction == "max":
        loss = -loss
    return Observations(
        x=np.array(rows, dtype=float).reshape(-1, d),
        loss=loss,
        step=np.array(steps, dtype=float),
        numbers=np.array(numbers, dtype=np.int64),
        pending=np.array(pending, dtype=float).reshape(-1, d),
    )

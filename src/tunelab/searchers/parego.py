"""ParEGO: multi-objective search through random scalarisations of any single-objective
searcher (Knowles 2006)."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from tunelab._errors import InvalidArgumentError
from tunelab.searchers._base import Searcher
from tunelab.space import Config, Space
from tunelab.trial import Trial, TrialStatus

__all__ = ["ParEGOSearcher", "scalarize"]

#: The name of the scalarised loss the inner searcher minimises.
SCALAR = "parego_loss"
_VALUED = (TrialStatus.COMPLETE, TrialStatus.STOPPED, TrialStatus.PAUSED)


def scalarize(losses: np.ndarray, weights: np.ndarray, rho: float = 0.05) -> np.ndarray:
    """Augmented Chebyshev scalarisation of ``losses`` (one row per trial, one column per
    objective, lower is better): each column min-max normalised to [0, 1] over the rows,
    then ``max_j w_j f_j + rho * sum_j w_j f_j``.

    >>> scalarize(np.array([[0.0, 10.0], [1.0, 0.0]]), np.array([0.5, 0.5]), rho=0.0).tolist()
    [0.5, 0.5]
    """
    losses = np.asarray(losses, dtype=float)
    if losses.size == 0:
        return np.zeros(len(losses))
    low, high = losses.min(axis=0), losses.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    weighted = weights * (losses - low) / span
    return np.asarray(weighted.max(axis=1) + rho * weighted.sum(axis=1))


class ParEGOSearcher(Searcher):
    """Multi-objective search with any single-objective searcher inside.

    For trial ``n`` a weight vector is drawn uniformly from the simplex (with the
    generator of trial ``n``), every objective is min-max normalised over the finished
    trials, each trial's objectives are folded into one loss by the augmented Chebyshev
    scalarisation (``rho`` = 0.05), and the ``inner`` searcher proposes the configuration
    that minimises that loss. Each trial thus aims at another part of the Pareto front.

    ``inner`` is a registered searcher's name, a spec dict or a :class:`Searcher`; the
    default is ``"tpe"`` when it is registered, else ``"random"`` (which ignores the
    history, so ParEGO over it is random search). Its seed is derived from this one's
    unless the spec gives one. A single-objective study scalarises its one target, which
    keeps the inner searcher's ranking.

    >>> from tunelab import Float, Space
    >>> s = ParEGOSearcher(inner="random", seed=0)
    >>> s.setup("acc", "max", objectives=[("acc", "max"), ("latency", "min")])
    >>> sorted(s.suggest(Space(x=Float(0, 1)), [], 0))
    ['x']
    """

    name = "parego"

    def __init__(
        self,
        inner: str | Mapping[str, Any] | Searcher | None = None,
        rho: float = 0.05,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        from tunelab.searchers import SEARCHERS, make_searcher  # the registry imports us

        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not (
            math.isfinite(rho) and rho >= 0
        ):
            raise InvalidArgumentError(f"`rho` must be a finite number >= 0; got {rho!r}")
        if inner is None:
            inner = "tpe" if "tpe" in SEARCHERS else "random"
        inner_name = inner if isinstance(inner, str) else (
            inner.get("name") if isinstance(inner, Mapping) else getattr(inner, "name", None)
        )
        if inner_name == self.name:
            raise InvalidArgumentError(
                f"`inner` must be a single-objective searcher, not {inner_name!r}"
            )
        derived = int(np.random.SeedSequence([self.seed, 0x9A4E60]).generate_state(1)[0])
        built = make_searcher(inner, seed=derived)
        if built.needs_reports:
            raise InvalidArgumentError(
                f"`inner` searcher {built.name!r} models intermediate reports; ParEGO "
                "scalarises final values only: use one that models final values "
                "(tpe, gp, random...)"
            )
        self.inner = built
        self.rho = float(rho)
        self.inner.setup(SCALAR, "min")

    def setup(
        self,
        metric: str,
        direction: str,
        *,
        objectives: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        super().setup(metric, direction, objectives=objectives)
        self.inner.setup(SCALAR, "min")

    def weights(self, number: int) -> np.ndarray:
        """The weight vector of trial ``number``: uniform on the simplex."""
        k = len(self.objectives)
        return self.rng(number).dirichlet(np.ones(k)) if k > 1 else np.ones(1)

    def _objective_values(self, trial: Trial) -> list[float] | None:
        out = []
        for i, (metric, direction) in enumerate(self.objectives):
            value = trial.metrics.get(metric)
            if i == 0 and trial.value is not None:
                value = trial.value
            if value is None or not math.isfinite(value):
                return None
            out.append(value if direction == "min" else -value)
        return out

    def scalarized(self, history: Collection[Trial], number: int) -> dict[int, float]:
        """The scalarised loss of every trial of ``history`` that has all objectives,
        under the weights of trial ``number``: ``{trial number: loss}``."""
        numbers, rows = [], []
        for trial in history:
            if trial.status in _VALUED:
                values = self._objective_values(trial)
                if values is not None:
                    numbers.append(trial.number)
                    rows.append(values)
        if not rows:
            return {}
        loss = scalarize(np.array(rows), self.weights(number), self.rho)
        return dict(zip(numbers, loss.tolist(), strict=True))

    def suggest(self, space: Space, history: Collection[Trial], number: int) -> Config:
        scalar = self.scalarized(history, number)
        view = []
        for trial in history:
            if trial.number in scalar:
                s = scalar[trial.number]
                trial = replace(trial, value=s, metrics={SCALAR: s}, reports=())
            elif trial.status in _VALUED:  # lacks an objective: nothing to learn from
                trial = replace(trial, value=None, metrics={}, reports=())
            view.append(trial)
        return self.inner.suggest(space, tuple(view), number)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "inner": self.inner.spec(),
                "rho": self.rho}

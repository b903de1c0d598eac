"""The contract every benchmark problem fulfils.

A problem is a search space, a target metric with a direction, an exact optimum (or the
best value of its table) and a reference worst value, so that normalized regret

    regret = |best_so_far - optimum| / |worst - optimum|      (0 = optimal, 1 = worst)

is exact and comparable across problems. ``evaluate`` returns the *learning curve* of one
training run at full fidelity: one :class:`tunelab.executors.SimStep` per step (epoch,
boosting round, data fraction...), each with its metrics and its cost in seconds. A
black-box problem has one step. The same call serves real runs (the objective returns
the last step's metrics), the simulated-time executor (it replays the steps on a virtual
clock), and peers such as Optuna (they report the steps one by one).

Noise: ``seed`` picks the noise of this run (for tables: which recorded training seed is
returned), so the same (config, seed) always gives the same curve.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from tunelab import Space
from tunelab.executors import SimStep

__all__ = ["Problem", "SimStep"]


class Problem(ABC):
    """A benchmark problem. Subclasses set the attributes and implement :meth:`evaluate`."""

    #: Unique name, ``family/instance`` for families with many instances.
    name: str
    #: ``synthetic``, ``bbob``, ``mf-synthetic``, ``tabular``, ``yahpo``, ``pmlb``.
    family: str
    space: Space
    #: The metric that is optimised; every step's metrics include it.
    metric: str
    direction: str  # "min" or "max"
    #: The best achievable value of ``metric`` (exact, or the best in the table).
    optimum: float
    #: A reference bad value for normalisation (e.g. the worst in the table, or a high
    #: quantile of random configurations); regret is clipped to [0, 1] at this value.
    worst: float
    #: Number of steps of a full-fidelity run (1 for black-box problems).
    max_steps: int = 1
    #: True when ``evaluate`` really trains (PMLB): it cannot be replayed in bulk.
    real: bool = False

    @abstractmethod
    def evaluate(self, config: Mapping[str, Any], seed: int) -> Sequence[SimStep]:
        """The full-fidelity curve of one run: ``max_steps`` steps, deterministic in seed."""

    def regret(self, value: float) -> float:
        """Normalized regret of ``value`` in [0, 1]."""
        span = abs(self.worst - self.optimum)
        if span == 0 or not math.isfinite(value):
            return 1.0 if not math.isfinite(value) else 0.0
        gap = (value - self.optimum) if self.direction == "min" else (self.optimum - value)
        return min(max(gap / span, 0.0), 1.0)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: {self.metric} {self.direction}>"

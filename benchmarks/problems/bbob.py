"""The BBOB noiseless suite (24 functions) through COCO's ``coco-experiment`` package.

Source: N. Hansen, S. Finck, R. Ros and A. Auger (2009), *Real-Parameter Black-Box
Optimization Benchmarking 2009: Noiseless Functions Definitions*, INRIA RR-6829; the
functions are evaluated by the COCO platform (N. Hansen et al. (2021), *COCO: a platform for
comparing continuous optimizers in a black-box setting*, Optimization Methods and Software
36(1)), PyPI package ``coco-experiment`` (``import cocoex``, BSD-3-Clause).

Each problem is one function instance ``cocoex.BareProblem("bbob", function, dimension,
instance)``, named ``bbob/f{function}-d{dimension}-i{instance}``, over Floats ``x0 ...
x{d-1}`` in [-5, 5]^d (the BBOB search domain; every optimiser x_opt lies in it).

``optimum`` is the instance's exact f_opt from ``BareProblem.best_value()`` (COCO's f_opt,
a value rounded to 0.01 in [-1000, 1000] per function and instance; e.g. 79.48 for f1 and
149.15 for f8 of instance 1). ``BareProblem.best_parameter()`` gives x_opt with
f(x_opt) = f_opt; the tests check it. ``worst`` is the 0.95 quantile of f over 10,000 points
drawn uniformly from [-5, 5]^d with ``numpy.random.default_rng(0)``, computed on first use
and cached. The functions are noiseless (``seed`` is ignored); one evaluation costs
:data:`SECONDS_PER_EVAL` = 1.0 simulated second.

Suites: smoke = none (the synthetic family covers that); quick = f1 (sphere), f8
(Rosenbrock), f15 (Rastrigin), f21 (Gallagher 101 peaks) in 5-D; full = all 24 functions in
5-D and 10-D. All use instance 1.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks.problems.base import Problem, SimStep
from benchmarks.problems.synthetic import box_space, point, random_quantile

__all__ = ["INSTALL", "SECONDS_PER_EVAL", "BBOBProblem", "problems"]

#: How to install the package this family needs.
INSTALL = "pip install coco-experiment"
#: Simulated seconds per evaluation (cost model).
SECONDS_PER_EVAL = 1.0
#: The BBOB search domain.
BOUNDS = (-5.0, 5.0)

_WORST: dict[str, float] = {}


def _cocoex() -> Any:
    try:
        return importlib.import_module("cocoex")
    except ImportError as exc:
        raise ImportError(
            f"the BBOB problems need the COCO experiment package: {INSTALL} "
            "(or pip install -e '.[bench]')"
        ) from exc


class BBOBProblem(Problem):
    """One BBOB function instance as a black-box (one-step) problem."""

    family = "bbob"
    metric = "value"
    direction = "min"
    max_steps = 1

    def __init__(
        self, function: int, dimension: int, instance: int = 1,
        seconds: float = SECONDS_PER_EVAL,
    ) -> None:
        if not 1 <= function <= 24:
            raise ValueError(f"BBOB functions are numbered 1 to 24; got {function}")
        self.function, self.dimension, self.instance = function, dimension, instance
        self.name = f"bbob/f{function}-d{dimension}-i{instance}"
        self.space = box_space([BOUNDS] * dimension)
        self.seconds = seconds
        self._fn: Any = None
        self._optimum: float | None = None
        self._worst: float | None = None

    # cocoex objects cannot be pickled: rebuild them lazily after unpickling.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_fn"] = None
        return state

    @property
    def coco(self) -> Any:
        """The ``cocoex.BareProblem`` (built on first use)."""
        if self._fn is None:
            self._fn = _cocoex().BareProblem("bbob", self.function, self.dimension, self.instance)
        return self._fn

    @property
    def optimum(self) -> float:
        """f_opt of this instance (``BareProblem.best_value()``)."""
        if self._optimum is None:
            self._optimum = float(self.coco.best_value())
        return self._optimum

    @optimum.setter
    def optimum(self, value: float) -> None:
        self._optimum = float(value)

    @property
    def worst(self) -> float:
        """0.95 quantile of f over 10,000 seeded uniform points (computed once, cached)."""
        if self._worst is None:
            if self.name not in _WORST:
                _WORST[self.name] = random_quantile(
                    lambda xs: np.array([self.coco(x) for x in xs]), [BOUNDS] * self.dimension
                )
            self._worst = _WORST[self.name]
        return self._worst

    @worst.setter
    def worst(self, value: float) -> None:
        self._worst = float(value)

    def best_parameter(self) -> np.ndarray:
        """x_opt of this instance (for tests and sanity checks)."""
        return np.asarray(self.coco.best_parameter(), dtype=float)

    def value(self, config: Mapping[str, Any]) -> float:
        """f at a configuration."""
        return float(self.coco(point(config, self.dimension)))

    def evaluate(self, config: Mapping[str, Any], seed: int) -> Sequence[SimStep]:
        """One step with f(config); noiseless, so ``seed`` is ignored."""
        return [SimStep({self.metric: self.value(config)}, self.seconds)]


QUICK_FUNCTIONS = (1, 8, 15, 21)


def problems(suite: str) -> list[Problem]:
    """smoke: none; quick: f1, f8, f15, f21 in 5-D; full: f1-f24 in 5-D and 10-D (instance 1).

    Raises ImportError with the pip line when ``coco-experiment`` is not installed.
    """
    if suite in ("smoke", "mf"):  # mf: the multi-fidelity suite has no such problems
        return []
    _cocoex()
    if suite == "quick":
        return [BBOBProblem(f, 5) for f in QUICK_FUNCTIONS]
    if suite == "full":
        return [BBOBProblem(f, d) for d in (5, 10) for f in range(1, 25)]
    raise KeyError(f"unknown suite {suite!r}; known: ['full', 'quick', 'smoke']")

"""Synthetic test functions with known minima: Branin, Hartmann-3/6, Levy, Ackley, Rosenbrock.

The formulas are written from their published definitions, as collected in the Virtual
Library of Simulation Experiments (S. Surjanovic and D. Bingham, Simon Fraser University,
https://www.sfu.ca/~ssurjano/optimization.html), with the usual domains:

=============  =====================  =====  ===================================  ============
function       domain                 d      minimiser                            minimum
=============  =====================  =====  ===================================  ============
Branin         [-5, 10] x [0, 15]     2      (-pi, 12.275), (pi, 2.275), ...      5 / (4 pi)
Hartmann-3     [0, 1]^3               3      (0.114614, 0.555649, 0.852547)       -3.86278
Hartmann-6     [0, 1]^6               6      (0.20169, 0.150011, ..., 0.6573)     -3.32237
Levy           [-10, 10]^d            4      (1, ..., 1)                          0
Ackley         [-32.768, 32.768]^d    5      (0, ..., 0)                          0
Rosenbrock     [-5, 10]^d             4      (1, ..., 1)                          0
=============  =====================  =====  ===================================  ============

Sources: Branin and Hartmann from Dixon & Szegö (1978), "The global optimisation problem: an
introduction", in *Towards Global Optimisation 2*; Levy from Levy & Montalvo (1985) in the
form of Laguna & Martí (2005); Ackley (1987), *A connectionist machine for genetic
hillclimbing*, with a = 20, b = 0.2, c = 2 pi; Rosenbrock (1960), *The Computer Journal* 3(3).

``optimum`` is exact: 5/(4 pi) for Branin, 0 for Levy/Ackley/Rosenbrock, and for Hartmann
the literature minimum refined to full double precision (L-BFGS-B from the published
minimiser; the rounded literature values -3.86278 and -3.32237 are within 3e-7 of it).

``worst`` is the 0.95 quantile of f over 10,000 points drawn uniformly from the domain with
``numpy.random.default_rng(0)`` (:func:`random_quantile`), computed once on first use and
cached. Cost model: one evaluation costs :data:`SECONDS_PER_EVAL` = 1.0 simulated second, so
simulated time counts evaluations. The functions are noiseless: ``seed`` is ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.problems.base import Problem, SimStep
from tunelab import Float, Space

__all__ = [
    "FUNCTIONS",
    "SECONDS_PER_EVAL",
    "SyntheticFunction",
    "SyntheticProblem",
    "ackley",
    "branin",
    "hartmann3",
    "hartmann6",
    "levy",
    "problems",
    "random_quantile",
    "rosenbrock",
]

#: Simulated seconds per evaluation of a synthetic function (cost model).
SECONDS_PER_EVAL = 1.0
#: The reference ``worst`` is this quantile of f over random uniform points ...
WORST_QUANTILE = 0.95
#: ... of this many points, drawn with ``numpy.random.default_rng(WORST_SEED)``.
WORST_POINTS = 10_000
WORST_SEED = 0

Array = np.ndarray


def _rows(x: Any) -> Array:
    """``x`` as a 2-D float array (one point per row)."""
    return np.atleast_2d(np.asarray(x, dtype=float))


def branin(x: Any) -> Array:
    """Branin-Hoo: a (x2 - b x1^2 + c x1 - r)^2 + s (1 - t) cos(x1) + s."""
    x = _rows(x)
    x1, x2 = x[:, 0], x[:, 1]
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * np.cos(x1) + s


HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
HARTMANN3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
HARTMANN3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]], dtype=float
)
HARTMANN6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
HARTMANN6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ],
    dtype=float,
)


def hartmann_terms(x: Any, a: Array, p: Array) -> Array:
    """exp(-sum_j A_ij (x_j - P_ij)^2) for each point (rows) and term i (columns)."""
    x = _rows(x)
    return np.exp(-np.sum(a[None, :, :] * (x[:, None, :] - p[None, :, :]) ** 2, axis=2))


def hartmann3(x: Any) -> Array:
    """Hartmann-3: -sum_i alpha_i exp(-sum_j A_ij (x_j - P_ij)^2) on [0, 1]^3."""
    return -(hartmann_terms(x, HARTMANN3_A, HARTMANN3_P) @ HARTMANN_ALPHA)


def hartmann6(x: Any) -> Array:
    """Hartmann-6: the same form with the 4 x 6 matrices A and P, on [0, 1]^6."""
    return -(hartmann_terms(x, HARTMANN6_A, HARTMANN6_P) @ HARTMANN_ALPHA)


def levy(x: Any) -> Array:
    """Levy: with w = 1 + (x - 1) / 4, sin^2(pi w_1) + sum_{i<d} (w_i - 1)^2 (1 + 10
    sin^2(pi w_i + 1)) + (w_d - 1)^2 (1 + sin^2(2 pi w_d))."""
    w = 1 + (_rows(x) - 1) / 4
    head = np.sin(math.pi * w[:, 0]) ** 2
    mid = np.sum((w[:, :-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:, :-1] + 1) ** 2), axis=1)
    tail = (w[:, -1] - 1) ** 2 * (1 + np.sin(2 * math.pi * w[:, -1]) ** 2)
    return head + mid + tail


def ackley(x: Any) -> Array:
    """Ackley: -a exp(-b sqrt(mean x^2)) - exp(mean cos(c x)) + a + e (a=20, b=0.2, c=2 pi)."""
    x = _rows(x)
    a, b, c = 20.0, 0.2, 2 * math.pi
    value = (
        -a * np.exp(-b * np.sqrt(np.mean(x**2, axis=1)))
        - np.exp(np.mean(np.cos(c * x), axis=1))
        + a
        + math.e
    )
    return np.maximum(value, 0.0)  # a + e - a - e rounds to about -4e-16 at the origin


def rosenbrock(x: Any) -> Array:
    """Rosenbrock: sum_{i<d} 100 (x_{i+1} - x_i^2)^2 + (x_i - 1)^2."""
    x = _rows(x)
    return np.sum(100 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (x[:, :-1] - 1) ** 2, axis=1)


@dataclass(frozen=True)
class SyntheticFunction:
    """A vectorised test function (rows are points), its box domain and its minimum."""

    name: str
    f: Callable[[Any], Array]
    bounds: tuple[tuple[float, float], ...]
    optimum: float
    argmin: tuple[float, ...]

    @property
    def dim(self) -> int:
        return len(self.bounds)


def _box(low: float, high: float, d: int) -> tuple[tuple[float, float], ...]:
    return tuple((low, high) for _ in range(d))


#: The six functions by name. Hartmann minima are the literature minima refined to
#: double precision (see the module docstring).
FUNCTIONS: dict[str, SyntheticFunction] = {
    fn.name: fn
    for fn in (
        SyntheticFunction(
            "branin", branin, ((-5.0, 10.0), (0.0, 15.0)), 5 / (4 * math.pi), (math.pi, 2.275)
        ),
        SyntheticFunction(
            "hartmann3", hartmann3, _box(0.0, 1.0, 3), -3.86277978733266,
            (0.11458887, 0.55564889, 0.85254698),
        ),
        SyntheticFunction(
            "hartmann6", hartmann6, _box(0.0, 1.0, 6), -3.322368011415514,
            (0.20168951, 0.15001069, 0.47687397, 0.27533243, 0.31165161, 0.65730053),
        ),
        SyntheticFunction("levy", levy, _box(-10.0, 10.0, 4), 0.0, (1.0,) * 4),
        SyntheticFunction("ackley", ackley, _box(-32.768, 32.768, 5), 0.0, (0.0,) * 5),
        SyntheticFunction("rosenbrock", rosenbrock, _box(-5.0, 10.0, 4), 0.0, (1.0,) * 4),
    )
}


def random_quantile(
    f: Callable[[Any], Array],
    bounds: Sequence[tuple[float, float]],
    q: float = WORST_QUANTILE,
    n: int = WORST_POINTS,
    seed: int = WORST_SEED,
) -> float:
    """The ``q`` quantile of ``f`` over ``n`` uniform points of the box ``bounds``, drawn
    with ``numpy.random.default_rng(seed)`` (deterministic). ``f`` takes a 2-D array."""
    lo = np.array([b[0] for b in bounds], dtype=float)
    hi = np.array([b[1] for b in bounds], dtype=float)
    u = np.random.default_rng(seed).random((n, len(bounds)))
    values = np.asarray(f(lo + u * (hi - lo)), dtype=float)
    return float(np.quantile(values, q))


_WORST: dict[str, float] = {}


def box_space(bounds: Sequence[tuple[float, float]], prefix: str = "x") -> Space:
    """A space of Floats ``x0 ... x{d-1}`` over a box."""
    return Space({f"{prefix}{i}": Float(lo, hi) for i, (lo, hi) in enumerate(bounds)})


def point(config: Mapping[str, Any], dim: int, prefix: str = "x") -> Array:
    """The point of a configuration of :func:`box_space`."""
    return np.array([float(config[f"{prefix}{i}"]) for i in range(dim)], dtype=float)


class SyntheticProblem(Problem):
    """One noiseless synthetic function as a black-box (one-step) benchmark problem.

    >>> p = SyntheticProblem(FUNCTIONS["branin"])
    >>> p.evaluate({"x0": -math.pi, "x1": 12.275}, seed=0)[0].metrics["value"]  # doctest: +ELLIPSIS
    0.39788...
    """

    family = "synthetic"
    metric = "value"
    direction = "min"
    max_steps = 1

    def __init__(self, fn: SyntheticFunction, seconds: float = SECONDS_PER_EVAL) -> None:
        self.fn = fn
        self.name = fn.name
        self.space = box_space(fn.bounds)
        self.optimum = fn.optimum
        self.seconds = seconds
        self._worst: float | None = None

    @property
    def worst(self) -> float:
        """0.95 quantile of f over 10,000 seeded uniform points (computed once, cached)."""
        if self._worst is None:
            if self.fn.name not in _WORST:
                _WORST[self.fn.name] = random_quantile(self.fn.f, self.fn.bounds)
            self._worst = _WORST[self.fn.name]
        return self._worst

    @worst.setter
    def worst(self, value: float) -> None:
        self._worst = float(value)

    def value(self, config: Mapping[str, Any]) -> float:
        """f at a configuration."""
        return float(self.fn.f(point(config, self.fn.dim))[0])

    def evaluate(self, config: Mapping[str, Any], seed: int) -> Sequence[SimStep]:
        """One step with f(config); noiseless, so ``seed`` is ignored."""
        return [SimStep({self.metric: self.value(config)}, self.seconds)]


SUITES: dict[str, tuple[str, ...]] = {
    "smoke": ("branin", "hartmann3"),
    "quick": tuple(FUNCTIONS),
    "full": tuple(FUNCTIONS),
    "mf": (),  # black-box: nothing in the multi-fidelity suite
}


def problems(suite: str) -> list[Problem]:
    """The synthetic problems of a suite: smoke = Branin + Hartmann-3; quick = full = all six;
    mf: none."""
    if suite not in SUITES:
        raise KeyError(f"unknown suite {suite!r}; known: {sorted(SUITES)}")
    return [SyntheticProblem(FUNCTIONS[name]) for name in SUITES[suite]]

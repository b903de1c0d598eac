"""Multi-fidelity Hartmann-3 and Hartmann-6 (``mfh3``, ``mfh6``), written here.

The definition is the one of the ``mf-prior-bench`` package (E. Bergman, N. Mallik et al.,
https://github.com/automl/mf-prior-bench, used in Mallik et al. (2023), *PriorBand*, NeurIPS),
which extends the multi-fidelity Hartmann of Kandasamy et al. (2017), *Multi-fidelity
Bayesian optimisation with continuous approximations* (BOCA), ICML, arXiv:1703.06240.
``mf-prior-bench`` itself is not used: it requires ``numpy<2`` (version 1.10.0), which
conflicts with this project's numpy 2. The formulas below are re-implemented from its
definition:

* fidelity z in 1 ... 100, scaled on a log scale: s(z) = ln z / ln 100 (0 at z = 1, 1 at
  z = 100);
* bias flattens the function at low fidelity: alpha'_i = alpha_i - bias (1 - s(z)), and
  H_z(x) = -sum_i alpha'_i exp(-sum_j A_ij (x_j - P_ij)^2) with Hartmann's A, P, alpha;
* noise shrinks with fidelity: f_z(x) = H_z(x) + |N(0, 1)| noise (1 - s(z));
* at z = 100 the value is the exact (noiseless) Hartmann function.

Presets (bias, noise) as in mf-prior-bench: default ``mfh3``/``mfh6`` (0.5, 0.1), ``_good``
(2.5, 2.0), ``_moderate`` (3.0, 3.0), ``_bad`` (3.5, 4.0), ``_terrible`` (4.0, 5.0). Since
bias >= 0 and the noise is positive, f_z(x) >= H(x) >= the optimum at every fidelity.

Noise: the normal draw of fidelity z comes from a generator seeded by (``seed``, the bits of
x); mf-prior-bench seeds it with (its seed, z, hash(x)). The distribution is the same, and the
same (config, seed) always gives the same curve.

A run's curve has :data:`MAX_FIDELITY` = 100 steps, step z reporting f_z(x). Cost model: the
cost of a run up to fidelity z is lambda(z) = 0.05 + 0.95 (z / 100)^2 (BOCA's cost, p. 18, as
mf-prior-bench's ``fid_cost``) times :data:`SECONDS_PER_FULL_RUN` = 100 s, so step z costs
100 (lambda(z) - lambda(z - 1)) seconds with lambda(0) = 0: 5.05 s for step 1, then about
0.019 (2z - 1) s, growing in proportion to the fidelity; a full run costs 100 s.

``optimum`` is the Hartmann minimum at full fidelity (as in :mod:`.synthetic`); ``worst``
is the synthetic Hartmann's: the 0.95 quantile of the full-fidelity function over 10,000
seeded uniform points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks.problems import synthetic
from benchmarks.problems.base import Problem, SimStep

__all__ = [
    "MAX_FIDELITY",
    "PRESETS",
    "SECONDS_PER_FULL_RUN",
    "MFHartmannProblem",
    "mf_hartmann",
    "problems",
    "step_seconds",
]

MAX_FIDELITY = 100
SECONDS_PER_FULL_RUN = 100.0
#: (bias, noise) per preset suffix, as in mf-prior-bench.
PRESETS: dict[str, tuple[float, float]] = {
    "": (0.5, 0.1),
    "good": (2.5, 2.0),
    "moderate": (3.0, 3.0),
    "bad": (3.5, 4.0),
    "terrible": (4.0, 5.0),
}

_HARTMANN = {
    3: (synthetic.HARTMANN3_A, synthetic.HARTMANN3_P, synthetic.FUNCTIONS["hartmann3"]),
    6: (synthetic.HARTMANN6_A, synthetic.HARTMANN6_P, synthetic.FUNCTIONS["hartmann6"]),
}


def _fidelity_scale(z: np.ndarray) -> np.ndarray:
    return np.log(z) / np.log(MAX_FIDELITY)


def _cost(z: np.ndarray) -> np.ndarray:
    return 0.05 + 0.95 * (z / MAX_FIDELITY) ** 2


def step_seconds() -> np.ndarray:
    """Seconds of steps 1 ... 100: 100 (lambda(z) - lambda(z - 1)), lambda(0) = 0."""
    z = np.arange(1, MAX_FIDELITY + 1, dtype=float)
    cumulative = SECONDS_PER_FULL_RUN * _cost(z)
    return np.diff(cumulative, prepend=0.0)


_STEP_SECONDS = step_seconds()


def _noise_draws(x: np.ndarray, seed: int) -> np.ndarray:
    """|N(0, 1)| for fidelities 1 ... 100, deterministic in (seed, x)."""
    bits = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64).tolist()
    rng = np.random.default_rng([int(seed) & 0xFFFF_FFFF_FFFF_FFFF, *bits])
    return np.abs(rng.standard_normal(MAX_FIDELITY))


def mf_hartmann(
    x: Any, dim: int, bias: float, noise: float, seed: int, fidelities: Any = None
) -> np.ndarray:
    """f_z(x) for each fidelity z (default 1 ... 100) of the ``dim``-D Hartmann."""
    a, p, _ = _HARTMANN[dim]
    x = np.asarray(x, dtype=float).reshape(dim)
    z = np.arange(1, MAX_FIDELITY + 1) if fidelities is None else np.asarray(fidelities)
    s = _fidelity_scale(z.astype(float))
    terms = synthetic.hartmann_terms(x, a, p)[0]  # (4,)
    alpha = synthetic.HARTMANN_ALPHA[None, :] - bias * (1 - s)[:, None]  # (len(z), 4)
    h = -(alpha @ terms)
    draws = _noise_draws(x, seed)[z.astype(int) - 1]
    return np.asarray(h + draws * noise * (1 - s), dtype=float)


class MFHartmannProblem(Problem):
    """Multi-fidelity Hartmann: a 100-step curve, exact Hartmann at the last step."""

    family = "mf-synthetic"
    metric = "value"
    direction = "min"
    max_steps = MAX_FIDELITY

    def __init__(self, dim: int, preset: str = "") -> None:
        if dim not in _HARTMANN:
            raise ValueError(f"multi-fidelity Hartmann exists in 3 or 6 dimensions; got {dim}")
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; known: {sorted(PRESETS)}")
        self.dim = dim
        self.bias, self.noise = PRESETS[preset]
        self.name = f"mfh{dim}" + (f"_{preset}" if preset else "")
        fn = _HARTMANN[dim][2]
        self._fn = fn
        self.space = synthetic.box_space(fn.bounds, prefix="X_")
        self.optimum = fn.optimum
        self._worst: float | None = None

    @property
    def worst(self) -> float:
        """Hartmann's 0.95 quantile over 10,000 seeded uniform points (cached)."""
        if self._worst is None:
            self._worst = synthetic.SyntheticProblem(self._fn).worst
        return self._worst

    @worst.setter
    def worst(self, value: float) -> None:
        self._worst = float(value)

    def curve(self, config: Mapping[str, Any], seed: int) -> np.ndarray:
        """f_z(config) for z = 1 ... 100."""
        x = synthetic.point(config, self.dim, prefix="X_")
        return mf_hartmann(x, self.dim, self.bias, self.noise, seed)

    def evaluate(self, config: Mapping[str, Any], seed: int) -> Sequence[SimStep]:
        """100 steps: step z reports f_z(config) and costs 100 (lambda(z) - lambda(z-1)) s."""
        values = self.curve(config, seed).tolist()
        return [
            SimStep({self.metric: v}, s)
            for v, s in zip(values, _STEP_SECONDS.tolist(), strict=True)
        ]


SUITES: dict[str, tuple[tuple[int, str], ...]] = {
    "smoke": ((3, ""),),
    "quick": ((3, ""), (6, "")),
    "full": ((3, ""), (6, ""), (3, "terrible"), (6, "terrible")),
    "mf": ((3, ""), (6, "")),
}


def problems(suite: str) -> list[Problem]:
    """smoke: mfh3; quick and mf: mfh3, mfh6; full: also mfh3_terrible and mfh6_terrible."""
    if suite not in SUITES:
        raise KeyError(f"unknown suite {suite!r}; known: {sorted(SUITES)}")
    return [MFHartmannProblem(dim, preset) for dim, preset in SUITES[suite]]

"""The synthetic benchmark functions (benchmarks/problems/synthetic.py) and the
multi-fidelity Hartmann family (benchmarks/problems/mf_synthetic.py)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from scipy.optimize import minimize

from benchmarks.problems import family
from benchmarks.problems import mf_synthetic as mf
from benchmarks.problems import synthetic as syn
from benchmarks.problems.base import Problem, SimStep
from tunelab import Space, Study
from tunelab.executors import SimulatedExecutor

ALL = syn.problems("full")


# Independent scalar versions, written from the published formulas, for cross-checks.
def _branin(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def _hartmann(x: list[float], a: list[list[float]], p: list[list[float]]) -> float:
    alpha = [1.0, 1.2, 3.0, 3.2]
    return -sum(
        alpha[i] * math.exp(-sum(a[i][j] * (x[j] - p[i][j]) ** 2 for j in range(len(x))))
        for i in range(4)
    )


def _levy(x: list[float]) -> float:
    w = [1 + (xi - 1) / 4 for xi in x]
    out = math.sin(math.pi * w[0]) ** 2
    for wi in w[:-1]:
        out += (wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2)
    return out + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)


def _ackley(x: list[float]) -> float:
    d = len(x)
    s1 = sum(xi * xi for xi in x) / d
    s2 = sum(math.cos(2 * math.pi * xi) for xi in x) / d
    return -20 * math.exp(-0.2 * math.sqrt(s1)) - math.exp(s2) + 20 + math.e


def _rosenbrock(x: list[float]) -> float:
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (x[i] - 1) ** 2 for i in range(len(x) - 1))


REFERENCE = {
    "branin": lambda x: _branin(*x),
    "hartmann3": lambda x: _hartmann(x, syn.HARTMANN3_A.tolist(), syn.HARTMANN3_P.tolist()),
    "hartmann6": lambda x: _hartmann(x, syn.HARTMANN6_A.tolist(), syn.HARTMANN6_P.tolist()),
    "levy": _levy,
    "ackley": _ackley,
    "rosenbrock": _rosenbrock,
}


def _cfg(problem: Problem, x: list[float] | tuple[float, ...], prefix: str = "x") -> dict:
    return {f"{prefix}{i}": float(v) for i, v in enumerate(x)}


def test_suites() -> None:
    assert [p.name for p in syn.problems("smoke")] == ["branin", "hartmann3"]
    names = ["branin", "hartmann3", "hartmann6", "levy", "ackley", "rosenbrock"]
    assert [p.name for p in syn.problems("quick")] == names
    assert [p.name for p in family("synthetic", "full")] == names
    with pytest.raises(KeyError):
        syn.problems("huge")


@pytest.mark.parametrize("problem", ALL, ids=lambda p: p.name)
def test_known_minimum(problem: syn.SyntheticProblem) -> None:
    fn = problem.fn
    assert problem.value(_cfg(problem, fn.argmin)) == pytest.approx(fn.optimum, abs=1e-7)
    # No local search from the minimiser gets below the stated optimum.
    res = minimize(lambda x: float(fn.f(x)[0]), np.array(fn.argmin), method="L-BFGS-B",
                   bounds=fn.bounds)
    assert res.fun >= fn.optimum - 1e-9


def test_published_optima() -> None:
    f = syn.FUNCTIONS
    for x in ([-math.pi, 12.275], [math.pi, 2.275], [9.42478, 2.475]):
        assert syn.branin(x)[0] == pytest.approx(0.397887, abs=1e-6)
    assert f["branin"].optimum == pytest.approx(0.397887, abs=1e-6)
    h3 = syn.hartmann3([0.114614, 0.555649, 0.852547])[0]
    h6 = syn.hartmann6([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])[0]
    assert h3 == pytest.approx(-3.86278, abs=1e-5)
    assert h6 == pytest.approx(-3.32237, abs=1e-5)
    assert f["hartmann3"].optimum == pytest.approx(-3.86278, abs=1e-5)
    assert f["hartmann6"].optimum == pytest.approx(-3.32237, abs=1e-5)
    assert syn.levy(np.ones(4))[0] == pytest.approx(0.0, abs=1e-15)
    assert syn.ackley(np.zeros(5))[0] == pytest.approx(0.0, abs=1e-12)
    assert syn.rosenbrock(np.ones(4))[0] == 0.0


def test_known_points() -> None:
    # Hand-computed values.
    assert syn.branin([0.0, 0.0])[0] == pytest.approx(56 - 10 / (8 * math.pi), rel=1e-12)
    assert syn.rosenbrock(np.zeros(4))[0] == pytest.approx(3.0)
    assert syn.rosenbrock([[-1.0, 1.0]])[0] == pytest.approx(4.0)
    assert syn.ackley(np.ones(5))[0] == pytest.approx(20 - 20 * math.exp(-0.2), rel=1e-12)
    # Levy at 0: w = 3/4, sin^2(3 pi/4) = 1/2, tail (1/16)(1 + 1).
    mid = 3 * (1 / 16) * (1 + 10 * math.sin(0.75 * math.pi + 1) ** 2)
    assert syn.levy(np.zeros(4))[0] == pytest.approx(0.5 + mid + 0.125, rel=1e-12)


@pytest.mark.parametrize("problem", ALL, ids=lambda p: p.name)
def test_matches_scalar_reference(problem: syn.SyntheticProblem) -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        config = problem.space.sample(rng)
        x = [config[n] for n in problem.space.names]
        assert problem.value(config) == pytest.approx(REFERENCE[problem.name](x), rel=1e-10,
                                                      abs=1e-12)


@pytest.mark.parametrize("problem", ALL, ids=lambda p: p.name)
def test_contract(problem: syn.SyntheticProblem) -> None:
    assert problem.family == "synthetic" and problem.direction == "min"
    assert isinstance(problem.space, Space) and problem.max_steps == 1
    assert math.isfinite(problem.worst) and problem.worst > problem.optimum
    assert problem.worst == syn.random_quantile(problem.fn.f, problem.fn.bounds)  # fixed seed
    assert problem.regret(problem.optimum) == 0.0
    assert problem.regret(problem.worst) == 1.0
    rng = np.random.default_rng(0)
    for _ in range(10):
        config = problem.space.sample(rng)
        curve = problem.evaluate(config, seed=3)
        assert len(curve) == problem.max_steps
        assert all(isinstance(s, SimStep) for s in curve)
        assert problem.metric in curve[-1].metrics
        assert math.isfinite(curve[-1].metrics[problem.metric]) and curve[-1].seconds > 0
        assert curve == problem.evaluate(config, seed=99)  # noiseless
        assert 0.0 <= problem.regret(curve[-1].metrics[problem.metric]) <= 1.0
    clone = pickle.loads(pickle.dumps(problem))
    assert clone.evaluate(config, 0) == problem.evaluate(config, 0)


def test_runs_in_the_simulated_executor() -> None:
    problem = syn.problems("smoke")[0]
    sim = SimulatedExecutor(workers=2)
    study = Study("bench-syn", problem.space, metric=problem.metric, store="memory")
    study.optimize(lambda t: problem.evaluate(t.config, t.seed), n_trials=6, executor=sim)
    assert sim.now == 3 * syn.SECONDS_PER_EVAL  # 6 one-second trials on 2 workers


# ------------------------------------------------------------------ multi-fidelity Hartmann


MF = mf.problems("full")


def test_mf_suites() -> None:
    assert [p.name for p in mf.problems("smoke")] == ["mfh3"]
    assert [p.name for p in mf.problems("quick")] == ["mfh3", "mfh6"]
    assert [p.name for p in family("mf-synthetic", "full")] == [
        "mfh3", "mfh6", "mfh3_terrible", "mfh6_terrible"
    ]


@pytest.mark.parametrize("problem", MF, ids=lambda p: p.name)
def test_mf_contract(problem: mf.MFHartmannProblem) -> None:
    hartmann = syn.FUNCTIONS[f"hartmann{problem.dim}"]
    assert problem.family == "mf-synthetic" and problem.max_steps == 100
    assert problem.optimum == hartmann.optimum
    assert problem.worst == syn.SyntheticProblem(hartmann).worst > problem.optimum
    assert problem.regret(problem.optimum) == 0.0
    rng = np.random.default_rng(1)
    for seed in range(5):
        config = problem.space.sample(rng)
        curve = problem.evaluate(config, seed)
        assert len(curve) == problem.max_steps
        assert all(isinstance(s, SimStep) and problem.metric in s.metrics for s in curve)
        values = np.array([s.metrics[problem.metric] for s in curve])
        assert np.isfinite(values).all()
        exact = float(hartmann.f([config[n] for n in problem.space.names])[0])
        assert values[-1] == pytest.approx(exact, abs=1e-12)  # full fidelity = Hartmann
        assert (values >= exact - 1e-12).all()  # bias and noise only ever add
        assert curve == problem.evaluate(config, seed)  # deterministic in (config, seed)
        assert values[0] != problem.evaluate(config, seed + 1)[0].metrics[problem.metric]
    # At the optimum the curve ends at the optimum.
    at_opt = {f"X_{i}": v for i, v in enumerate(hartmann.argmin)}
    last = problem.evaluate(at_opt, 0)[-1].metrics[problem.metric]
    assert last == pytest.approx(problem.optimum, abs=1e-7)


def test_mf_formula_and_cost() -> None:
    x = np.array([0.3, 0.6, 0.9])
    e = syn.hartmann_terms(x, syn.HARTMANN3_A, syn.HARTMANN3_P)[0]
    alpha = np.array([1.0, 1.2, 3.0, 3.2])
    bias = 0.5
    # Noise off: alpha' = alpha - bias (1 - ln z / ln 100).
    values = mf.mf_hartmann(x, 3, bias, 0.0, seed=0, fidelities=[1, 10, 100])
    for z, v in zip([1, 10, 100], values, strict=True):
        s = math.log(z) / math.log(100)
        assert v == pytest.approx(-float((alpha - bias * (1 - s)) @ e), rel=1e-12)
    # With noise, the excess over the noiseless value is |N(0,1)| * noise * (1 - s).
    noisy = mf.mf_hartmann(x, 3, bias, 2.0, seed=4)
    quiet = mf.mf_hartmann(x, 3, bias, 0.0, seed=4)
    s = np.log(np.arange(1, 101)) / np.log(100)
    excess = (noisy - quiet)[:-1] / (2.0 * (1 - s[:-1]))
    assert (excess >= 0).all() and 0.5 < excess.mean() < 1.1  # E|N(0,1)| = 0.80
    # Cost: cumulative seconds to fidelity z = 100 (0.05 + 0.95 (z / 100)^2).
    seconds = mf.step_seconds()
    cumulative = np.cumsum(seconds)
    z = np.arange(1, 101)
    assert np.allclose(cumulative, 100 * (0.05 + 0.95 * (z / 100) ** 2))
    assert cumulative[-1] == pytest.approx(mf.SECONDS_PER_FULL_RUN)
    assert (np.diff(seconds[1:]) > 0).all()  # later steps cost more


def test_mf_runs_in_the_simulated_executor() -> None:
    problem = mf.problems("smoke")[0]
    sim = SimulatedExecutor(workers=2)
    study = Study("bench-mf", problem.space, metric=problem.metric, store="memory")
    study.optimize(lambda t: problem.evaluate(t.config, t.seed), n_trials=4, executor=sim)
    assert sim.now == pytest.approx(2 * mf.SECONDS_PER_FULL_RUN)
    assert sim.steps_run == 4 * problem.max_steps

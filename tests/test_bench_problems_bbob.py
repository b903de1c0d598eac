"""The BBOB family through coco-experiment (benchmarks/problems/bbob.py)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from benchmarks.problems import bbob, family
from benchmarks.problems.base import SimStep

QUICK = bbob.problems("quick")

#: f_opt of instance 1 (Hansen et al. 2009's generator, as COCO computes it): independent of
#: the dimension.
KNOWN_FOPT = {1: 79.48, 8: 149.15, 15: 1000.0, 21: 40.78}


def test_suites() -> None:
    assert bbob.problems("smoke") == []
    assert [p.name for p in QUICK] == [f"bbob/f{f}-d5-i1" for f in (1, 8, 15, 21)]
    full = family("bbob", "full")
    assert len(full) == 48 and len({p.name for p in full}) == 48
    assert {p.dimension for p in full} == {5, 10}


@pytest.mark.parametrize("problem", QUICK, ids=lambda p: p.name)
def test_optimum(problem: bbob.BBOBProblem) -> None:
    assert problem.optimum == KNOWN_FOPT[problem.function]
    assert bbob.BBOBProblem(problem.function, 10).optimum == KNOWN_FOPT[problem.function]
    x_opt = problem.best_parameter()
    assert x_opt.shape == (5,) and (np.abs(x_opt) <= 5).all()
    config = {f"x{i}": float(v) for i, v in enumerate(x_opt)}
    assert problem.value(config) == pytest.approx(problem.optimum, abs=1e-8)
    assert problem.regret(problem.value(config)) == pytest.approx(0.0, abs=1e-12)


def test_sphere_values() -> None:
    # f1 is ||x - x_opt||^2 + f_opt.
    p = QUICK[0]
    x_opt = p.best_parameter()
    x = np.linspace(-1, 1, 5)
    value = p.value({f"x{i}": float(v) for i, v in enumerate(x)})
    assert value == pytest.approx(float(np.sum((x - x_opt) ** 2)) + 79.48, rel=1e-12)


@pytest.mark.parametrize("problem", QUICK, ids=lambda p: p.name)
def test_contract(problem: bbob.BBOBProblem) -> None:
    assert problem.family == "bbob" and problem.direction == "min" and problem.max_steps == 1
    assert all(problem.space[n].low == -5 and problem.space[n].high == 5
               for n in problem.space.names)
    assert math.isfinite(problem.worst) and problem.worst > problem.optimum
    assert problem.regret(problem.optimum) == 0.0 and problem.regret(problem.worst) == 1.0
    rng = np.random.default_rng(0)
    for _ in range(10):
        config = problem.space.sample(rng)
        curve = problem.evaluate(config, seed=1)
        assert len(curve) == 1 and isinstance(curve[0], SimStep)
        assert math.isfinite(curve[0].metrics[problem.metric]) and curve[0].seconds > 0
        assert curve == problem.evaluate(config, seed=2)
    clone = pickle.loads(pickle.dumps(problem))  # the cocoex object is rebuilt
    assert clone.evaluate(config, 0) == problem.evaluate(config, 0)
    assert clone.worst == problem.worst


def test_worst_is_a_fixed_quantile() -> None:
    p = bbob.BBOBProblem(15, 5)
    rng = np.random.default_rng(0)
    xs = -5 + 10 * rng.random((10_000, 5))
    values = [p.coco(x) for x in xs]
    assert p.worst == pytest.approx(float(np.quantile(values, 0.95)), rel=1e-12)

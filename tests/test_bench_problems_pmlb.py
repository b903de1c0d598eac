"""PMLB real-training problems (benchmarks/problems/pmlb.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.problems import family
from benchmarks.problems import pmlb as P
from benchmarks.problems.base import SimStep
from benchmarks.problems.pmlb import PmlbProblem

HGB = PmlbProblem("hgb", "credit-g")
RF = PmlbProblem("rf", "australian")
# Cheap configurations (the full spaces are exercised by sampling below).
HGB_CONFIG = {"learning_rate": 0.1, "max_leaf_nodes": 8, "min_samples_leaf": 10,
              "l2_regularization": 0.01, "max_features": 0.5}
RF_CONFIG = {"n_estimators": 8, "criterion": "gini", "max_features": 0.3,
             "min_samples_leaf": 2, "bootstrap": True, "max_samples": 0.7}


def _check_curve(problem: PmlbProblem, curve: list[SimStep] | tuple[SimStep, ...]) -> None:
    assert len(curve) == problem.max_steps
    for step in curve:
        assert isinstance(step, SimStep)
        assert set(step.metrics) >= {"accuracy"}
        assert all(math.isfinite(v) for v in step.metrics.values())
        assert 0.0 <= step.metrics["accuracy"] <= 1.0
        assert math.isfinite(step.seconds) and step.seconds >= 0


def test_suites_and_registry() -> None:
    assert P.problems("smoke") == []
    quick = [p.name for p in P.problems("quick")]
    assert quick == ["pmlb/hgb-credit-g", "pmlb/hgb-vehicle"]
    assert [p.name for p in family("pmlb", "quick")] == quick
    full = P.problems("full")
    assert len(full) == 12 and len({p.name for p in full}) == 12
    for p in full:
        assert p.family == "pmlb" and p.real
        assert p.metric == "accuracy" and p.direction == "max"
        assert p.max_steps == (10 if "/hgb-" in p.name else 4)


def test_fixed_split() -> None:
    split = P.load("credit-g")
    assert len(split.y_valid) == 300 and len(split.y_train) == 700
    assert split.x_train.shape == (700, 20)
    # stratified: same class balance on both sides
    assert np.mean(split.y_train) == pytest.approx(np.mean(split.y_valid), abs=0.01)
    assert split.majority_accuracy == pytest.approx(0.7)
    assert sorted(split.order.tolist()) == list(range(700))
    P.load.cache_clear()
    again = P.load("credit-g")
    assert np.array_equal(again.x_valid, split.x_valid)
    assert np.array_equal(again.order, split.order)


def test_hgb_curve_and_determinism() -> None:
    curve = HGB.evaluate(HGB_CONFIG, seed=0)
    _check_curve(HGB, curve)
    assert [s.metrics["iterations"] for s in curve] == [10.0 * k for k in range(1, 11)]
    assert curve[-1].metrics["accuracy"] > HGB.worst  # beats the majority class
    again = HGB.evaluate(dict(HGB_CONFIG), seed=0)
    assert [s.metrics for s in again] == [s.metrics for s in curve]


def test_rf_curve_determinism_and_noise() -> None:
    curve = RF.evaluate(RF_CONFIG, seed=0)
    _check_curve(RF, curve)
    assert [s.metrics["fraction"] for s in curve] == list(P.RF_FRACTIONS)
    assert curve[-1].metrics["accuracy"] > RF.worst
    assert [s.metrics for s in RF.evaluate(RF_CONFIG, seed=0)] == [s.metrics for s in curve]
    other = RF.evaluate(RF_CONFIG, seed=1)  # the seed is the forest's random_state
    assert [s.metrics for s in other] != [s.metrics for s in curve]


@pytest.mark.parametrize("problem", [PmlbProblem("hgb", "vehicle"), RF], ids=lambda p: p.name)
def test_sampled_configs_evaluate(problem: PmlbProblem) -> None:
    rng = np.random.default_rng(0)
    for _ in range(2):
        config = problem.space.sample(rng)
        curve = problem.evaluate(config, seed=3)
        _check_curve(problem, curve)
        assert 0.0 <= problem.regret(curve[-1].metrics["accuracy"]) <= 1.0


def test_rf_space_is_conditional() -> None:
    for seed in range(20):
        config = RF.space.sample(seed=seed)
        assert ("max_samples" in config) == (config["bootstrap"] is True)


def test_reference_values_are_cached_and_consistent(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_recompute(*args: object) -> None:
        raise AssertionError(f"reference of {args} is not in the committed cache")

    monkeypatch.setattr(P, "_compute_reference", no_recompute)
    for problem in P.problems("full"):
        assert isinstance(problem, PmlbProblem)
        ref = P.reference(problem.model, problem.dataset)
        assert problem.worst == pytest.approx(P.load(problem.dataset).majority_accuracy)
        assert problem.optimum > ref["median"] > problem.worst
        assert problem.optimum <= 1.0
        assert problem.space.to_dict() == ref["space"]
        assert problem.regret(problem.optimum) == 0.0
        assert problem.regret(problem.worst) == 1.0

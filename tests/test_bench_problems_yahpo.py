"""YAHPO Gym surrogate problems (benchmarks/problems/yahpo.py): encoding, curves, references."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest

from benchmarks.problems import family
from benchmarks.problems import yahpo as Y
from benchmarks.problems.base import SimStep
from benchmarks.problems.yahpo import YahpoProblem

QUICK = Y.problems("quick")
LCBENCH = YahpoProblem("lcbench", "167168")
XGB = YahpoProblem("rbv2_xgboost", "12")

# Values computed with the official yahpo-gym 1.0.2 (objective_function, multithread=False,
# one batch per curve: epochs 1..52, or the 10 TRAINSIZES with repl=10), in a separate
# numpy<2 environment; ``steps`` are 0-based step indices of the curve.
LCB_DEFAULT = {"batch_size": 91, "learning_rate": 0.0031622777, "max_dropout": 0.5,
               "max_units": 256, "momentum": 0.545, "num_layers": 3, "weight_decay": 0.050005}
REFERENCE: list[tuple[str, str, dict[str, Any], list[int], dict[str, list[float]]]] = [
    ("lcbench", "167168", LCB_DEFAULT, [0, 25, 51],
     {"time": [7.52471, 65.20141, 96.65369], "val_accuracy": [23.29332, 44.21628, 45.56802],
      "val_cross_entropy": [1.31421, 1.29423, 1.28011]}),
    ("lcbench", "167168",
     {"batch_size": 32, "learning_rate": 0.02, "max_dropout": 0.1, "max_units": 512,
      "momentum": 0.9, "num_layers": 2, "weight_decay": 0.0001}, [0, 25, 51],
     {"time": [8.37115, 74.34216, 137.25928], "val_accuracy": [28.95292, 78.86569, 79.83583],
      "val_cross_entropy": [1.25243, 0.57772, 0.50673]}),
    ("rbv2_xgboost", "12",
     {"alpha": 1.0, "booster": "gblinear", "lambda": 1.0, "nrounds": 144,
      "num.impute.selected.cpo": "impute.mean", "subsample": 0.55}, [0, 4, 9],
     {"acc": [0.88338, 0.92242, 0.93647], "timetrain": [3.4587, 5.19208, 20.57794]}),
    ("rbv2_xgboost", "12",
     {"alpha": 0.01, "booster": "gbtree", "lambda": 2.0, "nrounds": 500,
      "num.impute.selected.cpo": "impute.median", "subsample": 0.8, "colsample_bylevel": 0.7,
      "colsample_bytree": 0.6, "eta": 0.05, "gamma": 0.001, "max_depth": 6,
      "min_child_weight": 3.0}, [0, 4, 9],
     {"acc": [0.89251, 0.96084, 0.98581], "timetrain": [4.95109, 8.09084, 37.38153]}),
    ("rbv2_xgboost", "12",
     {"alpha": 0.1, "booster": "dart", "lambda": 0.1, "nrounds": 100,
      "num.impute.selected.cpo": "impute.hist", "subsample": 0.9, "colsample_bylevel": 0.5,
      "colsample_bytree": 0.5, "eta": 0.1, "gamma": 0.01, "max_depth": 4,
      "min_child_weight": 5.0, "rate_drop": 0.2, "skip_drop": 0.3}, [0, 4, 9],
     {"acc": [0.79777, 0.9001, 0.95031], "timetrain": [5.84496, 10.6224, 36.62698]}),
]


def test_suites_and_registry() -> None:
    assert Y.problems("smoke") == []
    names = [p.name for p in QUICK]
    assert names == ["yahpo/lcbench-167168", "yahpo/lcbench-189906",
                     "yahpo/rbv2_xgboost-12", "yahpo/rbv2_xgboost-1501"]
    assert [p.name for p in family("yahpo", "quick")] == names
    full = Y.problems("full")
    assert len(full) == 16 and len({p.name for p in full}) == 16
    for p in full:
        assert p.family == "yahpo" and not p.real
        assert p.max_steps == (52 if "lcbench" in p.name else 10)
        assert p.direction == "max" and p.metric in ("val_accuracy", "acc")
        assert p.instance in Y.instances(p.scenario)


@pytest.mark.parametrize(("scenario", "instance", "config", "steps", "expected"), REFERENCE)
def test_matches_yahpo_gym(scenario: str, instance: str, config: dict[str, Any],
                           steps: list[int], expected: dict[str, list[float]]) -> None:
    curve = YahpoProblem(scenario, instance).evaluate(config, seed=0)
    for target, values in expected.items():
        got = [curve[i].metrics[target] for i in steps]
        assert got == pytest.approx(values, rel=1e-5, abs=1e-5), target


def test_spaces_follow_config_space() -> None:
    lcb = LCBENCH.space
    assert set(lcb.names) == {"batch_size", "learning_rate", "max_dropout", "max_units",
                              "momentum", "num_layers", "weight_decay"}
    assert lcb["learning_rate"].log and lcb["batch_size"].log and lcb["max_units"].log
    assert not lcb["weight_decay"].log and not lcb["momentum"].log
    xgb = XGB.space
    assert not {"task_id", "trainsize", "repl"} & set(xgb.names)
    assert xgb["eta"].when == {"booster": ("dart", "gbtree")}
    assert xgb["rate_drop"].when == {"booster": ("dart",)}
    for seed in range(30):
        config = xgb.sample(seed=seed)
        assert ("eta" in config) == (config["booster"] != "gblinear")
        assert ("skip_drop" in config) == (config["booster"] == "dart")
    assert LCBENCH.default_config == LCB_DEFAULT


def _check_curve(problem: YahpoProblem, curve: list[SimStep]) -> None:
    assert len(curve) == problem.max_steps
    for step in curve:
        assert isinstance(step, SimStep)
        assert problem.metric in step.metrics
        assert all(math.isfinite(v) for v in step.metrics.values())
        assert math.isfinite(step.seconds) and step.seconds >= 0


@pytest.mark.parametrize("problem", QUICK, ids=lambda p: p.name)
def test_sampled_configs_evaluate(problem: YahpoProblem) -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        config = problem.space.sample(rng)
        curve = problem.evaluate(config, seed=1)
        _check_curve(problem, curve)
        assert 0.0 <= problem.regret(curve[-1].metrics[problem.metric]) <= 1.0
        if problem.scenario == "lcbench":
            acc = [s.metrics["val_accuracy"] for s in curve]
            assert all(0.0 <= a <= 100.0 for a in acc)
            # seconds are the increments of the surrogate's cumulative time
            assert curve[-1].metrics["time"] > curve[0].metrics["time"] > 0
            assert sum(s.seconds for s in curve) >= curve[-1].metrics["time"] - 1e-6
        else:
            assert all(0.0 <= s.metrics["acc"] <= 1.0 for s in curve)
            assert [s.metrics["timetrain"] for s in curve] == [s.seconds for s in curve]


def test_curves_are_plausible() -> None:
    for problem in (LCBENCH, YahpoProblem("lcbench", "189906")):
        acc = [s.metrics["val_accuracy"] for s in problem.evaluate(problem.default_config, 0)]
        assert acc[-1] > acc[0] + 10
    # a reasonable gbtree: more training data, higher accuracy, longer training
    curve = XGB.evaluate(REFERENCE[3][2], 0)
    assert curve[-1].metrics["acc"] > curve[0].metrics["acc"]
    assert curve[-1].seconds > curve[0].seconds


def test_deterministic_and_seed_free() -> None:
    config = LCBENCH.space.sample(seed=3)
    assert LCBENCH.evaluate(config, 0) == LCBENCH.evaluate(dict(config), 0)
    assert LCBENCH.evaluate(config, 0) == LCBENCH.evaluate(config, 7)
    config = XGB.space.sample(seed=4)
    assert XGB.evaluate(config, 1) == XGB.evaluate(config, 1)


def test_reference_values_are_cached_and_consistent(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_recompute(*args: object) -> None:
        raise AssertionError(f"reference of {args} is not in the committed cache")

    monkeypatch.setattr(Y, "_compute_reference", no_recompute)
    for problem in Y.problems("full"):
        assert isinstance(problem, YahpoProblem)
        ref = Y.reference(problem.scenario, problem.instance)
        assert set(ref) == set(Y.SCENARIOS[problem.scenario].targets)
        assert problem.optimum > ref[problem.metric]["median"] > problem.worst
        config = problem.space.sample(seed=0)
        assert 0.0 <= problem.regret(problem.evaluate(config, 0)[-1].metrics[problem.metric]) <= 1
        if problem.scenario == "rbv2_xgboost":
            assert problem.optimum < 1.0  # not one of the saturated-surrogate tasks


def test_evaluation_is_fast() -> None:
    for problem in (LCBENCH, XGB):
        configs = [problem.space.sample(seed=i) for i in range(21)]
        problem.evaluate(configs[0], 0)  # session start
        times = []
        for config in configs[1:]:
            start = time.perf_counter()
            problem.evaluate(config, 0)
            times.append(time.perf_counter() - start)
        assert float(np.median(times)) < 0.05, problem.name

"""The tabular benchmarks (benchmarks/problems/tabular.py) on the shared data."""

from __future__ import annotations

import csv
import gzip
import math
import pickle
import time

import numpy as np
import pytest

from benchmarks.problems import family
from benchmarks.problems import tabular as tab
from benchmarks.problems.base import SimStep
from tunelab import Categorical, Float, Int, PowerOfTwo

QUICK = tab.problems("quick")


def _reference(problem: tab.TabularProblem) -> tuple[list[str], list[list[str]]]:
    """The table read independently with the csv module."""
    with gzip.open(problem.path, "rt", newline="") as fh:
        reader = csv.reader(fh)
        return next(reader), list(reader)


def test_suites() -> None:
    assert tab.problems("smoke") == []
    assert [p.name for p in QUICK] == [
        "fcnet/naval_propulsion", "hpobench_mlp/australian", "nasbench201/cifar10"
    ]
    full = family("tabular", "full")
    assert len(full) == 12 and len({p.name for p in full}) == 12
    assert all(p.family == "tabular" for p in full)


def test_load_is_fast_and_cached() -> None:
    for problem in QUICK:
        tab._TABLES.pop(problem.path, None)
        start = time.perf_counter()
        table = problem.table
        assert time.perf_counter() - start < 5.0, problem.name
        assert problem.table is table  # cached


def test_space_types() -> None:
    fcnet, mlp, nas = (p.space for p in QUICK)
    assert isinstance(fcnet["batch_size"], PowerOfTwo)
    assert isinstance(fcnet["n_units_1"], PowerOfTwo)
    assert isinstance(fcnet["dropout_1"], Float) and fcnet["dropout_1"].grid(0) == [0.0, 0.3, 0.6]
    assert isinstance(fcnet["init_lr"], Categorical)
    assert isinstance(mlp["depth"], Int) and isinstance(mlp["alpha"], Categorical)
    assert all(isinstance(nas[n], Categorical) for n in nas.names)
    assert tab.param_for([1, 2, 4, 8]).grid(0) == [1, 2, 4, 8]
    assert isinstance(tab.param_for([0.1, 0.2, 0.5]), Categorical)


@pytest.mark.parametrize("problem", QUICK, ids=lambda p: p.name)
def test_sampled_configs_are_in_the_table(problem: tab.TabularProblem) -> None:
    table = problem.table
    rng = np.random.default_rng(0)
    rows = {problem.row(problem.space.sample(rng)) for _ in range(300)}
    assert len(rows) > 250  # distinct rows, all found
    # The tables are full grids of the space.
    grid = problem.space.grid()
    assert len(grid) == len(table.index) == table.values.shape[0]
    assert len({problem.row(c) for c in grid}) == len(grid)
    with pytest.raises(KeyError):
        problem.row({**grid[0], problem.space.names[0]: "no-such-value"})


@pytest.mark.parametrize("problem", QUICK, ids=lambda p: p.name)
def test_one_recorded_seed_per_query(problem: tab.TabularProblem) -> None:
    table = problem.table
    rng = np.random.default_rng(1)
    varied = 0
    for _ in range(30):
        config = problem.space.sample(rng)
        recorded = table.values[problem.row(config)]
        recorded = recorded[np.isfinite(recorded)]
        values = [problem.value(config, seed) for seed in range(40)]
        assert values == [problem.value(config, seed) for seed in range(40)]  # deterministic
        assert all(v in recorded for v in values)
        assert set(values) == set(recorded.tolist())  # 40 draws reach every recorded seed
        varied += len(set(values)) > 1
        curve = problem.evaluate(config, seed=5)
        assert len(curve) == problem.max_steps == 1 and isinstance(curve[0], SimStep)
        assert curve[0].metrics[problem.metric] == problem.value(config, 5)
        assert curve[0].seconds == tab.SECONDS_PER_EVAL
    assert varied > 10  # different seeds give different values


def test_missing_seeds_are_skipped() -> None:
    problem = QUICK[2]  # NAS-Bench-201 has rows with 1 or 2 recorded seeds
    table = problem.table
    assert table.recorded is not None
    r = next(i for i, cols in enumerate(table.recorded) if 0 < len(cols) < 3)
    config = next(c for c in problem.space.grid() if problem.row(c) == r)
    values = {problem.value(config, seed) for seed in range(50)}
    assert all(math.isfinite(v) for v in values)
    assert values == {float(table.values[r, c]) for c in table.recorded[r]}


@pytest.mark.parametrize("problem", QUICK, ids=lambda p: p.name)
def test_optimum_and_worst(problem: tab.TabularProblem) -> None:
    header, rows = _reference(problem)
    k = next(i for i, h in enumerate(header) if h.startswith("seed_"))
    cells = [float(t) for row in rows for t in row[k:] if t]
    best = min(cells) if problem.direction == "min" else max(cells)
    assert problem.optimum == best
    median = float(np.median(cells))
    if problem.direction == "min":
        assert median < problem.worst <= max(cells)
    else:
        assert min(cells) <= problem.worst < median
    assert problem.regret(problem.optimum) == 0.0 and problem.regret(problem.worst) == 1.0
    # The optimum is reachable: some (config, seed) returns it.
    r = int(np.nonzero(problem.table.values == best)[0][0])
    row = rows[r]
    config = {n: _parse(problem, n, t) for n, t in zip(header[:k], row[:k], strict=True)}
    assert problem.row(config) == r
    assert best in {problem.value(config, seed) for seed in range(40)}


def _parse(problem: tab.TabularProblem, name: str, text: str) -> object:
    """The space's value written ``text`` in the CSV."""
    for v in problem.space[name].grid(0):
        if str(v) == text or (not isinstance(v, str) and math.isclose(float(v), float(text))):
            return v
    raise AssertionError(f"{name}={text} is not in the space")


def test_pickles_without_the_table() -> None:
    problem = QUICK[1]
    assert problem.table.values.size > 0  # loaded
    blob = pickle.dumps(problem)
    assert len(blob) < 20_000
    clone = pickle.loads(blob)
    config = problem.space.sample(seed=3)
    assert clone.evaluate(config, 7) == problem.evaluate(config, 7)

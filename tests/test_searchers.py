"""Tests of the searchers: random, Sobol, grid, make_searcher, and seeding end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import qmc

import tunelab
from tunelab import (
    Categorical,
    Float,
    GridSearcher,
    Int,
    InvalidArgumentError,
    PowerOfTwo,
    RandomSearcher,
    SearchExhausted,
    SobolSearcher,
    Space,
    Study,
    Trial,
    TrialStatus,
)
from tunelab.searchers import SEARCHERS, Searcher, make_searcher

SEED = 1234


def make_space() -> Space:
    return Space(
        optimizer=Categorical(["sgd", "adam"]),
        lr=Float(1e-4, 1e-1, log=True),
        momentum=Float(0.0, 0.99, when={"optimizer": "sgd"}),
        layers=Int(1, 3),
        dropout=Float(0.0, 0.5, step=0.25),
        batch_size=PowerOfTwo(16, 64),
    )


def trial(number: int, config: dict[str, Any], status: TrialStatus = TrialStatus.COMPLETE) -> Trial:
    return Trial(number=number, status=status, config=config)


def drive(
    searcher: Searcher, space: Space, history: list[Trial] | None = None, limit: int = 0
) -> list[dict[str, Any]]:
    """Drive a searcher as a study does (the history grows by one trial per proposal) until
    it is exhausted, or for ``limit`` proposals."""
    history = list(history or [])
    proposed: list[dict[str, Any]] = []
    while len(proposed) < (limit or 10_000):
        try:
            config = searcher.suggest(space, history, len(history))
        except SearchExhausted:
            return proposed
        proposed.append(config)
        history.append(trial(len(history), config))
    assert limit, "the searcher never ran out"
    return proposed


def run_grid(
    searcher: Searcher, space: Space, history: list[Trial] | None = None
) -> list[dict[str, Any]]:
    return drive(searcher, space, history)


def propose_all(space: Space) -> dict[str, list[dict[str, Any]]]:
    """What each searcher proposes with SEED (run in this process and in a fresh one)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for spec in (
        {"name": "random"},
        {"name": "sobol"},
        {"name": "grid", "points": 2, "shuffle": True},
    ):
        searcher = make_searcher(spec, seed=SEED)
        out[str(spec["name"])] = [searcher.suggest(space, [], n) for n in range(40)]
    return out


def key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True)


# --------------------------------------------------------------------------- seeding


@pytest.mark.parametrize("cls", [RandomSearcher, SobolSearcher, GridSearcher])
def test_same_seed_same_trials(cls: type[Searcher]) -> None:
    space = make_space()
    kwargs: dict[str, Any] = {"shuffle": True} if cls is GridSearcher else {}
    a = drive(cls(seed=7, **kwargs), space, limit=30)
    b = drive(cls(seed=7, **kwargs), space, limit=30)
    assert a == b
    assert len({key(config) for config in a}) == 30
    c = drive(cls(seed=8, **kwargs), space, limit=30)
    assert c != a
    for config in a + c:
        assert space.validate(config) == config


def test_same_seed_same_trials_in_a_fresh_process() -> None:
    space = make_space()
    here = propose_all(space)
    code = (
        "import json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_searchers import propose_all\n"
        "from tunelab import Space\n"
        "print(json.dumps(propose_all(Space.from_json(sys.argv[2]))))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4321"}
    result = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), space.to_json()],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == json.dumps(here)  # same values, same types, same order
    assert len({key(c) for c in here["random"]}) == 40


def test_random_trial_depends_only_on_seed_and_number() -> None:
    space = make_space()
    searcher = RandomSearcher(seed=3)
    forward = [searcher.suggest(space, [], n) for n in range(10)]
    backward = [searcher.suggest(space, [], n) for n in reversed(range(10))][::-1]
    assert forward == backward
    history = [trial(i, c) for i, c in enumerate(forward[:5])]
    assert RandomSearcher(seed=3).suggest(space, history, 7) == forward[7]
    assert len({key(c) for c in forward}) == 10


def test_different_seeds_give_different_trials() -> None:
    space = Space(x=Float(0, 1), y=Float(0, 1))
    for cls in (RandomSearcher, SobolSearcher):
        runs = [[cls(seed=s).suggest(space, [], n) for n in range(4)] for s in range(10)]
        firsts = {key(run[0]) for run in runs}
        assert len(firsts) == 10, cls


@pytest.mark.parametrize("bad", [-1, True, 1.5, "3", [1]])
def test_bad_seeds(bad: Any) -> None:
    for cls in (RandomSearcher, SobolSearcher, GridSearcher):
        with pytest.raises(InvalidArgumentError, match="`seed`"):
            cls(seed=bad)


def test_seed_none_draws_a_fresh_recorded_seed() -> None:
    a, b = RandomSearcher(), RandomSearcher()
    assert isinstance(a.seed, int) and 0 <= a.seed < 2**63
    assert a.seed != b.seed
    assert a.spec() == {"name": "random", "seed": a.seed}
    space = make_space()
    rebuilt = make_searcher(a.spec())
    assert [rebuilt.suggest(space, [], n) for n in range(5)] == [
        a.suggest(space, [], n) for n in range(5)
    ]
    assert RandomSearcher(seed=np.int64(5)).seed == 5
    assert type(RandomSearcher(seed=np.int64(5)).seed) is int


# --------------------------------------------------------------------------- Sobol


def _cube(d: int) -> Space:
    return Space(**{f"x{i}": Float(0.0, 1.0) for i in range(d)})


def _sobol_points(seed: int, d: int, n: int) -> np.ndarray:
    space, searcher = _cube(d), SobolSearcher(seed=seed)
    return np.array([[searcher.suggest(space, [], i)[f"x{j}"] for j in range(d)]
                     for i in range(n)])


def test_sobol_first_power_of_two_points_stratify_each_axis() -> None:
    points = _sobol_points(SEED, d=5, n=256)
    for k in range(1, 9):
        n = 2**k
        for block in range(256 // n):  # the first 2^k points, and every later block of 2^k
            chunk = points[block * n:(block + 1) * n]
            for axis in range(5):
                cells = np.sort(np.floor(chunk[:, axis] * n).astype(int))
                assert cells.tolist() == list(range(n)), (k, block, axis)


def test_sobol_first_two_axes_form_a_zero_net() -> None:
    points = _sobol_points(SEED, d=3, n=64)
    for a in range(7):  # every elementary box of volume 1/64 holds exactly one point
        b = 6 - a
        cells = np.floor(points[:, 0] * 2**a).astype(int) * 2**b + np.floor(
            points[:, 1] * 2**b
        ).astype(int)
        assert sorted(cells.tolist()) == list(range(64)), (a, b)


def test_sobol_is_scipys_scrambled_sequence() -> None:
    points = _sobol_points(99, d=4, n=200)  # crosses the 64- and 128-point refills
    reference = qmc.Sobol(d=4, scramble=True, seed=99).random(256)[:200]
    np.testing.assert_array_equal(points, reference)
    assert not np.any(points == 0.0)  # scrambled: the unscrambled sequence starts at 0
    # discrepancy well below that of independent uniform points
    rng = np.random.default_rng(0)
    assert qmc.discrepancy(points[:128]) < 0.5 * qmc.discrepancy(rng.random((128, 4)))


def test_sobol_index_access_in_any_order() -> None:
    space = make_space()
    ordered = [SobolSearcher(seed=5).suggest(space, [], n) for n in range(150)]
    searcher = SobolSearcher(seed=5)
    assert searcher.suggest(space, [], 149) == ordered[149]
    assert [searcher.suggest(space, [], n) for n in range(150)] == ordered


def test_sobol_balances_discrete_parameters() -> None:
    space = Space(c=Categorical(["a", "b", "c", "d"]), b=PowerOfTwo(1, 8), n=Int(0, 7))
    searcher = SobolSearcher(seed=2)
    configs = [searcher.suggest(space, [], n) for n in range(64)]
    for name, values in (("c", "abcd"), ("b", [1, 2, 4, 8]), ("n", range(8))):
        counts = {v: sum(c[name] == v for c in configs) for v in values}
        assert set(counts.values()) == {64 // len(counts)}, (name, counts)


def test_sobol_on_a_conditional_space() -> None:
    space = make_space()
    searcher = SobolSearcher(seed=4)
    configs = [searcher.suggest(space, [], n) for n in range(64)]
    assert sum(c["optimizer"] == "sgd" for c in configs) == 32
    for config in configs:
        assert space.validate(config) == config
        assert ("momentum" in config) == (config["optimizer"] == "sgd")


# --------------------------------------------------------------------------- grid


def test_grid_visits_each_point_once_then_is_exhausted() -> None:
    space = make_space()
    searcher = GridSearcher(points=3)
    proposed = run_grid(searcher, space)
    grid = space.grid(points=3)
    assert proposed == grid  # in order, each once
    assert len(proposed) == space.grid_size(points=3) == searcher.size(space)
    # lr x (sgd: 3 momenta | adam: no momentum) x layers x dropout x batch_size
    assert len(grid) == 3 * (3 + 1) * 3 * 3 * 3
    history = [trial(i, c) for i, c in enumerate(proposed)]
    for _ in range(2):
        with pytest.raises(SearchExhausted, match=f"{len(grid)} configurations"):
            searcher.suggest(space, history, len(history))


def test_grid_without_history_still_moves_on() -> None:
    space = Space(a=Int(1, 2), b=Categorical(["x", "y"]))
    searcher = GridSearcher()
    proposed = [searcher.suggest(space, [], n) for n in range(4)]
    assert proposed == space.grid()
    with pytest.raises(SearchExhausted):
        searcher.suggest(space, [], 4)


def test_grid_skips_configs_in_history() -> None:
    space = make_space()
    grid = space.grid(points=2)
    done = {0: TrialStatus.COMPLETE, 3: TrialStatus.WAITING, 7: TrialStatus.FAILED,
            len(grid) - 1: TrialStatus.RUNNING}
    history = [trial(n, grid[i], status) for n, (i, status) in enumerate(done.items())]
    proposed = run_grid(GridSearcher(points=2), space, history)
    assert len(proposed) == len(grid) - len(done)
    assert {key(c) for c in proposed} == {key(c) for i, c in enumerate(grid) if i not in done}
    assert proposed == [c for i, c in enumerate(grid) if i not in done]  # order kept


def test_grid_skips_configs_that_appear_mid_run() -> None:
    space = Space(a=Int(0, 9))
    searcher = GridSearcher()
    history: list[Trial] = []
    for n in range(3):
        history.append(trial(n, searcher.suggest(space, history, n)))
    # another driver (or an enqueued baseline) added a=5 and a=1 (already proposed)
    history.append(trial(3, {"a": 5}, TrialStatus.WAITING))
    history.append(trial(4, {"a": 1}))
    rest = run_grid(searcher, space, history)
    assert [c["a"] for c in rest] == [3, 4, 6, 7, 8, 9]


def test_grid_shuffle_is_seeded() -> None:
    space = make_space()
    plain = run_grid(GridSearcher(points=2), space)
    a = run_grid(GridSearcher(points=2, shuffle=True, seed=11), space)
    b = run_grid(GridSearcher(points=2, shuffle=True, seed=11), space)
    c = run_grid(GridSearcher(points=2, shuffle=True, seed=12), space)
    assert a == b
    assert a != c and a != plain
    assert sorted(map(key, a)) == sorted(map(key, plain)) == sorted(map(key, c))
    assert len(set(map(key, a))) == len(a)


def test_grid_points_for_continuous_floats() -> None:
    space = Space(x=Float(0.0, 1.0), y=Float(0.0, 1.0, step=0.5), z=Float(1.0, 100.0, log=True))
    proposed = run_grid(GridSearcher(points=2), space)
    assert len(proposed) == 2 * 3 * 2
    assert {c["x"] for c in proposed} == {0.0, 1.0}
    assert {c["y"] for c in proposed} == {0.0, 0.5, 1.0}
    assert {c["z"] for c in proposed} == {1.0, 100.0}
    assert len(run_grid(GridSearcher(points=4), space)) == 4 * 3 * 4


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "3"])
def test_grid_bad_points(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="`points`"):
        GridSearcher(points=bad)


def test_grid_spec_round_trip() -> None:
    searcher = GridSearcher(points=3, shuffle=True, seed=9)
    assert searcher.spec() == {"name": "grid", "seed": 9, "points": 3, "shuffle": True}
    rebuilt = make_searcher(searcher.spec())
    assert isinstance(rebuilt, GridSearcher)
    assert run_grid(rebuilt, make_space()) == run_grid(searcher, make_space())


# --------------------------------------------------------------------------- make_searcher


@pytest.mark.parametrize(
    ("spec", "cls"),
    [("random", RandomSearcher), ("sobol", SobolSearcher), ("grid", GridSearcher),
     ({"name": "grid", "points": 2}, GridSearcher), (None, RandomSearcher)],
)
def test_make_searcher_builds(spec: Any, cls: type[Searcher]) -> None:
    searcher = make_searcher(spec, seed=21)
    assert type(searcher) is cls
    assert searcher.seed == 21
    assert {"random", "sobol", "grid", "tpe", "evolution", "parego"} <= set(SEARCHERS)


def test_make_searcher_options_and_seeds() -> None:
    grid = make_searcher({"name": "grid", "points": 2, "shuffle": True}, seed=1)
    assert isinstance(grid, GridSearcher)
    assert (grid.points, grid.shuffle, grid.seed) == (2, True, 1)
    assert make_searcher({"name": "sobol", "seed": 4}, seed=9).seed == 4  # the spec's seed wins
    assert make_searcher({"name": "sobol", "seed": None}, seed=9).seed == 9
    instance = SobolSearcher(seed=3)
    assert make_searcher(instance, seed=8) is instance
    assert repr(make_searcher("sobol", seed=1)) == "SobolSearcher(seed=1)"


@pytest.mark.parametrize(
    ("spec", "shown"),
    [("bayes", "'bayes'"), ("Random", "'Random'"), ({"name": "hyperopt"}, "'hyperopt'"),
     ({"points": 3}, "'points'"), ({"name": ["grid"]}, "['grid']"), (42, "42")],
)
def test_make_searcher_unknown_names(spec: Any, shown: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        make_searcher(spec)
    message = str(info.value)
    assert str(sorted(SEARCHERS)) in message
    assert shown in message


def test_make_searcher_bad_options() -> None:
    with pytest.raises(InvalidArgumentError, match="bad options for searcher 'random'"):
        make_searcher({"name": "random", "points": 3})
    with pytest.raises(InvalidArgumentError, match="`points`"):
        make_searcher({"name": "grid", "points": 0})


# --------------------------------------------------------------------------- end to end


def _objective(config: dict[str, Any]) -> float:
    return float(config["lr"]) * config["layers"]


def _study_configs(
    seed: int, searcher: Any = None, baseline: dict[str, Any] | None = None, n: int = 8
) -> list[dict[str, Any]]:
    study = Study(f"seeded-{seed}", make_space(), store="memory", seed=seed, searcher=searcher)
    if baseline is not None:
        queued = study.enqueue(baseline)
        assert queued is not None and queued.status is TrialStatus.WAITING
    study.optimize(_objective, n_trials=n)
    trials = study.trials
    assert [t.number for t in trials] == list(range(len(trials)))
    assert all(t.status is TrialStatus.COMPLETE for t in trials)
    return [t.config for t in trials]


@pytest.mark.parametrize("searcher", [None, "sobol"])
def test_studies_with_the_same_seed_run_the_same_configs(searcher: str | None) -> None:
    a = _study_configs(17, searcher)
    b = _study_configs(17, searcher)
    assert a == b
    assert len(a) == 8 and len({key(c) for c in a}) == 8
    assert _study_configs(18, searcher) != a
    # the default searcher of a new study is TPE, whose first 10 trials are Sobol points
    bare = make_searcher(searcher or "tpe", seed=17)
    assert a == [bare.suggest(make_space(), [], n) for n in range(8)]


def test_enqueued_baseline_runs_first() -> None:
    baseline = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "layers": 2, "dropout": 0.25,
                "batch_size": 32}
    configs = _study_configs(17, baseline=baseline, n=5)
    assert len(configs) == 5
    assert configs[0] == baseline
    assert configs == _study_configs(17, baseline=baseline, n=5)
    # the searcher's proposals (TPE's Sobol start-up points) follow, numbered after it
    searcher = make_searcher("tpe", seed=17)
    assert configs[1:] == [searcher.suggest(make_space(), [], n) for n in range(1, 5)]


def test_grid_study_runs_each_point_once_with_a_baseline() -> None:
    space = Space(a=Int(1, 3), b=Categorical(["x", "y"]))
    study = Study("grid-e2e", space, store="memory", seed=3, searcher="grid")
    study.enqueue({"a": 2, "b": "y"})
    study.optimize(lambda c: c["a"], n_trials=100)  # stops when the grid is exhausted
    configs = [t.config for t in study.trials]
    assert configs[0] == {"a": 2, "b": "y"}
    assert len(configs) == 6
    assert sorted(map(key, configs)) == sorted(map(key, space.grid()))


def test_public_names() -> None:
    assert tunelab.RandomSearcher is RandomSearcher and tunelab.SearchExhausted is SearchExhausted
    assert issubclass(SearchExhausted, tunelab.TunelabError)

"""The search benchmark harness (benchmarks/harness): metrics on hand-made traces, the
runner's determinism and loop equivalence, and the smoke suite end to end."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.harness import metrics
from benchmarks.harness.methods import METHODS, PeerOptimizer, get_method
from benchmarks.harness.results import load
from benchmarks.harness.runner import RunResult, eval_seed, run_one, run_peer_loop
from benchmarks.harness.spaces import grid_points_for_budget, grid_size, optuna_suggest
from benchmarks.problems.base import Problem, SimStep
from tunelab import Categorical, Float, Int, PowerOfTwo, RandomSearcher, Space
from tunelab.space import Config

# --------------------------------------------------------------------------- fake problems


class Bowl(Problem):
    """A black-box quadratic: optimum 0 at (0.3, 0.7), worst 2."""

    name = "fake/bowl"
    family = "fake"
    metric = "loss"
    direction = "min"
    optimum = 0.0
    worst = 2.0

    def __init__(self) -> None:
        self.space = Space(x=Float(0, 1), y=Float(0, 1))

    def evaluate(self, config: Mapping[str, Any], seed: int) -> Sequence[SimStep]:
        return [SimStep({"loss": (config["x"] - 0.3) ** 2 + (config["y"] - 0.7) ** 2}, 1.0)]


class Curves(Problem):
    """A noisy multi-fidelity problem (accuracy, maximised) whose steps cost 1 + x s."""

    name = "fake/curves"
    family = "fake"
    metric = "acc"
    direction = "max"
    optimum = 1.0
    worst = 0.0
    max_steps = 6

    def __init__(self) -> None:
        self.space = Space(x=Float(0, 1), opt=Categorical(["a", "b"]), n=Int(1, 4))

    def evaluate(self, config: Mapping[str, Any], seed: int) -> Sequence[SimStep]:
        rng = np.random.default_rng(seed)
        final = 1.0 - abs(config["x"] - 0.6) - (0.1 if config["opt"] == "a" else 0.0)
        return [
            SimStep({"acc": final * (1 - 0.5 / e) + 0.01 * rng.random()}, 1.0 + config["x"])
            for e in range(1, self.max_steps + 1)
        ]


# --------------------------------------------------------------------------- metrics


def test_regret_at_is_a_step_function_starting_at_one() -> None:
    xs, rs = [2, 5], [0.5, 0.1]
    assert metrics.regret_at(xs, rs, 1) == 1.0
    assert metrics.regret_at(xs, rs, 2) == 0.5
    assert metrics.regret_at(xs, rs, 4.9) == 0.5
    assert metrics.regret_at(xs, rs, 100) == 0.1
    assert list(metrics.regret_curve(xs, rs, [0, 2, 5])) == [1.0, 0.5, 0.1]


def test_auc_integrates_the_step_function_over_the_budget() -> None:
    # 2 x 1.0 + 3 x 0.5 + 5 x 0.1 = 4 over a budget of 10
    assert metrics.auc([2, 5], [0.5, 0.1], 10) == pytest.approx(0.4)
    # a point past the budget does not count: 2 x 1.0 + 8 x 0.5
    assert metrics.auc([2, 12], [0.5, 0.0], 10) == pytest.approx(0.6)
    assert metrics.auc([], [], 10) == 1.0
    assert metrics.auc([0], [0.0], 10) == 0.0


def test_time_to_target() -> None:
    xs, rs = [1, 3, 7], [0.5, 0.05, 0.005]
    assert metrics.time_to_target(xs, rs, 0.1, 10) == 3
    assert metrics.time_to_target(xs, rs, 0.01, 10) == 7
    assert metrics.time_to_target(xs, rs, 0.001, 10) is None
    assert metrics.time_to_target(xs, rs, 0.01, 5) is None  # reached after the budget


def test_average_ranks_share_ties() -> None:
    curves = {
        "a": np.array([[0.1, 0.5]]),
        "b": np.array([[0.2, 0.5]]),
        "c": np.array([[0.3, 0.1]]),
    }
    ranks = metrics.average_ranks(curves)
    assert list(ranks["a"][0]) == [1.0, 2.5]
    assert list(ranks["b"][0]) == [2.0, 2.5]
    assert list(ranks["c"][0]) == [3.0, 1.0]


def test_finite_median_counts_misses_as_infinite() -> None:
    assert metrics.finite_median([1.0, 3.0, None]) == 3.0
    assert metrics.finite_median([1.0, None, None]) is None
    assert metrics.finite_median([]) is None


def _run(method: str, seed: int, xs: list[int], regrets: list[float]) -> dict[str, Any]:
    return {
        "method": method, "problem": "p", "family": "f", "seed": seed, "status": "ok",
        "overhead_ms": 1.0,
        "trace": {"evals": xs, "steps": xs, "seconds": [float(x) for x in xs],
                  "best": regrets, "regret": regrets},
    }


def test_summarize_hand_made_results() -> None:
    data = {
        "problems": [{"name": "p", "family": "f", "max_steps": 1, "budget": 4,
                      "budget_unit": "evaluations"}],
        "method_order": ["good", "bad"],
        "runs": [
            _run("good", 0, [1, 2, 3, 4], [0.5, 0.2, 0.0, 0.0]),
            _run("good", 1, [1, 2, 3, 4], [0.4, 0.4, 0.4, 0.1]),
            _run("bad", 0, [1, 2, 3, 4], [0.9, 0.9, 0.8, 0.8]),
            _run("bad", 1, [1, 2, 3, 4], [0.4, 0.4, 0.4, 0.4]),
        ],
    }
    stats = metrics.summarize(data)["p"]
    good, bad = stats.methods["good"], stats.methods["bad"]
    assert list(good.final) == [0.0, 0.1]
    assert list(bad.final) == [0.8, 0.4]
    # regret 1 until the first result at x = 1: (1 + 0.5 + 0.2 + 0) / 4, (1 + 0.4 * 3) / 4
    assert list(good.auc) == pytest.approx([0.425, 0.55])
    assert good.ttt[0.1] == [3.0, 4.0]
    assert bad.ttt[0.1] == [None, None]
    assert good.ranks is not None and bad.ranks is not None
    assert list(good.ranks[:, -1]) == [1.0, 1.0]
    assert list(bad.ranks[:, -1]) == [2.0, 2.0]
    # seed 1 at the first point: a tie at 0.4
    assert good.ranks[1, 0] == bad.ranks[1, 0] == 1.5


# --------------------------------------------------------------------------- spaces, methods


def test_optuna_suggest_respects_conditions_and_powers_of_two() -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = Space(
        opt=Categorical(["sgd", "adam"]),
        momentum=Float(0.0, 0.99, when={"opt": "sgd"}),
        batch=PowerOfTwo(16, 256),
        lr=Float(1e-4, 1e-1, log=True),
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        config = optuna_suggest(study.ask(), space)
        assert space.validate(config) == config
        assert ("momentum" in config) == (config["opt"] == "sgd")


def test_optuna_suggest_snaps_stepped_floats_to_the_space() -> None:
    class Off:
        """A trial whose sampler returns stepped floats a rounding error off the step."""

        def suggest_float(self, name: str, low: float, high: float, **kw: Any) -> float:
            return 0.29999999999999993

    space = Space(dropout=Float(0.0, 0.6, step=0.3))
    assert optuna_suggest(Off(), space) == {"dropout": 0.3}
    assert 0.3 in space["dropout"].grid(3)


def test_configspace_translation_round_trips() -> None:
    pytest.importorskip("ConfigSpace")
    from benchmarks.harness.spaces import to_configspace

    space = Space(
        opt=Categorical(["sgd", "adam", None]),
        momentum=Float(0.0, 0.9, step=0.1, when={"opt": ["sgd", None]}),
        batch=PowerOfTwo(16, 256),
        layers=Int(1, 4),
    )
    cs, decode = to_configspace(space, seed=0)
    for sample in cs.sample_configuration(20):
        config = decode(dict(sample))
        assert space.validate(config) == config


def test_grid_points_make_the_grid_about_the_budget() -> None:
    space = Space(x=Float(0, 1), y=Float(0, 1), opt=Categorical(["a", "b"]))
    points = grid_points_for_budget(space, 100)
    assert points == 7  # 7 x 7 x 2 = 98 is the closest to 100
    assert grid_size(space, points) == 98
    assert grid_points_for_budget(Space(opt=Categorical(["a", "b"])), 100) == 1


def test_applicability() -> None:
    assert get_method("optuna-cmaes").not_applicable(Bowl()) is None
    assert "all-float" in (get_method("optuna-cmaes").not_applicable(Curves()) or "")
    assert "black-box" in (get_method("optuna-tpe-median").not_applicable(Bowl()) or "")
    assert get_method("optuna-tpe-median").not_applicable(Curves()) is None
    assert "numpy" in (METHODS["dehb"].not_installed() or "")


# --------------------------------------------------------------------------- runner


def _trace(result: RunResult) -> tuple[list[Any], ...]:
    t = result.trace
    return t.evals, t.steps, t.seconds, t.best, t.regret


@pytest.mark.parametrize(
    ("method", "problem", "budget", "workers"),
    [
        ("tunelab-random", Bowl(), 15, 1),
        ("tunelab-grid", Curves(), 60, 3),
        ("optuna-tpe", Bowl(), 15, 1),
        ("optuna-tpe-sha", Curves(), 60, 3),
        ("optuna-tpe-hyperband", Curves(), 60, 3),
    ],
    ids=["tunelab-random", "tunelab-grid-mf", "optuna-tpe", "optuna-sha-mf",
         "optuna-hyperband-mf"],
)
def test_same_seed_same_trace(method: str, problem: Problem, budget: int, workers: int) -> None:
    if method.startswith("optuna"):
        pytest.importorskip("optuna")
    a = run_one(method, problem, 3, budget, workers, raise_errors=True)
    b = run_one(method, problem, 3, budget, workers, raise_errors=True)
    c = run_one(method, problem, 4, budget, workers, raise_errors=True)
    assert _trace(a) == _trace(b)
    assert _trace(a) != _trace(c)
    regrets = a.trace.regret
    assert all(0.0 <= r <= 1.0 for r in regrets)
    assert all(x >= y for x, y in itertools.pairwise(regrets))
    assert a.steps >= budget or method == "tunelab-grid"  # the grid may run out first
    if problem.max_steps == 1:
        assert a.trials == budget


class _SearcherPeer(PeerOptimizer):
    """A tunelab RandomSearcher driven by the peer loop (history-free, like random)."""

    def __init__(self, space: Space, seed: int) -> None:
        self.space, self.searcher, self.n = space, RandomSearcher(seed=seed), 0

    def ask(self) -> tuple[Any, Config]:
        config = self.searcher.suggest(self.space, [], self.n)
        self.n += 1
        return self.n, config

    def report(self, token: Any, step: int, value: float) -> bool:
        return token % 3 == 0 and step == 2  # stop every third trial at step 2

    def tell(self, token: Any, value: float, stopped: bool) -> None:
        pass


def test_peer_loop_replays_like_the_simulated_executor() -> None:
    """The peers' event loop and Study.optimize + SimulatedExecutor keep the same clock:
    the same proposals give the same trace (every trial full length here)."""
    problem = Curves()

    class _NoStop(_SearcherPeer):
        def report(self, token: Any, step: int, value: float) -> bool:
            return False

    tunelab = run_one("tunelab-random", problem, 7, 40, 3, raise_errors=True)
    points: list[tuple[float | None, int, float]] = []
    run_peer_loop(_NoStop(problem.space, 7), problem, 7, 40, 3,
                  lambda c, s: list(problem.evaluate(c, s)),
                  lambda v, steps, now, ran: points.append((v, steps, now)))
    assert [p[1] for p in points] == tunelab.trace.steps
    assert [p[2] for p in points] == pytest.approx(tunelab.trace.seconds)
    assert len(points) == tunelab.trials


def test_peer_loop_counts_steps_of_stopped_trials() -> None:
    problem = Curves()
    points: list[tuple[float | None, int, float]] = []
    run_peer_loop(_SearcherPeer(problem.space, 0), problem, 0, 30, 1,
                  lambda c, s: list(problem.evaluate(c, s)),
                  lambda v, steps, now, ran: points.append((v, steps, now)))
    # one worker: trials 3, 6... stop after 2 steps, the others run all 6
    lengths = np.diff([0] + [p[1] for p in points])
    assert list(lengths[:6]) == [6, 6, 2, 6, 6, 2]
    assert points[-1][1] >= 30
    times = [p[2] for p in points]
    assert times == sorted(times)


def test_eval_seed_is_shared_across_methods() -> None:
    assert eval_seed(1, 5) == eval_seed(1, 5) != eval_seed(1, 6)


# --------------------------------------------------------------------------- end to end


def test_smoke_suite_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    pytest.importorskip("matplotlib")
    from benchmarks import report as report_cli
    from benchmarks import run as run_cli

    assert run_cli.main(["--suite", "smoke", "--out", str(tmp_path), "--quiet"]) == 0
    data_file = tmp_path / "data" / "search-smoke.json.gz"
    csv_file = tmp_path / "data" / "search-smoke-traces.csv.gz"
    md_file = tmp_path / "search-smoke.md"
    for path in (data_file, csv_file, md_file):
        assert path.is_file() and path.stat().st_size > 0
    pngs = sorted((tmp_path / "img").glob("search-smoke-*.png"))
    assert pngs and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)

    data = load(data_file)
    json.dumps(data)  # plain JSON types only
    methods = data["method_order"]
    assert methods == ["tunelab-random", "optuna-random"]
    assert len(data["meta"]["seeds"]) == 2
    budgets = {p["name"]: p["budget"] for p in data["problems"]}
    assert data["runs"] and all(r["status"] == "ok" for r in data["runs"])
    for run in data["runs"]:
        regret = run["trace"]["regret"]
        assert all(0.0 <= r <= 1.0 for r in regret)
        assert all(a >= b for a, b in itertools.pairwise(regret))
        assert run["trials"] == budgets[run["problem"]]
        assert run["overhead_ms"] is not None and math.isfinite(run["overhead_ms"])
        assert run["overhead_ms"] >= 0
    for ps in metrics.summarize(data).values():
        for s in ps.methods.values():
            assert s.ranks is not None
            assert np.all((s.ranks >= 1) & (s.ranks <= len(methods)))
            assert np.all((s.auc >= 0) & (s.auc <= 1))

    text = md_file.read_text()
    assert "python -m benchmarks.run --suite smoke" in text
    assert "| tunelab-random |" in text and "| optuna-random |" in text
    assert "img/search-smoke-synthetic.png" in text

    md_file.unlink()
    assert report_cli.main(["--data", str(data_file), "--out", str(tmp_path)]) == 0
    assert md_file.read_text().replace(str(data_file), "X") == text.replace(
        "docs/benchmarks/data/search-smoke.json.gz", "X"
    ).replace(str(data_file), "X")


def test_resume_journal_skips_finished_runs_and_gives_the_same_data(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    pytest.importorskip("matplotlib")
    from benchmarks import run as run_cli

    journal = tmp_path / "runs.jsonl"
    args = ["--suite", "smoke", "--quiet", "--methods", "tunelab-random"]
    assert run_cli.main([*args, "--out", str(tmp_path / "a"), "--resume", str(journal)]) == 0
    first = load(tmp_path / "a" / "data" / "search-smoke.json.gz")["runs"]
    lines = journal.read_text().splitlines()
    assert len(lines) == len(first) > 1
    # Lose the last run and cut one line short, as an interrupted suite would.
    journal.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][:40] + "\n")
    calls: list[int] = []
    real = run_cli.run_many

    def counting(tasks: Sequence[Any], *a: Any, **k: Any) -> list[RunResult]:
        calls.append(len(tasks))
        return real(tasks, *a, **k)

    run_cli.run_many = counting  # type: ignore[assignment]
    try:
        assert run_cli.main([*args, "--out", str(tmp_path / "b"), "--resume", str(journal)]) == 0
    finally:
        run_cli.run_many = real  # type: ignore[assignment]
    assert calls == [2]  # only the lost run and the cut one ran again
    second = load(tmp_path / "b" / "data" / "search-smoke.json.gz")["runs"]
    strip = ("cpu_total_s", "cpu_eval_s", "overhead_ms", "wall_s")
    assert [{k: v for k, v in r.items() if k not in strip} for r in second] == [
        {k: v for k, v in r.items() if k not in strip} for r in first
    ]

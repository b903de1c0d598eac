"""The multi-fidelity part of the benchmark harness: tunelab's scheduler methods, the
full-fidelity incumbent, worker utilization, the curve cache, the ``mf`` suite and its
report. Every run here is tiny (seconds in all)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.harness import results
from benchmarks.harness.methods import METHODS, get_method
from benchmarks.harness.runner import (
    CurveCache,
    RunTask,
    Utilization,
    run_many,
    run_one,
)
from benchmarks.harness.suites import MF_BUDGETS, MF_METHODS, SUITES, plan
from benchmarks.problems.base import Problem, SimStep
from tunelab import Float, Space

TUNELAB_MF = ("tunelab-sh", "tunelab-hyperband", "tunelab-asha", "tunelab-asha-stop",
              "tunelab-async-hb", "tunelab-median")
OPTUNA_RANDOM_PAIRS = ("optuna-random-median", "optuna-random-sha", "optuna-random-hyperband")


class Learning(Problem):
    """A 9-step learning curve (loss, minimised) whose final value is x; steps cost 1 + y."""

    name = "fake/learning"
    family = "fake"
    metric = "loss"
    direction = "min"
    optimum = 0.0
    worst = 1.0
    max_steps = 9

    def __init__(self) -> None:
        self.space = Space(x=Float(0, 1), y=Float(0, 1))

    def evaluate(self, config: Mapping[str, Any], seed: int) -> Sequence[SimStep]:
        x, y = config["x"], config["y"]
        return [SimStep({"loss": x + (1 - x) * 0.5 / e}, 1.0 + y) for e in range(1, 10)]


class Deceptive(Learning):
    """Looks perfect before the last step (loss ~0), but the final loss is >= 0.5."""

    name = "fake/deceptive"

    def evaluate(self, config: Mapping[str, Any], seed: int) -> Sequence[SimStep]:
        x = config["x"]
        early = [SimStep({"loss": 1e-3 * x}, 1.0) for _ in range(8)]
        return [*early, SimStep({"loss": 0.5 + 0.5 * x}, 1.0)]


def _check_run(result: Any, problem: Problem, budget: int) -> None:
    assert result.status == "ok", result.error
    regrets = result.trace.regret
    assert all(0.0 <= r <= 1.0 for r in regrets)
    assert all(a >= b for a, b in itertools.pairwise(regrets))
    assert result.steps >= budget
    # one trace point per full-fidelity result, and no more than the configurations
    assert len(result.trace.evals) == result.full_evals <= result.configs
    assert result.trials == result.configs
    util = result.utilization
    assert util is not None and 0.0 < util["utilization"] <= 1.0 + 1e-9
    assert util["budget_time_s"] <= util["makespan_s"]


@pytest.mark.parametrize("method", TUNELAB_MF)
def test_tunelab_scheduler_methods_run(method: str) -> None:
    problem = Learning()
    m = get_method(method)
    assert m.is_tunelab and m.multi_fidelity and m.make_scheduler is not None
    scheduler = m.make_scheduler(problem, 0, 90)
    assert scheduler.max_resource == problem.max_steps
    result = run_one(method, problem, 0, 90, 2, incumbent="full", raise_errors=True)
    _check_run(result, problem, 90)
    assert result.full_evals >= 1
    if method != "tunelab-median":  # rung schedulers start more configs than they finish
        assert result.configs > result.full_evals
    again = run_one(method, problem, 0, 90, 2, incumbent="full", raise_errors=True)
    assert again.trace.to_dict() == result.trace.to_dict()


@pytest.mark.parametrize("method", OPTUNA_RANDOM_PAIRS)
def test_optuna_random_sampler_pairs_run(method: str) -> None:
    pytest.importorskip("optuna")
    result = run_one(method, Learning(), 0, 90, 2, incumbent="full", raise_errors=True)
    _check_run(result, Learning(), 90)


def test_multi_fidelity_methods_skip_black_box_problems() -> None:
    class Box(Learning):
        max_steps = 1

    for name in (*TUNELAB_MF, *OPTUNA_RANDOM_PAIRS):
        assert "black-box" in (METHODS[name].not_applicable(Box()) or "")


def test_full_fidelity_incumbent_ignores_low_rung_values() -> None:
    """ASHA (stopping form) stops most trials at rung 1 or 3 with a loss near 0; those
    values count in the old "last" mode but never in "full" mode."""
    problem = Deceptive()
    last = run_one("tunelab-asha-stop", problem, 1, 90, 2, incumbent="last",
                   raise_errors=True)
    full = run_one("tunelab-asha-stop", problem, 1, 90, 2, incumbent="full",
                   raise_errors=True)
    assert min(last.trace.regret) < 0.01
    assert full.trace.regret and min(full.trace.regret) >= 0.5
    # the same run underneath
    assert full.configs == last.configs and full.steps >= 90
    peer = run_one("optuna-random-sha", problem, 1, 90, 2, incumbent="full",
                   raise_errors=True) if _has_optuna() else None
    if peer is not None:
        assert not peer.trace.regret or min(peer.trace.regret) >= 0.5


def _has_optuna() -> bool:
    import importlib.util

    return importlib.util.find_spec("optuna") is not None


def test_black_box_problems_are_the_same_in_both_modes() -> None:
    class Box(Learning):
        max_steps = 1

        def evaluate(self, config: Mapping[str, Any], seed: int) -> Sequence[SimStep]:
            return [SimStep({"loss": config["x"]}, 1.0)]

    a = run_one("tunelab-random", Box(), 0, 12, 1, incumbent="last", raise_errors=True)
    b = run_one("tunelab-random", Box(), 0, 12, 1, incumbent="full", raise_errors=True)
    assert a.trace.to_dict() == b.trace.to_dict()


def test_utilization_from_a_hand_made_log() -> None:
    # two workers; trial 0 runs 0-4, trial 1 runs 0-2 then pauses, trial 2 runs 2-3,
    # trial 1 resumes 3-4 (budget runs out at the report at t=3), makespan 4.
    log = [
        (0.0, 0, "start", 0), (0.0, 1, "start", 0),
        (1.0, 0, "report", 1), (2.0, 1, "report", 1), (2.0, 1, "paused", 1),
        (2.0, 2, "start", 0), (3.0, 2, "report", 1), (3.0, 2, "finish", 1),
        (3.0, 1, "resume", 1), (4.0, 0, "report", 2), (4.0, 0, "finish", 2),
        (4.0, 1, "report", 2), (4.0, 1, "finish", 2),
    ]
    summary = Utilization.from_log(2, log, budget=3).summary()
    assert summary["busy_s"] == pytest.approx(4 + 2 + 1 + 1)
    assert summary["makespan_s"] == 4.0
    assert summary["utilization"] == pytest.approx(1.0)
    assert summary["budget_time_s"] == 3.0
    assert summary["idle_tail_s"] == pytest.approx(0.0)
    # one worker left idle after the budget ran out
    log2 = [(0.0, 0, "start", 0), (0.0, 1, "start", 0), (1.0, 1, "report", 1),
            (1.0, 1, "finish", 1), (5.0, 0, "report", 1), (5.0, 0, "finish", 1)]
    summary2 = Utilization.from_log(2, log2, budget=1).summary()
    assert summary2["utilization"] == pytest.approx(6 / 10)
    assert summary2["utilization_before_budget"] == pytest.approx(1.0)
    assert summary2["idle_tail_s"] == pytest.approx(4.0)


def test_curve_cache_changes_nothing_but_time() -> None:
    problem = Learning()
    cache: CurveCache = {}
    with_cache = [run_one(m, problem, 2, 60, 2, incumbent="full", raise_errors=True,
                          cache=cache) for m in ("tunelab-sh", "tunelab-asha")]
    assert cache  # filled by the first run, used by the second
    without = [run_one(m, problem, 2, 60, 2, incumbent="full", raise_errors=True)
               for m in ("tunelab-sh", "tunelab-asha")]
    for a, b in zip(with_cache, without, strict=True):
        assert a.trace.to_dict() == b.trace.to_dict()
        assert a.configs == b.configs and a.utilization == b.utilization


def test_run_many_keeps_task_order_across_bundles() -> None:
    problem = Learning()
    tasks = [RunTask(m, "fake", "smoke", problem.name, seed, 45, 2, incumbent="full")
             for seed in (0, 1) for m in ("tunelab-asha", "tunelab-random")]
    out = run_many(tasks, 1, problems={problem.name: problem})
    assert [(r.method, r.seed) for r in out] == [(t.method, t.seed) for t in tasks]


# --------------------------------------------------------------------------- suites


def test_mf_suite_definition() -> None:
    mf = SUITES["mf"]
    assert mf.seeds >= 20 and mf.incumbent == "full" and mf.report == "multi-fidelity"
    assert set(("tunelab-random", *TUNELAB_MF, *OPTUNA_RANDOM_PAIRS, "optuna-tpe-median",
                "optuna-tpe-sha", "optuna-tpe-hyperband")) <= set(mf.methods)
    assert set(MF_METHODS) == set(mf.methods)
    assert max(MF_BUDGETS) == 100 and mf.budgets["default"] == 100
    # the quick suite keeps the methods and the incumbent of its committed report
    quick = SUITES["quick"]
    assert quick.incumbent == "last"
    assert not set(quick.methods) & {*TUNELAB_MF, *OPTUNA_RANDOM_PAIRS}
    assert SUITES["full"].incumbent == "full"


def test_mf_suite_plan() -> None:
    from benchmarks.problems import yahpo

    try:
        yahpo.surrogate("lcbench")
    except Exception as exc:  # no data here
        pytest.skip(f"YAHPO data not available: {exc}")
    the_plan = plan("mf")
    lcbench = [p for p in the_plan.problems if p.name.startswith("yahpo/lcbench-")]
    assert len(lcbench) >= 10
    assert {p.family for p in the_plan.problems} == {"yahpo", "mf-synthetic"}
    suite = the_plan.suite
    for task in the_plan.tasks:
        problem = next(p for p in the_plan.problems if p.name == task.problem)
        assert task.incumbent == "full"
        full = 100 * problem.max_steps
        if task.method in suite.budget_caps and task.seed >= suite.uncapped_below(problem.family):
            assert task.budget == suite.budget_caps[task.method] * problem.max_steps
        else:
            assert task.budget == full
        assert task.workers in (4, 16)
    hartmann = [t for t in the_plan.tasks if t.family == "mf-synthetic"]
    assert hartmann and all(t.budget == 100 * 100 for t in hartmann)  # never capped
    extra = [t for t in the_plan.tasks if t.workers == 16]
    assert extra and all(t.method == "tunelab-asha" and t.family == "yahpo" for t in extra)
    assert len({t.seed for t in the_plan.tasks}) >= 20


# --------------------------------------------------------------------------- report


def test_mf_report_from_tiny_runs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from benchmarks.harness.mf_report import goal_check, mf_stats
    from benchmarks.harness.report import write_any_report

    problem = Learning()
    steps = problem.max_steps
    full_budget = 100 * steps
    methods = ["tunelab-random", "tunelab-asha", "tunelab-sh"]
    if _has_optuna():
        methods.append("optuna-random-hyperband")
    runs = []
    for seed in (0, 1, 2):
        for m in methods:
            # the Optuna pair is capped at 20 x from seed 1 on, as in the mf suite
            capped = m.startswith("optuna") and seed >= 1
            budget = 20 * steps if capped else full_budget
            runs.append(run_one(m, problem, seed, budget, 4, incumbent="full",
                                raise_errors=True))
        runs.append(run_one("tunelab-asha", problem, seed, full_budget, 8, incumbent="full",
                            raise_errors=True))
    record = results.problem_record(problem, full_budget, 4)
    meta = results.collect_meta("pytest", suite="mf", seeds=[0, 1, 2], jobs=1,
                                wall_seconds=1.0)
    _, _, data = results.save(tmp_path / "data", "mf", meta, [record], runs, [], {}, methods,
                              incumbent="full", slug="multi-fidelity",
                              report="multi-fidelity")
    path = write_any_report(data, tmp_path, data_path="X")
    text = path.read_text()
    assert path.name == "multi-fidelity.md"
    assert "## Goal check" in text and "## Worker utilization" in text
    assert "trained to full fidelity" in text
    assert "| fake | tunelab-asha | 8 |" in text  # the extra worker count is reported
    pngs = sorted((tmp_path / "img").glob("multi-fidelity-*.png"))
    assert pngs and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    stats = mf_stats(data)
    # runs at the extra worker count are not part of the comparison
    assert all(len(v) == 3 for m in stats.regret.values() for v in m.values())
    if _has_optuna():
        assert stats.capped() == {"optuna-random-hyperband": 20}
        assert stats.full_seeds() == [0]
        rows = goal_check(stats, None, carry=True, multiples=(50, 100))
        assert all(r["optuna"] == "optuna-random-hyperband" for r in rows)
        assert all(r["verdict"] in ("no", "bound") for r in rows)
        direct = goal_check(stats, None, multiples=(5, 10, 20))
        assert all(r["verdict"] in ("yes", "no") for r in direct)
        assert all(r["cells"] == 3 for r in direct)
        assert np.isnan(stats.regret["optuna-random-hyperband"][problem.name][1][-1])


def test_capping_is_judged_per_family() -> None:
    from benchmarks.harness.mf_report import MULTIPLES, MFStats, _span

    full = np.linspace(0.5, 0.1, len(MULTIPLES))
    capped = full.copy()
    capped[MULTIPLES.index(50):] = np.nan  # ran to 20 x only
    regret = {
        "tunelab-asha": {"hart": {0: full, 1: full}, "lc": {0: full, 1: full}},
        "optuna-tpe-sha": {"hart": {0: full, 1: full}, "lc": {0: full, 1: capped}},
    }
    problems = {"hart": {"family": "mf-synthetic"}, "lc": {"family": "yahpo"}}
    stats = MFStats(regret, problems, list(regret), ["mf-synthetic", "yahpo"], {})
    assert stats.capped(stats.family_problems("mf-synthetic")) == {}
    assert stats.full_seeds(stats.family_problems("mf-synthetic")) == [0, 1]
    assert stats.capped(stats.family_problems("yahpo")) == {"optuna-tpe-sha": 20}
    assert stats.full_seeds(stats.family_problems("yahpo")) == [0]
    assert stats.capped() == {"optuna-tpe-sha": 20} and stats.full_seeds() == [0]
    assert _span([0, 1, 2, 3]) == "0..3" and _span([0, 2]) == "0, 2" and _span([4]) == "4"

"""Metrics over anytime traces: regret at a budget, area under the regret curve,
time-to-target, average rank, and CPU overhead.

A trace is a step function: the normalized regret of the best value so far is 1 until the
first trial finishes, then holds each recorded value until the next point. ``xs`` is the
budget axis of its points (evaluations, steps or simulated seconds; non-decreasing).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

__all__ = [
    "GRID_FRACTIONS",
    "TARGETS",
    "MethodStats",
    "ProblemStats",
    "auc",
    "average_ranks",
    "budget_axis",
    "quartiles",
    "regret_at",
    "regret_curve",
    "summarize",
    "time_to_target",
]

#: Regret targets for time-to-target.
TARGETS = (0.1, 0.01)
#: Budget fractions at which curves and ranks are evaluated (1% .. 100%).
GRID_FRACTIONS = np.linspace(0.01, 1.0, 100)


def regret_at(xs: Sequence[float], regrets: Sequence[float], x: float) -> float:
    """Regret of the best so far once ``x`` budget is spent (1.0 before any result)."""
    i = bisect.bisect_right(xs, x) - 1
    return 1.0 if i < 0 else float(regrets[i])


def regret_curve(
    xs: Sequence[float], regrets: Sequence[float], grid: Sequence[float] | np.ndarray
) -> np.ndarray:
    return np.array([regret_at(xs, regrets, x) for x in grid], dtype=float)


def auc(xs: Sequence[float], regrets: Sequence[float], budget: float) -> float:
    """Area under the regret step function over [0, budget], divided by ``budget``: in
    [0, 1]; 0 means optimal from the start, 1 means no progress within the budget."""
    if budget <= 0:
        raise ValueError(f"budget must be > 0; got {budget}")
    area, last_x, last_r = 0.0, 0.0, 1.0
    for x, r in zip(xs, regrets, strict=True):
        x = min(float(x), budget)
        area += (x - last_x) * last_r
        last_x, last_r = x, float(r)
        if last_x >= budget:
            break
    area += (budget - last_x) * last_r
    return area / budget


def time_to_target(
    xs: Sequence[float], regrets: Sequence[float], target: float, budget: float
) -> float | None:
    """The budget at which regret first reaches ``<= target``; None if not within budget."""
    for x, r in zip(xs, regrets, strict=True):
        if x > budget:
            return None
        if r <= target:
            return float(x)
    return None


def average_ranks(curves: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rank methods at each (seed, budget point); ``curves[method]`` is seeds x points of
    regret (the same seeds in the same order for every method). Ties share the average
    rank. Returns, per method, its rank per seed and point (seeds x points), in
    [1, number of methods]."""
    names = list(curves)
    if not names:
        return {}
    stack = np.stack([curves[n] for n in names])  # methods x seeds x points
    ranks = rankdata(stack, axis=0, method="average")
    return {n: ranks[i] for i, n in enumerate(names)}


def quartiles(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """25th, 50th and 75th percentiles along ``axis``."""
    q = np.percentile(values, [25, 50, 75], axis=axis)
    return q[0], q[1], q[2]


def budget_axis(problem: Mapping[str, Any]) -> str:
    """``evals`` for black-box problems, ``steps`` (consumed resource) otherwise."""
    return "evals" if int(problem["max_steps"]) <= 1 else "steps"


# --------------------------------------------------------------------------- summaries


@dataclass
class MethodStats:
    """One method on one problem, over seeds (in ``seeds`` order)."""

    method: str
    seeds: list[int]
    final: np.ndarray  # regret at the budget, per seed
    auc: np.ndarray
    curve: np.ndarray  # seeds x GRID_FRACTIONS
    ttt: dict[float, list[float | None]]  # budget to reach each target, per seed
    overhead_ms: list[float]
    trials: list[int]
    seconds: list[float]
    ranks: np.ndarray | None = None  # seeds x GRID_FRACTIONS, among the problem's methods
    regret_at_time: np.ndarray | None = None  # regret at the common simulated-time horizon


@dataclass
class ProblemStats:
    """Every method on one problem."""

    problem: dict[str, Any]
    axis: str
    budget: float
    grid: np.ndarray
    methods: dict[str, MethodStats] = field(default_factory=dict)
    time_horizon: float | None = None  # seconds, multi-fidelity problems only


def summarize(data: Mapping[str, Any]) -> dict[str, ProblemStats]:
    """Per problem and method statistics of a results file (see ``results.py``)."""
    problems = {p["name"]: p for p in data["problems"]}
    by_pm: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for run in data["runs"]:
        if run["status"] != "ok" or not run["trace"]["evals"]:
            continue
        if run["problem"] not in problems:
            continue
        wanted = problems[run["problem"]].get("workers")
        if wanted is not None and run.get("workers", wanted) != wanted:
            continue  # extra runs at another worker count (utilization): not compared
        by_pm.setdefault((run["problem"], run["method"]), []).append(run)
    out: dict[str, ProblemStats] = {}
    for name, problem in problems.items():
        axis = budget_axis(problem)
        budget = float(problem["budget"])
        stats = ProblemStats(problem, axis, budget, GRID_FRACTIONS * budget)
        methods = [m for (p, m) in by_pm if p == name]
        if not methods:
            continue
        # rank over the seeds every method of this problem ran
        common = set.intersection(*({r["seed"] for r in by_pm[(name, m)]} for m in methods))
        for method in data.get("method_order", sorted(methods)):
            if method not in methods:
                continue
            runs = sorted(by_pm[(name, method)], key=lambda r: r["seed"])
            finals, aucs, curves, overhead, trials, secs = [], [], [], [], [], []
            ttt: dict[float, list[float | None]] = {t: [] for t in TARGETS}
            for run in runs:
                tr = run["trace"]
                xs, rs = tr[axis], tr["regret"]
                finals.append(regret_at(xs, rs, budget))
                aucs.append(auc(xs, rs, budget))
                curves.append(regret_curve(xs, rs, stats.grid))
                for t in TARGETS:
                    ttt[t].append(time_to_target(xs, rs, t, budget))
                if run.get("overhead_ms") is not None:
                    overhead.append(float(run["overhead_ms"]))
                trials.append(sum(1 for x in xs if x <= budget))
                secs.append(float(tr["seconds"][-1]))
            stats.methods[method] = MethodStats(
                method,
                [r["seed"] for r in runs],
                np.array(finals),
                np.array(aucs),
                np.array(curves),
                ttt,
                overhead,
                trials,
                secs,
            )
        seeds = sorted(common)
        curves_common = {
            m: s.curve[[s.seeds.index(seed) for seed in seeds]] for m, s in stats.methods.items()
        }
        if seeds:
            for m, ranks in average_ranks(curves_common).items():
                stats.methods[m].ranks = ranks
        if axis == "steps":
            medians = [float(np.median(s.seconds)) for s in stats.methods.values()]
            stats.time_horizon = min(medians) if medians else None
            if stats.time_horizon:
                for m, s in stats.methods.items():
                    runs = sorted(by_pm[(name, m)], key=lambda r: r["seed"])
                    s.regret_at_time = np.array(
                        [
                            regret_at(r["trace"]["seconds"], r["trace"]["regret"],
                                      stats.time_horizon)
                            for r in runs
                        ]
                    )
        out[name] = stats
    return out


def finite_median(values: Sequence[float | None]) -> float | None:
    """Median with None counted as +inf; None when at least half are None."""
    vals = sorted(math.inf if v is None else float(v) for v in values)
    if not vals:
        return None
    med = float(np.median(vals))
    return None if math.isinf(med) or math.isnan(med) else med

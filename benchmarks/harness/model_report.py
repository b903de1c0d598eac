"""The goal check of the model-based suite (``--suite model``): mean normalized regret of
tunelab's model-based searchers against Optuna's at fixed evaluation budgets, per problem.

The search report (``report.py``) shows medians at the full budget; the issue's goal is
about *mean* regret at 50, 100 and 200 evaluations, so this section reads every run's
regret there and compares tunelab's best model-based method with Optuna's best, and
tunelab's TPE with Optuna's TPE, problem by problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from benchmarks.harness.metrics import ProblemStats, regret_at

__all__ = ["goal_section", "TUNELAB_MODEL", "OPTUNA_MODEL"]

#: tunelab's model-based searchers and Optuna's, at full fidelity.
TUNELAB_MODEL = ("tunelab-tpe", "tunelab-gp", "tunelab-evolution")
OPTUNA_MODEL = ("optuna-tpe", "optuna-gp")
#: Evaluation budgets at which the goal is read (those within a problem's budget).
CHECKPOINTS = (50, 100, 200)


def _regrets(data: Mapping[str, Any], problem: str, method: str, at: float) -> dict[int, float]:
    out = {}
    for run in data["runs"]:
        if run["problem"] == problem and run["method"] == method and run["status"] == "ok":
            tr = run["trace"]
            out[int(run["seed"])] = regret_at(tr["evals"], tr["regret"], at)
    return out


def _fmt(x: float) -> str:
    return "0" if x == 0 else (f"{x:.3g}" if x >= 1e-3 else f"{x:.2e}")


def goal_section(data: Mapping[str, Any], stats: Mapping[str, ProblemStats]) -> list[str]:
    """Markdown lines: per black-box problem and budget, mean regret of the best tunelab
    and best Optuna model-based method (chosen per problem and budget), and TPE vs TPE."""
    lines: list[str] = []
    w = lines.append
    w("## Goal check: mean regret at 50, 100 and 200 evaluations")
    w("")
    w("Mean normalized regret over the seeds every compared method ran, at each budget "
      "(evaluations) within the problem's budget. *Best* is chosen per problem and budget "
      f"among {', '.join(TUNELAB_MODEL)} (tunelab) and {', '.join(OPTUNA_MODEL)} (Optuna), "
      "from the methods that ran on the problem. *W/L* counts seeds where tunelab's TPE is "
      "lower / higher than Optuna's TPE. A cell in **bold** is the lower mean.")
    w("")
    w("| problem | evals | tunelab best | mean | Optuna best | mean | tunelab-tpe | "
      "optuna-tpe | W/L (TPE) |")
    w("|---|---:|---|---:|---|---:|---:|---:|---:|")
    tally = {"best": [0, 0, 0], "tpe": [0, 0, 0]}  # wins, losses, ties
    for name, ps in stats.items():
        if ps.axis != "evals":
            continue
        ran = set(ps.methods)
        ours = [m for m in TUNELAB_MODEL if m in ran]
        theirs = [m for m in OPTUNA_MODEL if m in ran]
        if not ours or not theirs:
            continue
        for at in (c for c in CHECKPOINTS if c <= ps.budget):
            runs = {m: _regrets(data, name, m, at) for m in (*ours, *theirs)}
            seeds = sorted(set.intersection(*(set(r) for r in runs.values())))
            if not seeds:
                continue
            mean = {m: float(np.mean([runs[m][s] for s in seeds])) for m in runs}
            best_ours = min(ours, key=lambda m: mean[m])
            best_theirs = min(theirs, key=lambda m: mean[m])
            _count(tally["best"], mean[best_ours], mean[best_theirs])
            tpe_cells = ["", "", ""]
            if "tunelab-tpe" in runs and "optuna-tpe" in runs:
                a, b = mean["tunelab-tpe"], mean["optuna-tpe"]
                _count(tally["tpe"], a, b)
                wins = sum(runs["tunelab-tpe"][s] < runs["optuna-tpe"][s] for s in seeds)
                losses = sum(runs["tunelab-tpe"][s] > runs["optuna-tpe"][s] for s in seeds)
                tpe_cells = [_bold(a, b), _bold(b, a), f"{wins}/{losses}"]
            w(f"| {name} | {at} | {best_ours} | {_bold(mean[best_ours], mean[best_theirs])} "
              f"| {best_theirs} | {_bold(mean[best_theirs], mean[best_ours])} | "
              + " | ".join(tpe_cells) + " |")
    w("")
    for key, label in (("best", "tunelab's best vs Optuna's best"),
                       ("tpe", "tunelab-tpe vs optuna-tpe")):
        won, lost, tied = tally[key]
        total = won + lost + tied
        if total:
            w(f"- **{label}**: lower mean regret in {won} of {total} (problem, budget) cells, "
              f"higher in {lost}, equal in {tied}.")
    w("")
    return lines


def _count(tally: list[int], ours: float, theirs: float) -> None:
    if np.isclose(ours, theirs, rtol=1e-9, atol=1e-12):
        tally[2] += 1
    elif ours < theirs:
        tally[0] += 1
    else:
        tally[1] += 1


def _bold(x: float, other: float) -> str:
    return f"**{_fmt(x)}**" if x < other and not np.isclose(x, other, rtol=1e-9,
                                                              atol=1e-12) else _fmt(x)


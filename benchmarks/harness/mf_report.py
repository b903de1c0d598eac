"""The multi-fidelity report (``docs/benchmarks/multi-fidelity.md``) of a results file.

It reads the saved data only (``python -m benchmarks.report --data FILE`` rebuilds it):

* normalized regret at budgets of 5, 10, 20, 50 and 100 x the maximum resource (consumed
  steps), mean and median over tasks and seeds, per family and overall;
* average rank per budget (methods ranked per task, seed and budget; ties share);
* the goal check: tunelab's best multi-fidelity method against Optuna's best (sampler,
  pruner) pair, by mean regret, at every budget, per family and overall, with a paired
  bootstrap interval of the difference;
* worker utilization on the virtual clock, per method and worker count.

"Overall" pools every (task, seed) of every family: lcbench has more tasks than
multi-fidelity Hartmann, so it weighs more; the per-family rows show each on its own.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from benchmarks.harness.metrics import regret_at

__all__ = [
    "MULTIPLES",
    "OPTUNA_PAIRS",
    "TUNELAB_MF",
    "MFStats",
    "goal_check",
    "mf_stats",
    "write_mf_report",
]

#: Budgets, as multiples of the maximum resource, at which regret is read.
MULTIPLES = (5, 10, 20, 50, 100)
#: tunelab's multi-fidelity methods (random search + a scheduler, and TPE fitted per budget
#: with Hyperband = BOHB, or with ASHA).
TUNELAB_MF = ("tunelab-sh", "tunelab-hyperband", "tunelab-asha", "tunelab-asha-stop",
              "tunelab-async-hb", "tunelab-median", "tunelab-bohb", "tunelab-tpe-asha")
#: Optuna's (sampler, pruner) pairs.
OPTUNA_PAIRS = ("optuna-tpe-median", "optuna-tpe-sha", "optuna-tpe-hyperband",
                "optuna-random-median", "optuna-random-sha", "optuna-random-hyperband")
_BOOTSTRAP = 2000
_FAMILY_NAMES = {"yahpo": "lcbench (YAHPO)", "mf-synthetic": "multi-fidelity Hartmann"}


@dataclass
class MFStats:
    """Regret of every method at every budget multiple, per (problem, seed)."""

    #: method -> problem -> seed -> regrets at MULTIPLES
    regret: dict[str, dict[str, dict[int, np.ndarray]]]
    problems: dict[str, dict[str, Any]]
    methods: list[str]
    families: list[str]
    #: (method, problem) -> (trace, budget in steps) of each of its runs
    traces: dict[tuple[str, str], list[tuple[Mapping[str, Any], int]]]

    def cells(
        self, method: str, problems: Sequence[str], seeds: Sequence[int] | None = None
    ) -> tuple[list[tuple[str, int]], np.ndarray]:
        """(problem, seed) keys and a keys x MULTIPLES array of the method's regrets (NaN
        at budgets past a capped run's budget); ``seeds``: only those."""
        keys, rows = [], []
        for p in problems:
            for seed, r in sorted(self.regret.get(method, {}).get(p, {}).items()):
                if seeds is None or seed in seeds:
                    keys.append((p, seed))
                    rows.append(r)
        return keys, np.array(rows).reshape(len(rows), len(MULTIPLES))

    def full_seeds(self, problems: Sequence[str] | None = None) -> list[int]:
        """Seeds on which every method ran every problem (of ``problems``) to the largest
        budget."""
        seeds: set[int] | None = None
        for m in self.methods:
            for p in (self.problems if problems is None else problems):
                got = {s for s, r in self.regret.get(m, {}).get(p, {}).items()
                       if not np.isnan(r[-1])}
                seeds = got if seeds is None else seeds & got
        return sorted(seeds or ())

    def capped(self, problems: Sequence[str] | None = None) -> dict[str, int]:
        """Methods with runs (on ``problems``) short of the largest budget -> their
        smallest multiple."""
        out: dict[str, int] = {}
        for m in self.methods:
            for p in (self.problems if problems is None else problems):
                for r in self.regret.get(m, {}).get(p, {}).values():
                    if np.isnan(r[-1]):
                        last = max(MULTIPLES[j] for j in range(len(MULTIPLES))
                                   if not np.isnan(r[j]))
                        out[m] = min(out.get(m, last), last)
        return out

    def family_problems(self, family: str | None) -> list[str]:
        return [p for p, rec in self.problems.items()
                if family is None or rec["family"] == family]


def _span(seeds: Sequence[int]) -> str:
    """``0..19`` for a run of seeds, else the list."""
    if len(seeds) > 1 and list(seeds) == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}..{seeds[-1]}"
    return ", ".join(map(str, seeds))


def mf_stats(data: Mapping[str, Any]) -> MFStats:
    """Regret at each multiple of the maximum resource, for the runs at each problem's
    own worker count (extra runs at other counts are for utilization only)."""
    problems = {p["name"]: p for p in data["problems"]}
    regret: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    traces: dict[tuple[str, str], list[tuple[Mapping[str, Any], int]]] = {}
    for run in data["runs"]:
        rec = problems.get(run["problem"])
        if rec is None or run["status"] != "ok" or run["workers"] != rec["workers"]:
            continue
        traces.setdefault((run["method"], run["problem"]), []).append(
            (run["trace"], int(run["budget"])))
        steps = int(rec["max_steps"])
        tr = run["trace"]
        values = np.array([
            regret_at(tr["steps"], tr["regret"], m * steps)
            if m * steps <= int(run["budget"]) else math.nan  # a capped run: not run there
            for m in MULTIPLES
        ])
        regret.setdefault(run["method"], {}).setdefault(run["problem"], {})[run["seed"]] = values
    methods = [m for m in data["method_order"] if m in regret]
    families: list[str] = []
    for rec in problems.values():
        if rec["family"] not in families:
            families.append(rec["family"])
    return MFStats(regret, problems, methods, families, traces)


def _ranks(
    stats: MFStats, problems: Sequence[str], seeds: Sequence[int] | None = None
) -> tuple[dict[str, np.ndarray], list[int]]:
    """Mean rank per method and budget multiple (NaN where it did not run there), and the
    number of methods ranked at each multiple. At each (problem, multiple) the methods
    with a value for every common seed are ranked per seed (ties share)."""
    sums: dict[str, np.ndarray] = {m: np.zeros(len(MULTIPLES)) for m in stats.methods}
    counts: dict[str, np.ndarray] = {m: np.zeros(len(MULTIPLES)) for m in stats.methods}
    ranked = [0] * len(MULTIPLES)
    for p in problems:
        present = [m for m in stats.methods if p in stats.regret.get(m, {})]
        if not present:
            continue
        common = set.intersection(*(set(stats.regret[m][p]) for m in present))
        if seeds is not None:
            common &= set(seeds)
        order = sorted(common)
        if not order:
            continue
        for j in range(len(MULTIPLES)):
            here = [m for m in present
                    if not any(np.isnan(stats.regret[m][p][s][j]) for s in order)]
            if not here:
                continue
            ranked[j] = max(ranked[j], len(here))
            block = np.array([[stats.regret[m][p][s][j] for s in order] for m in here])
            r = rankdata(block, axis=0, method="average")
            for i, m in enumerate(here):
                sums[m][j] += r[i].sum()
                counts[m][j] += len(order)
    means = {}
    for m in stats.methods:
        if counts[m].any():
            with np.errstate(invalid="ignore", divide="ignore"):
                means[m] = np.where(counts[m] > 0, sums[m] / np.maximum(counts[m], 1), np.nan)
    return means, ranked


def _bootstrap_diff(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of mean(a - b) over paired cells."""
    diff = a - b
    if len(diff) < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(_BOOTSTRAP, len(diff)))
    means = diff[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def goal_check(
    stats: MFStats,
    family: str | None,
    *,
    seeds: Sequence[int] | None = None,
    carry: bool = False,
    multiples: Sequence[int] = MULTIPLES,
) -> list[dict[str, Any]]:
    """Per budget multiple: the best tunelab multi-fidelity method and the best Optuna
    pair by mean regret over the family's (problem, seed) cells (every family: None;
    ``seeds``: only those), the paired difference and whether tunelab's is lower.

    A method with runs short of a multiple (a capped run) takes part only when ``carry``
    is set: its regret at the largest budget it ran stands in for the missing one. As
    regret never increases with the budget, that value is an upper bound: a tunelab
    win against it is marked ``bound`` (not proven), a loss is a loss."""
    problems = stats.family_problems(family)
    rows = []
    for mult in multiples:
        j = MULTIPLES.index(mult)
        means: dict[str, float] = {}
        cells: dict[str, dict[tuple[str, int], float]] = {}
        carried: set[str] = set()
        for m in (*TUNELAB_MF, *OPTUNA_PAIRS):
            keys, arr = stats.cells(m, problems, seeds)
            if not len(keys):
                continue
            col = arr[:, j].copy()
            if np.isnan(col).any():
                if not carry:
                    continue
                for i in np.flatnonzero(np.isnan(col)):
                    col[i] = arr[i][~np.isnan(arr[i])][-1]
                carried.add(m)
            means[m] = float(col.mean())
            cells[m] = {k: float(v) for k, v in zip(keys, col, strict=True)}
        tl = [m for m in TUNELAB_MF if m in means]
        op = [m for m in OPTUNA_PAIRS if m in means]
        if not tl or not op:
            continue
        best_tl = min(tl, key=lambda m: means[m])
        best_op = min(op, key=lambda m: means[m])
        common = sorted(set(cells[best_tl]) & set(cells[best_op]))
        a = np.array([cells[best_tl][k] for k in common])
        b = np.array([cells[best_op][k] for k in common])
        lo, hi = _bootstrap_diff(a, b)
        met = means[best_tl] < means[best_op]
        rows.append({
            "multiple": mult,
            "tunelab": best_tl,
            "tunelab_mean": means[best_tl],
            "optuna": best_op,
            "optuna_mean": means[best_op],
            "optuna_bound": best_op in carried,
            "diff": float((a - b).mean()) if len(common) else float("nan"),
            "ci": (lo, hi),
            "wins": int((a < b).sum()),
            "losses": int((a > b).sum()),
            "cells": len(common),
            "met": met,
            "verdict": ("no" if not met else "bound" if carried else "yes"),
        })
    return rows


# --------------------------------------------------------------------------- formatting


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == 0:
        return "0"
    if abs(x) < 10 ** -(digits - 1) or abs(x) >= 10**5:
        return f"{x:.{max(digits - 1, 1)}e}"
    return f"{x:.{digits}g}"


def _signed(x: float) -> str:
    return ("+" if x > 0 else "") + _fmt(x)


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#843c39", "#7b4173",
            "#000000", "#3182bd")


def _style(method: str) -> str:
    """Line style: tunelab solid, Optuna dashed (TPE) or dotted (random sampler)."""
    if method.startswith("tunelab"):
        return "-"
    if method.startswith("optuna-random"):
        return ":"
    return "--"


def _plot_family(stats: MFStats, family: str | None, title: str, path: Path) -> None:
    """Mean regret over the budget (every run; a capped method's line ends at its cap)
    and average rank at the report's budgets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = stats.family_problems(family)
    grid = np.geomspace(1, max(MULTIPLES), 80)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.4))
    ranks, ranked = _ranks(stats, problems)
    # ranks only where every method ran (a capped method's absence shifts the others')
    cols = [j for j, n in enumerate(ranked) if n == max(ranked)]
    for i, m in enumerate(stats.methods):
        rows = []
        for p in problems:
            steps = int(stats.problems[p]["max_steps"])
            for tr, budget in stats.traces.get((m, p), []):
                rows.append([regret_at(tr["steps"], tr["regret"], x * steps)
                             if x * steps <= budget else np.nan for x in grid])
        ls = _style(m)
        color = _PALETTE[i % len(_PALETTE)]
        if rows:
            arr = np.array(rows)
            ok = ~np.isnan(arr).any(axis=0)
            ax.plot(grid[ok], np.maximum(arr[:, ok].mean(axis=0), 1e-4), ls=ls, color=color,
                    lw=1.5, label=m)
        if m in ranks:
            bx.plot([MULTIPLES[j] for j in cols], ranks[m][cols], ls=ls, color=color, lw=1.5,
                    marker="o", ms=3, label=m)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("budget (multiples of the maximum resource, consumed steps)")
    ax.set_ylabel("mean normalized regret (full-fidelity incumbent)")
    for mult in MULTIPLES:
        ax.axvline(mult, color="#999999", lw=0.5, ls=":")
    ax.grid(alpha=0.3, which="both", lw=0.4)
    bx.set_xscale("log")
    bx.set_xticks([MULTIPLES[j] for j in cols])
    bx.set_xticklabels([f"{MULTIPLES[j]}x" for j in cols])
    bx.minorticks_off()
    bx.set_xlabel("budget (multiples of the maximum resource; budgets every method ran)")
    bx.set_ylabel(f"average rank of {max(ranked)} (lower is better)")
    bx.grid(alpha=0.3, lw=0.4)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.13, 1, 0.96))
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --------------------------------------------------------------------------- markdown


def _utilization_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    problems = {p["name"]: p for p in data["problems"]}
    groups: dict[tuple[str, str, int], list[Mapping[str, Any]]] = {}
    for run in data["runs"]:
        if run["status"] != "ok" or not run.get("utilization"):
            continue
        if int(run["budget"]) != int(problems[run["problem"]]["budget"]):
            continue  # capped runs: a shorter run, not comparable
        fam = problems[run["problem"]]["family"]
        groups.setdefault((run["method"], fam, int(run["workers"])), []).append(run)
    order = {m: i for i, m in enumerate(data["method_order"])}
    rows = []
    for (method, fam, workers), runs in sorted(
        groups.items(), key=lambda kv: (kv[0][1], order.get(kv[0][0], 99), kv[0][2])
    ):
        u = [r["utilization"] for r in runs]
        util = np.array([x["utilization"] for x in u])
        before = np.array([x["utilization_before_budget"] for x in u])
        span = np.array([x["workers"] * x["makespan_s"] for x in u])
        tail_idle = np.maximum(np.array([x["idle_tail_s"] for x in u]) / span, 0.0)
        before_idle = np.maximum(np.array([x["idle_before_budget_s"] for x in u]) / span, 0.0)
        tail_share = np.array([x["tail_s"] / x["makespan_s"] if x["makespan_s"] else 0.0
                               for x in u])
        rows.append({
            "method": method, "family": fam, "workers": workers, "runs": len(runs),
            "configs": float(np.median([r["configs"] for r in runs])),
            "util_mean": float(util.mean()), "util_median": float(np.median(util)),
            "util_min": float(util.min()), "below95": int((util < 0.95).sum()),
            "before_mean": float(before.mean()),
            "idle_before": float(before_idle.mean()), "idle_tail": float(tail_idle.mean()),
            "tail_share": float(tail_share.mean()),
        })
    return rows


def _context_line(w: Any, stats: MFStats, scopes: Sequence[tuple[str | None, str]]) -> None:
    """Optuna's TPE without a pruner (not a pair, so outside the goal) next to tunelab's
    best multi-fidelity method, where it ran on every seed."""
    if "optuna-tpe" not in stats.methods:
        return
    parts = []
    for fam, label in scopes:
        probs = stats.family_problems(fam)
        _, tpe = stats.cells("optuna-tpe", probs)
        cells = []
        for j, mult in enumerate(MULTIPLES):
            if mult < 50 or not len(tpe) or np.isnan(tpe[:, j]).any():
                continue
            best = min((float(arr[:, j].mean()), m) for m in TUNELAB_MF
                       for keys, arr in [stats.cells(m, probs)] if len(keys))
            cells.append(f"{mult}x {_fmt(float(tpe[:, j].mean()))} vs {best[1]} "
                         f"{_fmt(best[0])}")
        if cells:
            parts.append(f"{label}: " + ", ".join(cells))
    if parts:
        w("For context (outside the goal, which is about pairs): Optuna's TPE *without* a "
          "pruner, run to 100 x on every seed, against tunelab's best multi-fidelity method "
          "(mean regret, all seeds): " + "; ".join(parts) + ".")
        w("")


def _straggler_section(w: Any, data: Mapping[str, Any]) -> None:
    """The runs below 95% utilization: where their idle time is, and the run that ended
    last (the straggler that holds the makespan)."""
    problems = {p["name"]: p for p in data["problems"]}
    low = [r for r in data["runs"]
           if r["status"] == "ok" and r.get("utilization")
           and int(r["budget"]) == int(problems[r["problem"]]["budget"])
           and r["utilization"]["utilization"] < 0.95]
    if not low:
        return
    w(f"### The {len(low)} runs below 95%")
    w("")
    tail_only = sum(1 for r in low if r["utilization"]["idle_before_budget_s"]
                    <= 1e-6 * r["utilization"]["workers"] * r["utilization"]["makespan_s"])
    w(f"In {tail_only} of them all the idle time comes after the step budget ran out: "
      "no worker waits while trials may start (no promotion waits, no bracket "
      "blocks). After the budget is spent no trial starts or resumes, the last trials "
      "run alone, and one of them holds the makespan: the *straggler* below is the run "
      "of a trial that ended last (*from -> to*: the steps it ran in that run; "
      "*s/step*: its seconds per step against the median run's in the same run; "
      "*started*: seconds before (-) or after the budget ran out).")
    w("")
    stats = {"promoted": 0, "top": 0, "slow": 0}
    have = [r for r in low if "last_start_s" in r["utilization"]]
    for r in have:
        u = r["utilization"]
        top = int(problems[r["problem"]]["max_steps"])
        stats["promoted"] += u["last_from_step"] > 0
        stats["top"] += u["last_to_step"] >= top
        stats["slow"] += u["last_seconds_per_step"] >= 3 * u["median_seconds_per_step"]
    if have:
        w(f"Of the {len(have)} runs: the straggler resumed a paused trial (a promotion) in "
          f"{stats['promoted']}, ran up to the maximum resource in {stats['top']}, and took "
          f"at least 3 x the median seconds per step in {stats['slow']}.")
        w("")
    worst = sorted(have, key=lambda r: r["utilization"]["utilization"])[:12]
    if worst:
        w("| method | workers | task | seed | utilization | budget-out (s) | makespan (s) "
          "| straggler from -> to | started | s/step (median) |")
        w("|---|---:|---|---:|---:|---:|---:|---|---:|---|")
        for r in worst:
            u = r["utilization"]
            w(f"| {r['method']} | {r['workers']} | {r['problem']} | {r['seed']} | "
              f"{u['utilization'] * 100:.1f}% | {u['budget_time_s']:.0f} | "
              f"{u['makespan_s']:.0f} | {u['last_from_step']:.0f} -> {u['last_to_step']:.0f} | "
              f"{u['last_start_s'] - u['budget_time_s']:+.0f} s | "
              f"{u['last_seconds_per_step']:.1f} ({u['median_seconds_per_step']:.1f}) |")
        w("")


def _cell(mean: float, median: float) -> str:
    if math.isnan(mean):
        return "—"
    return f"{_fmt(mean)} ({_fmt(median)})"


def _regret_tables(
    w: Any, stats: MFStats, problems: Sequence[str], seeds: Sequence[int] | None
) -> None:
    """Mean (median) regret and average rank per method and budget."""
    w("| method | runs | " + " | ".join(f"{m}x" for m in MULTIPLES) + " |")
    w("|---|---:|" + "---:|" * len(MULTIPLES))
    table = {}
    for m in stats.methods:
        keys, arr = stats.cells(m, problems, seeds)
        if not len(keys):
            continue
        mean = np.array([arr[:, j].mean() if not np.isnan(arr[:, j]).any() else np.nan
                         for j in range(len(MULTIPLES))])
        med = np.array([np.median(arr[:, j]) if not np.isnan(arr[:, j]).any() else np.nan
                        for j in range(len(MULTIPLES))])
        table[m] = (len(keys), mean, med)
    best = [np.nanmin([v[1][j] for v in table.values()]) for j in range(len(MULTIPLES))]
    for m, (n, mean, med) in table.items():
        cells = []
        for j in range(len(MULTIPLES)):
            text = _cell(mean[j], med[j])
            cells.append(f"**{text}**" if mean[j] == best[j] else text)
        w(f"| {m} | {n} | " + " | ".join(cells) + " |")
    w("")
    ranks, ranked = _ranks(stats, problems, seeds)
    w("Average rank (per task, seed and budget, among the methods that ran there: "
      + ", ".join(f"{n} at {m}x" for m, n in zip(MULTIPLES, ranked, strict=True))
      + "; ties share the average rank):")
    w("")
    w("| method | " + " | ".join(f"{m}x" for m in MULTIPLES) + " |")
    w("|---|" + "---:|" * len(MULTIPLES))
    for m in stats.methods:
        if m in ranks:
            w(f"| {m} | " + " | ".join("—" if np.isnan(x) else _fmt(float(x), 3)
                                       for x in ranks[m]) + " |")
    w("")


_VERDICT = {"yes": "yes", "no": "**no**", "bound": "vs bound only"}


def _goal_rows(w: Any, label: str, rows: Sequence[Mapping[str, Any]], seeds: str) -> None:
    for r in rows:
        lo, hi = r["ci"]
        optuna = r["optuna"] + (" (≤, at its cap)" if r["optuna_bound"] else "")
        w(f"| {label} | {r['multiple']}x | {seeds} | {r['tunelab']} | "
          f"{_fmt(r['tunelab_mean'])} | {optuna} | {_fmt(r['optuna_mean'])} | "
          f"{_signed(r['diff'])} [{_signed(lo)}, {_signed(hi)}] | {r['wins']}/{r['losses']} "
          f"| {_VERDICT[r['verdict']]} |")


def write_mf_report(
    data: Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    data_path: str | None = None,
) -> Path:
    """Write ``multi-fidelity.md`` and its plots (``img/multi-fidelity-*.png``)."""
    out = Path(out_dir)
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    meta = data["meta"]
    stats = mf_stats(data)
    problems = {p["name"]: p for p in data["problems"]}
    runs = data["runs"]
    failed = [r for r in runs if r["status"] != "ok"]
    descriptions = {m["name"]: m["description"] for m in data["methods"]}
    scopes: list[tuple[str | None, str]] = [(f, _FAMILY_NAMES.get(f, f))
                                            for f in stats.families]
    scopes.append((None, "overall"))
    capped = stats.capped()
    all_seeds = list(meta.get("seeds", []))
    # per scope: the capped methods, the seeds where every method ran to 100 x, and the
    # budgets every run reached (direct) or only some (beyond)
    scope_capped = {fam: stats.capped(stats.family_problems(fam)) for fam, _ in scopes}
    scope_full = {fam: stats.full_seeds(stats.family_problems(fam)) for fam, _ in scopes}
    scope_direct = {fam: [m for m in MULTIPLES if not c or m <= min(c.values())]
                    for fam, c in scope_capped.items()}
    capped_families = [(fam, label) for fam, label in scopes[:-1] if scope_capped[fam]]
    cap_text = "; ".join(
        f"on {label}, " + ", ".join(f"{m} ({c}x)" for m, c in scope_capped[fam].items())
        + f" (to 100 x on seeds {_span(scope_full[fam])} only)"
        for fam, label in capped_families)

    lines: list[str] = []
    w = lines.append
    w("# Multi-fidelity benchmark: tunelab's schedulers next to Optuna's pruners")
    w("")
    w("Generated by `benchmarks/harness/mf_report.py` from the saved data; do not edit by "
      "hand (see `benchmarks/README.md`).")
    w("")
    w("## How this was run")
    w("")
    if meta.get("suite_description"):
        w(f"- Suite: {meta['suite_description']}")
    w(f"- Command: `{meta['command']}`")
    rebuild = data_path or "docs/benchmarks/data/multi-fidelity.json.gz"
    w(f"- Rebuild this report from the saved data: `python -m benchmarks.report --data "
      f"{rebuild}`")
    w(f"- Date: {meta['date']}; git {meta.get('git_commit')}"
      f"{' (uncommitted changes)' if meta.get('git_dirty') else ''}")
    mach = meta["machine"]
    w(f"- Machine: {mach['cpu']}, {mach['cpus']} CPUs, {mach['platform']}; Python "
      f"{meta['python']}")
    vers = ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
    w(f"- Versions: {vers}")
    if meta.get("wall_seconds") is not None:
        wall = float(meta["wall_seconds"])
        cpu = sum(float(r.get("cpu_total_s") or 0.0) for r in runs)
        resumed = int(meta.get("resumed_runs") or 0)
        span = (f"the last {len(runs) - resumed} of {len(runs)} runs (the other {resumed} came "
                "from the `--resume` journal of an interrupted run of the same suite)"
                if resumed else f"{len(runs)} runs")
        w(f"- Wall time: {wall / 60:.1f} min for {span} with `--jobs "
          f"{meta.get('jobs')}` ({cpu / 60:.1f} CPU-minutes inside all {len(runs)} runs)")
    w(f"- Seeds: {len(all_seeds)} per (method, task): "
      f"{all_seeds[0] if all_seeds else ''}..{all_seeds[-1] if all_seeds else ''}. Trial n "
      "of every method evaluates with the same evaluation seed (common random numbers; "
      "the lcbench surrogates are deterministic, Hartmann's noise is seeded).")
    if capped:
        w(f"- **Not every method ran to 100 x on every seed.** {cap_text}: these start "
          "hundreds to thousands of trials per run, and Optuna's TPE costs more per trial "
          "as trials accumulate, so at 100 x they would need several CPU-hours (measured "
          "costs below); they ran to their cap on every other seed. The tables say which "
          "seeds each number uses.")
    w("")
    w("| family | tasks | max resource (steps) | budget per run | workers |")
    w("|---|---:|---:|---|---:|")
    for fam, label in scopes[:-1]:
        recs = [problems[p] for p in stats.family_problems(fam)]
        steps = sorted({r["max_steps"] for r in recs})
        budgets = sorted({r["budget"] for r in recs})
        workers = sorted({r["workers"] for r in recs})
        w(f"| {label} | {len(recs)} | {', '.join(map(str, steps))} | "
          f"{', '.join(f'{b:,}' for b in budgets)} steps (100 x) | "
          f"{', '.join(map(str, workers))} |")
    w("")
    names = ", ".join(f"`{p}`" for p in problems)
    w(f"Tasks: {names}.")
    w("")
    w("**Budgets.** Every method gets the same budget in *consumed steps* (epochs for "
      "lcbench, fidelity steps for Hartmann): each step a trial runs counts once, "
      "including the steps of trials stopped early; a paused trial that resumes continues "
      "from its checkpoint (only new steps count); Optuna's pruned trials count the steps "
      "they ran. No trial starts or resumes once the budget is spent; trials already "
      "running finish, and results that arrive past a budget do not count at it. Regret "
      "at 5, 10, 20 and 50 x is read off the same run as 100 x (no method knows the "
      "budget, so this equals a run stopped there).")
    w("")
    w("**Incumbent (the same for every method).** The best configuration *trained to full "
      "fidelity* so far: only a trial's value at the maximum resource (epoch 52, fidelity "
      "step 100) can become the incumbent, at the moment (consumed steps) it arrives. A "
      "trial stopped, pruned or paused at a lower rung never counts, however good its "
      "value there. Before the first full-fidelity result the regret is 1. Normalized "
      "regret is `|incumbent - optimum| / |worst - optimum|` clipped to [0, 1] (optimum "
      "and worst per task as in `benchmarks/problems/`: lcbench, the best and worst of "
      "32,768 fixed Sobol configurations; Hartmann, its known minimum and a 0.95 "
      "quantile). *Overall* pools every (task, seed) of both families, so lcbench "
      "(10 tasks) weighs more than Hartmann.")
    w("")
    w("### Methods")
    w("")
    w("| method | what |")
    w("|---|---|")
    for m in stats.methods:
        w(f"| {m} | {descriptions.get(m, '')} |")
    w("")
    tpe_mf = [f"`{m}`" for m in ("tunelab-bohb", "tunelab-tpe-asha") if m in stats.methods]
    w("tunelab's scheduler methods use `RandomSearcher(seed)` as the searcher (they differ "
      "only in the scheduler, and so share trial n's configuration)"
      + (f", except {' and '.join(tpe_mf)}, whose TPE is fitted on the largest resource "
         "with enough results (BOHB)" if tpe_mf else "") + ". `tunelab-random` "
      + ("and `tunelab-tpe` run" if "tunelab-tpe" in stats.methods else "is random search")
      + " at full fidelity (no scheduler); `optuna-random` "
      "and `optuna-tpe` are Optuna's samplers without a pruner. Peers are at their "
      "defaults except as noted:")
    w("")
    for note in data.get("peer_notes", [])[:1]:
        w(f"- {note}")
    w("- Optuna's pruned trials are told as PRUNED and stay in the sampler's history "
      "(TPE uses them, as by default). Nothing else departs from the defaults.")
    w("")
    if failed:
        w("### Failed runs")
        w("")
        for r in failed[:20]:
            w(f"- {r['method']} on {r['problem']} seed {r['seed']}: `{r['error']}`")
        w("")

    # goal
    w("## Goal check")
    w("")
    w("The goal: tunelab's best multi-fidelity method has a lower mean normalized regret "
      "than Optuna's best (sampler, pruner) pair at every budget from 5 x to 100 x. "
      "\"Best\" is chosen at each budget on each side, among "
      f"{', '.join(m for m in TUNELAB_MF if m in stats.methods)} (tunelab) and "
      f"{', '.join(m for m in OPTUNA_PAIRS if m in stats.methods)} (Optuna). "
      "*Difference* is tunelab's best minus Optuna's best (negative: tunelab lower), "
      "paired by (task, seed), with a 95% bootstrap interval; *W/L* counts the (task, "
      "seed) cells where tunelab's regret is lower / higher.")
    w("")
    for fam, label in [sc for sc in scopes if scope_capped[sc[0]]]:
        direct, full_text = scope_direct[fam], _span(scope_full[fam])
        beyond = [m for m in MULTIPLES if m not in direct]
        w(f"{label} rows at {', '.join(f'{m}x' for m in direct)} use all "
          f"{len(all_seeds)} seeds, every method having run there. At "
          f"{', '.join(f'{m}x' for m in beyond)} two checks: (a) seeds {full_text}, where "
          "every method ran to 100 x: a direct but small comparison; (b) all seeds, each "
          "capped run's regret at its cap standing in for the missing budgets: regret "
          "never rises with the budget, so that is an upper bound on the pair's regret "
          "there. With (b), tunelab higher than the bound is a conclusive **no**; lower "
          "is marked *vs bound only* (not proven). Scopes not named here ran every "
          "method to 100 x on every seed: all their rows use all seeds.")
        w("")
    w("| scope | budget | seeds | tunelab best | mean | Optuna best | mean "
      "| difference [95% CI] | W/L | met |")
    w("|---|---:|---|---|---:|---|---:|---|---:|:---:|")
    summary: dict[str, list[str]] = {}
    n_all = f"all {len(all_seeds)}"
    for fam, label in scopes:
        direct, full_seeds = scope_direct[fam], scope_full[fam]
        beyond = [m for m in MULTIPLES if m not in direct]
        full_text = _span(full_seeds)
        rows = goal_check(stats, fam, multiples=direct)
        _goal_rows(w, label, rows, n_all)
        verdicts = {r["multiple"]: r["verdict"] for r in rows}
        if beyond:
            sub = goal_check(stats, fam, seeds=full_seeds, multiples=beyond)
            _goal_rows(w, label, sub, f"(a) {full_text}")
            bound = goal_check(stats, fam, carry=True, multiples=beyond)
            _goal_rows(w, label, bound, f"(b) {n_all}")
            for r in sub:
                b = next((x for x in bound if x["multiple"] == r["multiple"]), None)
                if b is not None and b["verdict"] == "no":
                    verdicts[r["multiple"]] = "no"
                elif r["verdict"] == "no":
                    verdicts[r["multiple"]] = "no (seeds " + full_text + ")"
                else:
                    verdicts[r["multiple"]] = "yes (seeds " + full_text + " only)"
        summary[label] = [f"{m}x: {v}" for m, v in verdicts.items()]
    w("")
    for label, items in summary.items():
        verdicts_only = [i.split(": ", 1)[1] for i in items]
        if any(v.startswith("no") for v in verdicts_only):
            head = "**not met**"
        elif all(v == "yes" for v in verdicts_only):
            head = "met at every budget"
        else:
            head = "met where checked, not established on every seed at every budget"
        w(f"- **{label}**: goal {head} — " + "; ".join(items) + ".")
    w("")
    _context_line(w, stats, scopes)

    # regret tables
    w("## Normalized regret by budget")
    w("")
    w(f"Mean (median) normalized regret over tasks and all {len(all_seeds)} seeds, at each "
      "budget; lower is better; bold: the lowest mean in the column."
      + (" — : the method did not run there on every seed (capped)." if capped else ""))
    w("")
    for fam, label in scopes:
        probs = stats.family_problems(fam)
        w(f"### {label}")
        w("")
        _regret_tables(w, stats, probs, None)
        slug = "overall" if fam is None else fam.replace("/", "-")
        path = img / f"multi-fidelity-{slug}.png"
        _plot_family(stats, fam, f"{label}: mean normalized regret (all runs; capped "
                     "methods end at their cap) and average rank", path)
        w(f"![{label}: regret and rank vs budget](img/{path.name})")
        w("")
    for fam, label in [*capped_families, *([(None, "overall")] if capped_families else [])]:
        full_seeds = scope_full[fam]
        if not full_seeds:
            continue
        probs = stats.family_problems(fam)
        full_text = _span(full_seeds)
        w(f"## Every method to 100 x, {label}: seeds {full_text}")
        w("")
        w(f"The same tables on the seeds where every method ran to 100 x ("
          f"{len(full_seeds)} seeds x {len(probs)} tasks): small samples, for the "
          "budgets above the cap.")
        w("")
        _regret_tables(w, stats, probs, full_seeds)

    # per task
    w("## Per task")
    w("")
    for mult in (10, 100):
        j = MULTIPLES.index(mult)
        w(f"Mean normalized regret per task at {mult} x (all seeds; — : capped):")
        w("")
        w("| task | " + " | ".join(stats.methods) + " |")
        w("|---|" + "---:|" * len(stats.methods))
        for p in problems:
            cells = []
            for m in stats.methods:
                keys, arr = stats.cells(m, [p])
                ok = bool(keys) and not np.isnan(arr[:, j]).any()
                cells.append(_fmt(float(arr[:, j].mean())) if ok else "—")
            w(f"| {p} | " + " | ".join(cells) + " |")
        w("")

    # work done
    w("## Work done and CPU cost per run")
    w("")
    w("Medians over runs: configurations started, results at full fidelity, simulated "
      "makespan, CPU seconds of the whole run, and CPU per configuration outside "
      "`problem.evaluate` (the tool's own cost). At 100 x: runs that went to 100 x; at the "
      "cap: the capped runs. A curve already evaluated by another method of the same task "
      "and seed is reused, which only changes time spent in `evaluate`.")
    w("")
    w("| family | method | budget | runs | configurations | full-fidelity results "
      "| makespan (sim. h) | CPU s/run | overhead ms/config |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for fam, label in scopes[:-1]:
        for m in stats.methods:
            by_budget: dict[int, list[Mapping[str, Any]]] = {}
            for r in runs:
                rec = problems[r["problem"]]
                if (r["method"] == m and r["status"] == "ok" and rec["family"] == fam
                        and r["workers"] == rec["workers"]):
                    mult = int(r["budget"]) // int(rec["max_steps"])
                    by_budget.setdefault(mult, []).append(r)
            for mult, rs in sorted(by_budget.items(), reverse=True):
                w(f"| {label} | {m} | {mult}x | {len(rs)} | "
                  f"{_fmt(float(np.median([r['configs'] for r in rs])))} | "
                  f"{_fmt(float(np.median([r['full_evals'] for r in rs])))} | "
                  f"{_fmt(float(np.median([r['seconds'] for r in rs])) / 3600)} | "
                  f"{_fmt(float(np.median([r['cpu_total_s'] for r in rs])))} | "
                  f"{_fmt(float(np.median([r['overhead_ms'] or 0.0 for r in rs])))} |")
    w("")

    # utilization
    w("## Worker utilization")
    w("")
    w("From each run's event log on the virtual clock (runs to 100 x only): a trial "
      "occupies a worker from its start (or resume) to its end (or pause). *Utilization* "
      "= busy worker-seconds / (workers x makespan), the makespan running from 0 to the "
      "last trial's end; mean, median and minimum over runs, and how many runs are below "
      "95%. Each run is split at the moment the step budget runs out: *before* is the "
      "utilization up to that moment (trials may start or resume), *idle before* / *idle "
      "in tail* the shares of workers x makespan left idle before / after it (after it "
      "no trial starts or resumes; running ones finish), *tail* the share of the makespan "
      "after it.")
    w("")
    w("| family | method | workers | runs | configurations | utilization mean | median "
      "| min | runs < 95% | before budget-out | idle before | idle in tail | tail |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    util_rows = _utilization_rows(data)
    for row in util_rows:
        label = _FAMILY_NAMES.get(row["family"], row["family"])
        w(f"| {label} | {row['method']} | {row['workers']} | {row['runs']} | "
          f"{_fmt(row['configs'])} | {row['util_mean'] * 100:.2f}% | "
          f"{row['util_median'] * 100:.2f}% | {row['util_min'] * 100:.2f}% | "
          f"{row['below95']} | {row['before_mean'] * 100:.2f}% | "
          f"{row['idle_before'] * 100:.2f}% | {row['idle_tail'] * 100:.2f}% | "
          f"{row['tail_share'] * 100:.2f}% |")
    w("")
    asha = [r for r in util_rows if r["method"] == "tunelab-asha"]
    if asha:
        w("**Goal: utilization >= 95% with ASHA (promotion).** Two readings. *Run to the "
          "end* (the runs above: trials running at budget-out finish, and that tail's work "
          "never counts at any budget): " + "; ".join(
            f"{_FAMILY_NAMES.get(r['family'], r['family'])}, {r['workers']} workers: mean "
            f"{r['util_mean'] * 100:.1f}% ({'met' if r['util_mean'] >= 0.95 else 'NOT met'}; "
            f"median {r['util_median'] * 100:.1f}%, {r['below95']} of {r['runs']} runs "
            "below 95%)" for r in asha) + ". *Hard budget end* "
          "(`SimulatedExecutor(step_budget=..., at_budget=\"stop\")`: running trials stop "
          "when the budget is spent; every event before that moment is the same — "
          "tests/test_simulated.py checks it — so the run's utilization is the *before "
          "budget-out* column): " + "; ".join(
            f"{_FAMILY_NAMES.get(r['family'], r['family'])}, {r['workers']} workers: "
            f"{r['before_mean'] * 100:.1f}% "
            f"({'met' if r['before_mean'] >= 0.95 else 'NOT met'})" for r in asha) + ".")
        w("")
    _straggler_section(w, data)
    extra = data.get("notes", [])
    if extra:
        w("## Notes")
        w("")
        for note in extra:
            w(f"- {note}")
        w("")
    path = out / "multi-fidelity.md"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path

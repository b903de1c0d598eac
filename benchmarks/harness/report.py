"""The markdown report and PNG plots of a results file (``docs/benchmarks/search-<suite>.md``).

Everything here reads the saved data only, so ``python -m benchmarks.report --data FILE``
rebuilds the report without rerunning anything.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.metrics import (
    GRID_FRACTIONS,
    TARGETS,
    ProblemStats,
    finite_median,
    summarize,
)

__all__ = ["family_table", "write_any_report", "write_report"]

REGRET_FLOOR = 1e-6
_SHORT = {"evaluations": "evals", "steps": "steps"}


# --------------------------------------------------------------------------- numbers


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == 0:
        return "0"
    if abs(x) < 10 ** -(digits - 1) or abs(x) >= 10**5:
        return f"{x:.{max(digits - 1, 1)}e}"
    return f"{x:.{digits}g}"


def family_table(stats: Sequence[ProblemStats]) -> list[dict[str, Any]]:
    """One row per method, aggregated over the family's problems and seeds."""
    methods: list[str] = []
    for ps in stats:
        for m in ps.methods:
            if m not in methods:
                methods.append(m)
    rows = []
    for m in methods:
        finals, aucs, ranks, overhead, at_time, trials = [], [], [], [], [], []
        ttt: dict[float, list[float | None]] = {t: [] for t in TARGETS}
        n_problems = 0
        for ps in stats:
            s = ps.methods.get(m)
            if s is None:
                continue
            n_problems += 1
            finals += list(s.final)
            aucs += list(s.auc)
            if s.ranks is not None:
                ranks += list(s.ranks[:, -1])
            overhead += s.overhead_ms
            trials += s.trials
            if s.regret_at_time is not None:
                at_time += list(s.regret_at_time)
            for t in TARGETS:
                ttt[t] += [None if v is None else v / ps.budget for v in s.ttt[t]]
        finals_a = np.array(finals)
        q1, q2, q3 = np.percentile(finals_a, [25, 50, 75])
        rows.append({
            "method": m,
            "problems": n_problems,
            "runs": len(finals),
            "mean_final": float(finals_a.mean()),
            "median_final": float(q2),
            "q1_final": float(q1),
            "q3_final": float(q3),
            "auc": float(np.mean(aucs)),
            "rank": float(np.mean(ranks)) if ranks else None,
            "ttt": {t: finite_median(v) for t, v in ttt.items()},
            "ttt_reached": {t: sum(x is not None for x in v) / len(v) for t, v in ttt.items()},
            "partial": n_problems < len(stats),
            "seeds": round(len(finals) / max(n_problems, 1)),
            "overhead_ms": float(np.median(overhead)) if overhead else None,
            "regret_at_time": float(np.median(at_time)) if at_time else None,
            "trials": float(np.median(trials)) if trials else None,
        })
    rows.sort(key=lambda r: (r["partial"], math.inf if r["rank"] is None else r["rank"],
                             r["mean_final"]))
    return rows


# --------------------------------------------------------------------------- plots


_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#843c39", "#000000")
_STYLES = {"tunelab": "-", "optuna": "--", "smac": ":"}


def _colors(methods: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per method (its place in the registry), so plots agree."""
    from benchmarks.harness.methods import METHODS

    known = list(METHODS)
    return {m: _PALETTE[(known.index(m) if m in known else i) % len(_PALETTE)]
            for i, m in enumerate(methods)}


def _style(method: str) -> str:
    return _STYLES.get(method.split("-", 1)[0], "-.")


def _plot_family(
    stats: Sequence[ProblemStats], colors: Mapping[str, Any], title: str, path: Path
) -> None:
    import matplotlib.pyplot as plt

    n = len(stats)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows + 0.8),
                             squeeze=False)
    handles: dict[str, Any] = {}
    for ax, ps in zip(axes.flat, stats, strict=False):
        for m, s in ps.methods.items():
            curve = np.maximum(s.curve, REGRET_FLOOR)
            q1, med, q3 = np.percentile(curve, [25, 50, 75], axis=0)
            (line,) = ax.plot(ps.grid, med, color=colors[m], lw=1.4, ls=_style(m), label=m,
                              drawstyle="steps-post")
            ax.fill_between(ps.grid, q1, q3, color=colors[m], alpha=0.15, lw=0)
            handles[m] = line
        ax.set_yscale("log")
        ax.set_title(ps.problem["name"], fontsize=9)
        unit = _SHORT[ps.problem["budget_unit"]]
        ax.set_xlabel(f"budget ({unit})", fontsize=8)
        ax.set_ylabel("normalized regret", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, which="both", lw=0.4)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    legend_cols = min(len(handles), max(3, 2 * ncols))
    legend_rows = math.ceil(len(handles) / max(legend_cols, 1))
    fig.legend(list(handles.values()), list(handles), loc="lower center",
               ncol=legend_cols, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    bottom = (0.2 * legend_rows + 0.2) / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_ranks(
    stats: Sequence[ProblemStats], colors: Mapping[str, Any], title: str, path: Path
) -> None:
    import matplotlib.pyplot as plt

    per_method: dict[str, list[np.ndarray]] = {}
    for ps in stats:
        for m, s in ps.methods.items():
            if s.ranks is not None:
                per_method.setdefault(m, []).append(s.ranks)
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for m, blocks in per_method.items():
        ax.plot(GRID_FRACTIONS * 100, np.concatenate(blocks).mean(axis=0), color=colors[m],
                lw=1.4, ls=_style(m), label=m)
    ax.set_xlabel("budget (% of the problem's budget)")
    ax.set_ylabel("average rank (lower is better)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, lw=0.4)
    ax.legend(fontsize=7, ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --------------------------------------------------------------------------- markdown


def _family_order(data: Mapping[str, Any]) -> list[str]:
    order: list[str] = []
    for p in data["problems"]:
        if p["family"] not in order:
            order.append(p["family"])
    return order


def _ttt_cell(row: Mapping[str, Any], target: float) -> str:
    med, reached = row["ttt"][target], row["ttt_reached"][target]
    head = f"{med * 100:.0f}%" if med is not None else "—"
    return f"{head} ({reached * 100:.0f}%)"


def write_report(
    data: Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    data_path: str | None = None,
) -> Path:
    """Write ``search-<suite>.md`` and its plots under ``out_dir`` (plots in ``img/``)."""
    out = Path(out_dir)
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    suite = data["suite"]
    meta = data["meta"]
    stats = summarize(data)
    order = list(data["method_order"])
    colors = _colors(order)
    problems_by_family: dict[str, list[ProblemStats]] = {}
    for p in data["problems"]:
        if p["name"] in stats:
            problems_by_family.setdefault(p["family"], []).append(stats[p["name"]])
    families = [f for f in _family_order(data) if f in problems_by_family]
    runs = data["runs"]
    failed = [r for r in runs if r["status"] != "ok"]

    lines: list[str] = []
    w = lines.append
    w(f"# Search benchmark: the `{suite}` suite")
    w("")
    w("tunelab's searchers next to Optuna and SMAC3 on the same problems, budgets and "
      "simulated workers. Generated by the harness in `benchmarks/harness/` "
      "(see `benchmarks/README.md`); do not edit by hand.")
    w("")
    w("## How this was run")
    w("")
    if meta.get("suite_description"):
        w(f"- Suite: {meta['suite_description']}")
    w(f"- Command: `{meta['command']}`")
    rebuild = data_path or f"docs/benchmarks/data/search-{suite}.json.gz"
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
        took = f"{wall / 60:.1f} min" if wall >= 120 else f"{wall:.1f} s"
        resumed = int(meta.get("resumed_runs") or 0)
        span = (f"the last {len(runs) - resumed} of {len(runs)} runs (the rest from the "
                "`--resume` journal)" if resumed else f"{len(runs)} runs")
        w(f"- Wall time: {took} for {span} with `--jobs {meta.get('jobs')}`")
    seeds = meta.get("seeds", [])
    w(f"- Seeds: {len(seeds)} per (method, problem): "
      f"{seeds[0] if seeds else ''}..{seeds[-1] if seeds else ''}. The n-th evaluation "
      "of every method uses the same evaluation seed (common random numbers).")
    w("")
    w("**Budgets and workers.** Black-box problems (one step) are budgeted in evaluations; "
      "multi-fidelity problems in consumed resource (steps: epochs, rounds...), written "
      "below as full-fidelity evaluations x steps. No trial starts once the budget is "
      "spent; trials already running finish, and every metric is read off the trace at "
      "the budget. The simulated seconds of multi-fidelity problems are the recorded (or "
      "modelled) cost of each step, on a virtual clock with N simulated workers; real "
      "problems (PMLB) train for real with one worker.")
    w("")
    w("| family | problems | budget | unit | workers |")
    w("|---|---:|---|---|---:|")
    for fam in families:
        recs = [s.problem for s in problems_by_family[fam]]
        budgets = sorted({(p["budget"], p["max_steps"], p["budget_unit"]) for p in recs})
        text = ", ".join(
            f"{b}" if steps <= 1 else f"{b // steps} x {steps} = {b}" for b, steps, _ in budgets
        )
        units = sorted({p["budget_unit"] for p in recs})
        workers = sorted({p["workers"] for p in recs})
        w(f"| {fam} | {len(recs)} | {text} | {', '.join(units)} | "
          f"{', '.join(map(str, workers))} |")
    w("")
    if data.get("incumbent", "last") == "full":
        incumbent = ("only results at full fidelity count: a trial's value at its last "
                     "step (`max_steps`); trials stopped or paused earlier never become the "
                     "best so far (1 before the first full-fidelity result)")
    else:
        incumbent = ("a trial's value is its metric at the last step it ran (stopped trials "
                     "included)")
    w("**Metrics.** Normalized regret of the best value so far, "
      "`|best - optimum| / |worst - optimum|` clipped to [0, 1] (1 before the first "
      f"result); {incumbent}. *AUC*: area under the regret curve over [0, budget], divided by the "
      "budget (0 = optimal at once, 1 = no progress). *Rank*: methods ranked per problem, "
      "seed and budget point (ties share the average rank), then averaged; shown at the "
      "full budget. *TTT r*: the budget (as % of the problem's budget) at which regret "
      "first reaches <= r, median over problems and seeds (— when fewer than half reach "
      "it), and in brackets the share of runs that reach it. *Overhead*: CPU time of the "
      "run minus CPU time inside `problem.evaluate`, per trial, median over runs. "
      "Multi-fidelity tables add *regret @ T*: median regret once T simulated seconds "
      "have passed, T being the shortest median run time among the methods.")
    w("")
    w("### Methods")
    w("")
    w("| method | tool | what |")
    w("|---|---|---|")
    for m in data["methods"]:
        w(f"| {m['name']} | {m['tool']} | {m['description']} |")
    w("")
    for note in data.get("peer_notes", []):
        w(f"- {note}")
    w("")
    _write_skipped(w, data)
    if failed:
        w("### Failed runs")
        w("")
        for r in failed[:30]:
            w(f"- {r['method']} on {r['problem']} seed {r['seed']}: `{r['error']}`")
        if len(failed) > 30:
            w(f"- ... and {len(failed) - 30} more")
        w("")

    # overview
    tables = {fam: family_table(problems_by_family[fam]) for fam in families}
    w("## Overview: average rank at the full budget")
    w("")
    w("Lower is better; ranks are among the methods that ran on each problem, so compare "
      "within a column. \\* marks a method run on only some of the family's problems "
      "(see *Left out*): its average is over those problems only.")
    w("")
    w("| method | " + " | ".join(families) + " |")
    w("|---|" + "---:|" * len(families))
    for m in order:
        cells = []
        for fam in families:
            row = next((r for r in tables[fam] if r["method"] == m), None)
            if row is None or row["rank"] is None:
                cells.append("")
            else:
                cells.append(_fmt(row["rank"], 3) + ("\\*" if row["partial"] else ""))
        if any(cells):
            w(f"| {m} | " + " | ".join(cells) + " |")
    w("")

    for fam in families:
        fam_stats = problems_by_family[fam]
        mf = any(ps.axis == "steps" for ps in fam_stats)
        w(f"## {fam}")
        w("")
        names = ", ".join(f"`{ps.problem['name']}`" for ps in fam_stats)
        w(f"Problems ({len(fam_stats)}): {names}.")
        w("")
        head = ("| method | problems x seeds | mean final regret | median [IQR] | AUC | rank | "
                + " | ".join(f"TTT {t:g}" for t in TARGETS)
                + (" | regret @ T | trials" if mf else "")
                + " | overhead ms/trial |")
        w(head)
        w("|---|---:|---:|---|---:|---:|" + "---:|" * len(TARGETS)
          + ("---:|---:|" if mf else "") + "---:|")
        for row in tables[fam]:
            cells = [
                row["method"] + ("\\*" if row["partial"] else ""),
                f"{row['problems']}/{len(fam_stats)} x {row['seeds']}",
                _fmt(row["mean_final"]),
                f"{_fmt(row['median_final'])} [{_fmt(row['q1_final'])}, "
                f"{_fmt(row['q3_final'])}]",
                _fmt(row["auc"]),
                _fmt(row["rank"]),
                *(_ttt_cell(row, t) for t in TARGETS),
            ]
            if mf:
                cells += [_fmt(row["regret_at_time"]), _fmt(row["trials"])]
            cells.append(_fmt(row["overhead_ms"]))
            w("| " + " | ".join(cells) + " |")
        if any(r["partial"] for r in tables[fam]):
            w("")
            w("\\* run on only some problems of this family: its row aggregates those "
              "problems only, compare it in the per-problem table below.")
        w("")
        # per-problem matrix of median final regret
        fam_methods = [r["method"] for r in tables[fam]]
        w("Median final regret per problem:")
        w("")
        w("| problem | " + " | ".join(fam_methods) + " |")
        w("|---|" + "---:|" * len(fam_methods))
        for ps in fam_stats:
            cells = []
            for m in fam_methods:
                s = ps.methods.get(m)
                cells.append(_fmt(float(np.median(s.final))) if s is not None else "")
            w(f"| {ps.problem['name']} | " + " | ".join(cells) + " |")
        w("")
        slug = fam.replace("/", "-")
        curves = img / f"search-{suite}-{slug}.png"
        ranks = img / f"search-{suite}-{slug}-rank.png"
        _plot_family(fam_stats, colors,
                     f"{fam}: median normalized regret (quartile bands), {suite} suite", curves)
        _plot_ranks(fam_stats, colors, f"{fam}: average rank over the budget", ranks)
        w(f"![{fam}: median regret vs budget](img/{curves.name})")
        w("")
        w(f"![{fam}: average rank vs budget](img/{ranks.name})")
        w("")
    if suite.startswith("model"):
        from benchmarks.harness.model_report import goal_section

        lines.extend(goal_section(data, stats))
    path = out / f"search-{suite}.md"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path


def write_any_report(
    data: Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    data_path: str | None = None,
) -> Path:
    """The report a results file asks for: the search report, or the multi-fidelity one."""
    if data.get("report", "search") == "multi-fidelity":
        from benchmarks.harness.mf_report import write_mf_report

        return write_mf_report(data, out_dir, data_path=data_path)
    return write_report(data, out_dir, data_path=data_path)


def _write_skipped(w: Any, data: Mapping[str, Any]) -> None:
    skipped = data["skipped"]
    missing = data.get("missing_families", {})
    if not skipped and not missing:
        return
    w("### Left out")
    w("")
    for fam, reason in missing.items():
        w(f"- Family **{fam}**: not run ({reason}).")
    for entry in skipped:
        if entry["kind"] == "not installed":
            w(f"- **{entry['method']}**: not installed here. {entry['reason']}.")
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for entry in skipped:
        if entry["kind"] != "not installed":
            key = (entry["method"], entry["kind"], entry["reason"])
            grouped.setdefault(key, []).append(entry["problem"])
    for (method, kind, reason), probs in grouped.items():
        shown = ", ".join(f"`{p}`" for p in probs[:6]) + (
            f" and {len(probs) - 6} more" if len(probs) > 6 else "")
        w(f"- **{method}**: {kind} on {len(probs)} problem(s) ({shown}): {reason}.")
    w("")

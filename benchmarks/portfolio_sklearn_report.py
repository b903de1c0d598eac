"""Writes docs/benchmarks/portfolio-sklearn.md (``python -m benchmarks.portfolio_sklearn
evaluate``)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from benchmarks.portfolio_sklearn import JOURNAL, REPORT, TPE_BUDGET
from benchmarks.portfolio_sklearn_eval import COLUMNS, _fmt
from benchmarks.portfolio_sklearn_models import (
    DUPLICATES,
    HOLD_OUT_EVERY,
    MAX_FEATURES,
    MAX_ROWS,
    MAX_SOURCE_ROWS,
    MIN_CLASS_ROWS,
    MIN_ROWS,
    datasets,
)

PF5, RND5, RND50, TPE50 = 2, 4, 6, 9
EXTRA = 24  # ``collect --extra``: random draws run on the held-out datasets only


def _mean(table: list[list[float]]) -> list[float]:
    arr = np.asarray(table, dtype=float)
    return [float(np.nanmean(arr[:, j])) if np.isfinite(arr[:, j]).any() else float("nan")
            for j in range(arr.shape[1])]


def _row(label: str, cells: list[float], digits: int = 4) -> str:
    return f"| {label} | " + " | ".join(_fmt(c, digits) for c in cells) + " |"


def _space_text(space: dict[str, Any]) -> str:
    parts = []
    for name, p in space.items():
        if p["type"] == "categorical":
            parts.append(f"`{name}` in {json.dumps(p['choices'])}")
        else:
            log = ", log" if p.get("log") else ""
            parts.append(f"`{name}` {p['type']} [{p['low']}, {p['high']}{log}]")
    return "; ".join(parts)


def write_report(results: dict[str, dict[str, Any]], journal: list[dict[str, Any]]) -> None:
    build, held = datasets()
    cpu = sum(r.get("seconds", 0.0) for r in journal)
    head = ("| model | " + " | ".join(COLUMNS) + " |\n|---|" + "---:|" * len(COLUMNS))
    seeds = sorted({r["tpe_seeds"] for res in results.values() for r in res["rows"]})
    n_rand = min((r["randoms"] for res in results.values() for r in res["rows"]), default=0)
    pool_n = n_rand - EXTRA
    lines = [
        "# Built-in scikit-learn portfolios: held-out evaluation",
        "",
        "Portfolios for five scikit-learn classifiers, learned from real training runs on "
        "PMLB datasets (Olson et al. 2017, read from `/work/shared/data/pmlb`), shipped as "
        "`src/tunelab/portfolio/builtin/<model>.yaml` (`tunelab.portfolio.builtin(name)`, "
        "`builtin_space(name)`), and evaluated on PMLB datasets that never influenced them.",
        "",
        "## Use",
        "",
        "```python",
        "from sklearn.ensemble import HistGradientBoostingClassifier",
        "from tunelab import PortfolioSearcher, Study",
        "from tunelab.portfolio import builtin, builtin_space",
        "",
        "space = builtin_space(\"hist_gradient_boosting\")  # parameters named as the "
        "estimator's",
        "searcher = PortfolioSearcher(builtin(\"hist_gradient_boosting\"), then=\"tpe\")"
        "  # 10, then TPE",
        "study = Study(\"hgb\", space, searcher=searcher, direction=\"max\")",
        "study.optimize(lambda c: cross_val_score(HistGradientBoostingClassifier(**c), X, "
        "y).mean(), n_trials=30)",
        "```",
        "",
        "`mlp` has two parameters that are not `MLPClassifier`'s own: `hidden_layer_sizes = "
        "(width,) * layers`. `tunelab portfolio list` shows the built-ins; `tunelab "
        "portfolio export NAME -o FILE --space SPACE.yaml` writes one for `tunelab run "
        "--portfolio FILE --space SPACE.yaml`.",
        "",
        "## Commands",
        "",
        "```",
        "OMP_NUM_THREADS=1 python -m benchmarks.portfolio_sklearn collect --candidates "
        f"{pool_n} --extra {EXTRA} --tpe-seeds {max(seeds) if seeds else 0}",
        "python -m benchmarks.portfolio_sklearn build --k 10",
        "python -m benchmarks.portfolio_sklearn evaluate",
        "```",
        "",
        f"`collect` appends every fit to `{JOURNAL.relative_to(JOURNAL.parents[2])}` "
        f"({len(journal)} fits, {cpu / 60:.0f} CPU minutes on one core) and resumes from it; "
        "`build` and `evaluate` only read it (seconds).",
        "",
        "## Setup",
        "",
        f"- **Datasets** (fixed rule): PMLB classification datasets with {MIN_ROWS} to "
        f"{MAX_SOURCE_ROWS:,} rows and at most {MAX_FEATURES} features, less "
        f"{len(DUPLICATES)} duplicates or siblings of a kept dataset (same data under "
        "another name, or the same source with another feature set or target: "
        f"{', '.join(sorted(DUPLICATES, key=str.lower))}), so that no held-out dataset has a "
        f"twin among the building ones. Sorted by name (case-insensitive), every "
        f"{HOLD_OUT_EVERY}th from the first is held out.",
        f"- **Building datasets** ({len(build)}): {', '.join(build)}.",
        f"- **Held-out datasets** ({len(held)}), never used to build or tune anything: "
        f"{', '.join(held)}.",
        f"- **Metric**: balanced accuracy on one fixed stratified 1/3 validation split "
        f"(seed 0); classes with fewer than {MIN_CLASS_ROWS} rows are dropped and larger "
        f"datasets subsampled to {MAX_ROWS} rows (stratified, seed 0) to fit the compute "
        "budget; models' `random_state` 0; one thread. MLP, SVC and logistic regression "
        "see standardized features (a `StandardScaler` fitted on the training part).",
        "- **Candidates** (per model): the library default when it lies in the space (MLP, "
        f"logistic regression), then {pool_n} random configurations of the space "
        "(`Space.sample`, seed 0), each trained on every dataset. The portfolio is chosen "
        "from the building datasets' results only.",
        "- **Portfolio**: `tunelab.portfolio.build_portfolio` (greedy, mean normalized "
        "regret), k = 10. The pool size (a prefix of the pool: 20, 40, ... random "
        "candidates) and the per-dataset regret normalization (`range` or `median`) are "
        "chosen per model by 5-fold cross-validation over the *building* datasets "
        "(`tunelab.portfolio.cross_validate`: mean regret, on the left-out building "
        "datasets, of the first 5 configurations, measured against the whole pool).",
        "- **Library default**: the estimator with scikit-learn's defaults "
        "(HistGradientBoosting with `early_stopping=False`, which is what 'auto' means at "
        "these sizes).",
        f"- **Random search** at n evaluations: the expected best of n configurations "
        f"drawn without replacement from {n_rand} random draws of the space evaluated on "
        f"that dataset (the pool's {pool_n} plus {n_rand - pool_n} more, seed 1), computed "
        "exactly over all "
        "subsets -- an unbiased estimate of the best of n independent random "
        "configurations.",
        f"- **TPE**: tunelab's `TPESearcher` with real fits, {TPE_BUDGET} evaluations per "
        f"run, seeds {', '.join(f'0..{s - 1}' for s in seeds)} per dataset (mean of the "
        "best of the first 5, 20, 50).",
        "- **Normalized regret** on a dataset: `(best - x) / (best - chance)`, where best is "
        "the best balanced accuracy any method reached for that model on that dataset and "
        "chance = 1 / number of classes (the balanced accuracy of a constant prediction); "
        "lower is better, 0 = the best found.",
        "",
        "## Average over the held-out datasets: normalized regret (lower is better)",
        "",
        head,
    ]
    means = {}
    for name, res in results.items():
        means[name] = (_mean(res["regret"]), _mean(res["acc"]))
        lines.append(_row(name, means[name][0]))
    lines.append(_row("**all models**", _mean([m[0] for m in means.values()])))
    lines += ["", "## Average over the held-out datasets: balanced accuracy (higher is "
              "better)", "", head]
    for name in results:
        lines.append(_row(name, means[name][1]))
    lines.append(_row("**all models**", _mean([m[1] for m in means.values()])))
    lines += ["", "## The goal", "",
              "Goal: the portfolio's first 5 beat random search with 5 and match random "
              "search with 50 on average (normalized regret).", "",
              "| model | portfolio 5 | random 5 | beats random 5 | random 50 | matches random "
              "50 | datasets where portfolio 5 >= random 50 | portfolio 5 vs TPE 50 |",
              "|---|---:|---:|---|---:|---|---:|---:|"]
    for name, res in results.items():
        reg = means[name][0]
        wins = sum(1 for r in res["acc"] if r[PF5] >= r[RND50] - 1e-12)
        lines.append(
            f"| {name} | {reg[PF5]:.4f} | {reg[RND5]:.4f} | "
            f"{'yes' if reg[PF5] < reg[RND5] else 'NO'} | {reg[RND50]:.4f} | "
            f"{'yes' if reg[PF5] <= reg[RND50] else 'NO'} | {wins} / {len(res['acc'])} | "
            f"{reg[PF5]:.4f} vs {_fmt(reg[TPE50])} |")
    allm = _mean([m[0] for m in means.values()])
    beat = sum(1 for m in means.values() if m[0][PF5] < m[0][RND5])
    match = sum(1 for m in means.values() if m[0][PF5] <= m[0][RND50])
    lines += ["", f"Over all five models: portfolio 5 {allm[PF5]:.4f}, random 5 "
              f"{allm[RND5]:.4f}, random 50 {allm[RND50]:.4f}, TPE 50 {_fmt(allm[TPE50])}. "
              f"The first 5 beat random search with 5 for {beat} of {len(means)} models and "
              f"match random search with 50 for {match} of {len(means)}."]
    lines += ["", "## Per dataset", "",
              "Balanced accuracy (normalized regret in brackets). Portfolio n: the best of "
              "its first n configurations.", ""]
    for name, res in results.items():
        lines += [f"### {name}", "", "| dataset | " + " | ".join(COLUMNS) + " |",
                  "|---|" + "---:|" * len(COLUMNS)]
        for row, acc, reg in zip(res["rows"], res["acc"], res["regret"], strict=True):
            cells = " | ".join(f"{_fmt(a, 3)} ({_fmt(g, 3)})" for a, g in
                               zip(acc, reg, strict=True))
            lines.append(f"| {row['dataset']} | {cells} |")
        lines.append("")
    lines += ["## The portfolios", ""]
    for name, res in results.items():
        f = res["file"]
        meta = f.get("meta", {})
        lines += [
            f"### {name} (`{meta.get('estimator', '')}`)", "",
            f"Space: {_space_text(f['space'])}. {meta.get('notes', '')}.", "",
            f"{len(f['configs'])} configurations from {meta.get('candidates')} candidates on "
            f"{len(f['datasets'])} building datasets; normalization "
            f"`{meta.get('normalize')}` (5-fold CV regret of the first 5 on the building "
            f"datasets, by pool size and normalization: {meta.get('cv_regret_first5')}); "
            "mean normalized regret "
            "(range) on the building datasets after each: "
            + ", ".join(f"{r:.4f}" for r in f["regret"]) + ". First five:", ""]
        lines += [f"{i}. `{json.dumps(c)}`" for i, c in enumerate(f["configs"][:5], 1)]
        lines.append("")
    lines += LIMITS
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")


LIMITS = [
    "## Limits (read before trusting the numbers)",
    "",
    "- **One validation split per dataset, small data.** Datasets are capped at "
    f"{MAX_ROWS} rows, so the validation third has at most 334 rows and balanced accuracy "
    "moves by a few points between configurations by chance alone. Both the portfolio "
    "(chosen on these noisy scores) and the best-of-50 searches (which pick the luckiest "
    "score on the same split they are judged on) are affected; the searches' numbers are "
    "optimistic, the portfolio's are not (it never saw the held-out split).",
    "- **A small candidate pool**: tens of random configurations per model (plus the "
    "default where it is in the space), sized to collect in well under an hour of one CPU "
    "core. On XGBoost (docs/benchmarks/portfolio-xgboost.md) a pool of 4096 instead of 256 "
    "halved the held-out regret of the first 5; a larger pool here would likely help too "
    "(rerun `collect` with a larger `--candidates`; `build` picks the size by "
    "cross-validation).",
    f"- **Few held-out datasets** ({len(datasets()[1])}) and few TPE seeds: the averages "
    "have wide uncertainty; per-dataset rows show where each method wins and loses.",
    "- **The metric is fixed** (balanced accuracy); a portfolio learned for it may not be "
    "the best first guess for log loss or plain accuracy.",
    "- Spaces are deliberately small (5-7 parameters) and in places differ from the "
    "library default (e.g. HistGradientBoosting's `l2_regularization` is searched on a log "
    "scale from 1e-6, so the default 0 is not a member); `MLPClassifier` runs at most 200 "
    "epochs.",
]

"""``build`` and ``evaluate`` of ``benchmarks/portfolio_sklearn.py``: the built-in
scikit-learn portfolios from the journal's building-dataset results, and the held-out
report (docs/benchmarks/portfolio-sklearn.md)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.portfolio_sklearn import (
    BUILTIN,
    METRIC,
    REPORT,
    TPE_BUDGET,
    in_space,
    pool,
    read_journal,
)
from benchmarks.portfolio_sklearn_models import (
    HOLD_OUT_EVERY,
    MAX_ROWS,
    MAX_SOURCE_ROWS,
    MODELS,
    Model,
    datasets,
    load,
    source_rows,
)
from tunelab.portfolio import (
    Portfolio,
    ResultsTable,
    build_portfolio,
    cross_validate,
    judged_regret,
    table_from_records,
)
from tunelab.space import config_key

BUDGETS = (5, 20, 50)
PORTFOLIO_N = (1, 3, 5)
NORMALIZE_OPTIONS = ("range", "median")
#: Random candidates collected first (``collect --candidates``), and the pool sizes
#: (prefixes of the collected pool) that ``build`` chooses among by cross-validation.
MIN_POOL = 40
POOL_SIZES = (20, 40, 80, 160)
METRIC_TEXT = (f"balanced accuracy on a fixed stratified 1/3 validation split (seed 0) of "
               f"the PMLB dataset, subsampled to at most {MAX_ROWS} rows (stratified, "
               "seed 0); model random_state 0; maximised")
METRIC_TEXT_TWO_SPLITS = (f"balanced accuracy on stratified 1/3 validation splits (seeds 0 "
                          f"and 1) of the PMLB dataset, subsampled to at most {MAX_ROWS} rows "
                          "(stratified, seed 0); model random_state 0; maximised")
METRIC_TEXT_THREE_WAY = (f"balanced accuracy of the PMLB dataset, subsampled to at most "
                         f"{MAX_ROWS} rows (stratified, seed 0), split as the held-out "
                         "protocol splits (seed 0): trained on 4/9 of the rows, scored on a "
                         "stratified 2/9 validation part and a 1/3 test part; model "
                         "random_state 0; maximised")
METRIC_TEXT_TWO_FITS = (f"balanced accuracy of the PMLB dataset, subsampled to at most "
                        f"{MAX_ROWS} rows (stratified, seed 0), split as the held-out "
                        "protocol splits (seeds 0 and 1: two fits, each trained on 4/9 of "
                        "the rows and scored by the mean of its 2/9 validation and 1/3 test "
                        "parts); model random_state 0; maximised")
COMMAND_TWO_FITS = ("python -m benchmarks.portfolio_sklearn collect && "
                    "python -m benchmarks.portfolio_sklearn_holdout building && "
                    "python -m benchmarks.portfolio_sklearn_holdout building --split 1 && "
                    "python -m benchmarks.portfolio_sklearn build")
COMMAND_THREE_WAY = ("python -m benchmarks.portfolio_sklearn collect && "
                     "python -m benchmarks.portfolio_sklearn_holdout building && "
                     "python -m benchmarks.portfolio_sklearn build")
COMMAND = ("python -m benchmarks.portfolio_sklearn collect && "
           "python -m benchmarks.portfolio_sklearn build")
COMMAND_WITH_REPLICATE = ("python -m benchmarks.portfolio_sklearn collect && "
                          "python -m benchmarks.portfolio_sklearn replicate && "
                          "python -m benchmarks.portfolio_sklearn build")
CV_TEXT_LARGER = (f"; scored on the building datasets of {MAX_SOURCE_ROWS:,} rows or fewer, "
                  "the larger ones (when used) in every fold's training")
#: The validation split of the building datasets' second measurement (``replicate``).
REPLICATE_SPLIT = 1
#: How a portfolio can be built from the building datasets (see :func:`choose`).
BUILDS = ("table", "mean", "judged")
BUILD_TEXT = {
    "table": "greedy on the validation split 0 results",
    "mean": "greedy on the mean of the validation split 0 and split 1 results",
    "judged": "greedy, each member chosen on one validation split and judged on the other",
}
BUILD_TEXT_THREE_WAY = {
    "table": "greedy on the validation part's results",
    "mean": "greedy on the mean of the validation and test parts' results",
    "judged": "greedy, each member chosen on one part (validation or test) and judged on "
              "the other",
}
BUILD_TEXT_TWO_FITS = {
    "table": "greedy on the seed-0 fit's results",
    "mean": "greedy on the mean of the seed-0 and seed-1 fits' results",
    "judged": "greedy, each member chosen on one fit and judged on the other",
}
CV_TEXT = ("5-fold cross-validation over the building datasets, regret of the best of the "
           "first 5 on split 0")
CV_TEXT_JUDGED = ("5-fold cross-validation over the building datasets; on each left-out "
                  "dataset the member best on one validation split is judged on the other "
                  "(both ways, averaged), as the held-out protocol selects on validation and "
                  "judges on test")


def building_table(model: str, journal: list[dict[str, Any]], split: int = 0
                   ) -> ResultsTable:
    """The ``pool`` results on the building datasets (validation split ``split``): the
    datasets on which the first candidates (default and :data:`MIN_POOL` random ones) all
    ran, and the candidates run on every one of them (a partial collection leaves the rest
    out). Rows keep the pool's order, so a smaller pool is a prefix."""
    build, _ = datasets()
    names = set(build)
    recs = [{"dataset": r["dataset"], "config": r["config"], "value": r[METRIC]}
            for r in journal if r["phase"] == "pool" and r["model"] == model
            and r["dataset"] in names and r.get("split", 0) == split]
    table = table_from_records(recs, direction="max")
    head = len(pool(MODELS[model], MIN_POOL))
    cols = [j for j in range(len(table.datasets))
            if not np.isnan(table.values[:head, j]).any()]
    table = table.subset(cols)
    rows = [i for i in range(len(table.configs)) if not np.isnan(table.values[i]).any()]
    return ResultsTable([table.configs[i] for i in rows], table.datasets,
                        table.values[rows], table.direction)


def three_way_tables(model: str, journal: list[dict[str, Any]], like: ResultsTable,
                     split: int = 0) -> tuple[ResultsTable, ResultsTable] | None:
    """The pool on the building datasets split as the held-out protocol splits (seed
    ``split``; ``portfolio_sklearn_holdout building``): (validation part, test part) as
    two measurements, rows and columns in ``like``'s order (the split-0 building table);
    None unless they cover every cell of ``like``."""
    from benchmarks.portfolio_sklearn_holdout import TEST, VALID

    recs = [r for r in journal if r["phase"] == "pool" and r["model"] == model
            and r["split"] == split]
    valid, test = (_aligned_to(like, table_from_records(
        [{"dataset": r["dataset"], "config": r["config"], "value": r[field]} for r in recs],
        direction="max")) for field in (VALID, TEST))
    return None if valid is None or test is None else (valid, test)


def building_measurements(model: str, table: ResultsTable, journal: list[dict[str, Any]],
                          building3: list[dict[str, Any]]
                          ) -> tuple[ResultsTable, ResultsTable | None, str]:
    """What a portfolio is built from: (measurement, second measurement or None, source).
    With two size-matched fits (:func:`three_way_tables`, seeds 0 and 1) covering
    ``table`` (the split-0 building table), source ``"two_fits"``: each fit's mean of its
    validation and test parts, the seed-0 fit first. With only the seed-0 fit,
    ``"one_fit"``: its validation and test parts. Else ``"splits"``: split 0 with its
    replicate (:func:`replicate_table`) when there is one."""
    first = three_way_tables(model, building3, table, 0)
    if first is None:
        return table, replicate_table(table, journal, model), "splits"
    second = three_way_tables(model, building3, table, 1)
    if second is None:
        return first[0], first[1], "one_fit"
    return (_mean_of(*first), _mean_of(*second), "two_fits")


def _mean_of(a: ResultsTable, b: ResultsTable) -> ResultsTable:
    """The cell-wise mean of two aligned measurements."""
    return ResultsTable(a.configs, a.datasets, (a.values + b.values) / 2, a.direction)


def replicate_table(table: ResultsTable, journal: list[dict[str, Any]], model: str
                    ) -> ResultsTable | None:
    """The second measurement of ``table`` (``replicate``: validation split 1), rows and
    columns in ``table``'s order; None unless it covers every cell of ``table``."""
    return _aligned_to(table, building_table(model, journal, REPLICATE_SPLIT))


def _aligned_to(like: ResultsTable, other: ResultsTable) -> ResultsTable | None:
    """``other``'s values for ``like``'s cells, in ``like``'s order; None unless it has
    every one of them."""
    row = {config_key(c): i for i, c in enumerate(other.configs)}
    col = {d: j for j, d in enumerate(other.datasets)}
    rows = [row.get(config_key(c)) for c in like.configs]
    cols = [col.get(d) for d in like.datasets]
    if any(i is None for i in rows) or any(j is None for j in cols):
        return None
    values = other.values[np.ix_(rows, cols)]
    if np.isnan(values).any():
        return None
    return ResultsTable(like.configs, like.datasets, values, like.direction)


def choose(table: ResultsTable, model: Model, k: int = 5,
           judge: ResultsTable | None = None, larger: Sequence[int] = ()
           ) -> tuple[int, str, str, bool, dict[tuple[Any, ...], float]]:
    """The pool size (random candidates, among :data:`POOL_SIZES` that were collected),
    normalization, way of building (``"table"``: from split 0's results; with the
    replicate ``judge`` also ``"mean"`` of both splits and ``"judged"``: chosen on one,
    judged on the other) and -- with ``judge`` and ``larger`` (columns of the larger
    building datasets) -- whether to build from the larger datasets too, whose
    portfolios' first 5 carry over best across the *building* datasets (5-fold
    cross-validation, regret against the whole table; with ``judge`` each left-out dataset
    is scored as the held-out protocol does: the member best on one split, judged on the
    other). With ``larger`` only the other building datasets are left out and scored; the
    larger ones, when used, are in every fold's training. Ties go to the larger pool,
    then ``"range"``, then the order of :data:`BUILDS`, then without the larger datasets.
    Returns (pool size, normalization, way of building, larger datasets used, every
    setting's score); a score's key is (pool size, normalization, way[, "larger"/"rule"])."""
    offset = 1 if in_space(model) else 0
    sizes = [n for n in POOL_SIZES if n + offset <= len(table.configs)]
    builds = BUILDS if judge is not None else BUILDS[:1]
    scores: dict[tuple[Any, ...], float] = {}
    if judge is None or not larger:
        for n in sizes:
            for norm in NORMALIZE_OPTIONS:
                for b in builds:
                    scores[(n, norm, b)] = cross_validate(
                        table, k, folds=5, normalize=norm, candidates=range(n + offset),
                        judge=judge, build=b)
    else:
        more = sorted(set(larger))
        base = [j for j in range(len(table.datasets)) if j not in set(more)]
        for n in sizes:
            for norm in NORMALIZE_OPTIONS:
                for b in builds:
                    for use in (False, True):
                        scores[(n, norm, b, "larger" if use else "rule")] = \
                            cv_with_more_datasets(table, judge, range(n + offset), norm, b,
                                                  base, more if use else (), k=k)
    best = min(scores, key=lambda key: (round(scores[key], 6), -key[0],
                                        NORMALIZE_OPTIONS.index(key[1]),
                                        BUILDS.index(key[2]), key[3:] == ("larger",)))
    return best[0], best[1], best[2], best[3:] == ("larger",), scores


def cv_with_more_datasets(table: ResultsTable, judge: ResultsTable, rows: Sequence[int],
                          normalize: str, how: str, base: Sequence[int],
                          more: Sequence[int] = (), folds: int = 5, k: int = 5) -> float:
    """Cross-validated regret of the first ``k`` on the datasets ``base`` (columns of
    ``table``, dealt round robin into ``folds`` groups), each fold's portfolio built from
    the other groups plus the datasets ``more`` (always in training; none: the plain
    cross-validation of ``tunelab.portfolio.cross_validate`` on ``base``). Built from
    ``rows`` as ``how`` says (``table``: split 0's results; ``mean``: the mean of both
    splits; ``judged``: chosen on one, judged on the other); scored as the held-out
    protocol does (member best on one split, judged on the other; range-normalized
    against the whole table). Mean over ``base``."""
    if len(base) < folds:
        raise ValueError(f"{len(base)} datasets to score cannot fill {folds} folds")
    rows = list(rows)
    values = (table.values + judge.values) / 2 if how == "mean" else table.values
    pool_table = ResultsTable([table.configs[i] for i in rows], table.datasets,
                              values[rows], table.direction)
    pool_judge = ResultsTable(pool_table.configs, table.datasets, judge.values[rows],
                              table.direction)
    row_of = {config_key(table.configs[i]): i for i in reversed(rows)}  # first of equals
    total = 0.0
    for f in range(folds):
        test = list(base[f::folds])
        train = [j for i, j in enumerate(base) if i % folds != f] + list(more)
        portfolio = build_portfolio(
            pool_table.subset(train), k, normalize=normalize,
            judge=pool_judge.subset(train) if how == "judged" else None)
        chosen = [row_of[config_key(c)] for c in portfolio.configs]
        total += float(judged_regret(table.subset(test), judge.subset(test), chosen).sum())
    return total / len(base)


def _head(table: ResultsTable, size: int, values: np.ndarray | None = None) -> ResultsTable:
    """The first ``size`` rows of ``table`` (with ``values`` instead of its own)."""
    v = table.values if values is None else values
    return ResultsTable(table.configs[:size], table.datasets, v[:size], table.direction)


def build_all(k: int) -> int:
    from benchmarks.portfolio_sklearn_holdout import BUILDING_JOURNAL

    journal = read_journal()
    building3 = read_journal(BUILDING_JOURNAL)
    _, held = datasets()
    for name, model in MODELS.items():
        table = building_table(name, journal)
        if not table.datasets:
            print(f"{name}: no complete building dataset in the journal yet; skipped")
            continue
        table, judge, source = building_measurements(name, table, journal, building3)
        three = source != "splits"
        larger = [j for j, d in enumerate(table.datasets) if source_rows(d) > MAX_SOURCE_ROWS]
        rule = [j for j in range(len(table.datasets)) if j not in set(larger)]
        if judge is None and larger:  # the choice needs both splits: the rule's datasets
            table, larger = table.subset(rule), []
        n_random, normalize, how, use_larger, cv = choose(table, model, judge=judge,
                                                          larger=larger)
        size = n_random + (1 if in_space(model) else 0)
        if larger and not use_larger:  # built from the rule's datasets only
            table = table.subset(rule)
            judge = None if judge is None else judge.subset(rule)

        if how == "mean" and judge is not None:
            portfolio = build_portfolio(_head(table, size, (table.values + judge.values) / 2),
                                        k, normalize=normalize)
        else:
            portfolio = build_portfolio(_head(table, size), k, normalize=normalize,
                                        judge=_head(judge, size) if how == "judged"
                                        and judge is not None else None)
        seconds = sum(r.get("seconds", 0.0) for r in (building3 if three else journal)
                      if r["phase"] == "pool" and r["model"] == name
                      and r["dataset"] in set(table.datasets))
        portfolio.space = model.space.to_dict()
        portfolio.metric = (METRIC_TEXT_TWO_FITS if source == "two_fits" else
                            METRIC_TEXT_THREE_WAY if three else
                            METRIC_TEXT if how == "table" else METRIC_TEXT_TWO_SPLITS)
        portfolio.meta = {
            "model": name,
            "estimator": model.estimator,
            "notes": model.note,
            "library_default": model.default or "the estimator's own defaults",
            "built_by": (COMMAND_TWO_FITS if source == "two_fits" else
                         COMMAND_THREE_WAY if three else
                         COMMAND if judge is None else COMMAND_WITH_REPLICATE),
            "candidates": size,
            "candidate_pool": ("the library default (when in the space) and random "
                               "configurations of the space (Space.sample, seed 0)")
            if in_space(model) else "random configurations of the space (Space.sample, "
                                    "seed 0)",
            "normalize": normalize,
            "build": (BUILD_TEXT_TWO_FITS if source == "two_fits" else
                      BUILD_TEXT_THREE_WAY if three else BUILD_TEXT)[how],
            "larger_datasets": ("used: in every fold's training, and to build"
                                if use_larger else "not used") if larger else "none collected",
            "cv_regret_first5": {" ".join(map(str, key)): round(v, 5)
                                 for key, v in cv.items()},
            "cv_protocol": (CV_TEXT if judge is None else CV_TEXT_JUDGED) + (
                CV_TEXT_LARGER if larger else ""),
            "training_cpu_seconds": round(seconds, 1),
            "source": "PMLB (Olson et al. 2017), /work/shared/data/pmlb",
            "held_out_datasets": held,
            "evaluation": "docs/benchmarks/portfolio-sklearn.md",
        }
        path = portfolio.save(BUILTIN / f"{name}.yaml")
        print(f"{name}: {len(portfolio.configs)} configs from {size} candidates x "
              f"{len(table.datasets)} datasets ({normalize}, {how}"
              f"{', with the larger datasets' if use_larger else ''}); "
              f"regret {[round(r, 4) for r in portfolio.regret]} -> {path}")
        best = sorted(cv.items(), key=lambda kv: kv[1])[:4]
        print(f"  5-fold CV regret of the first 5 on the building datasets (best 4): {best}")
    return 0


# --------------------------------------------------------------------------- evaluation


def expected_best_of(values: list[float], n: int) -> float:
    """E[max of n draws without replacement from ``values``] (exact; an unbiased
    estimate of the best of n independent random configurations)."""
    v = np.sort(np.asarray(values, dtype=float))
    size = len(v)
    if n >= size:
        return float(v[-1])
    total = math.comb(size, n)
    weights = np.array([math.comb(i, n - 1) for i in range(size)], dtype=float) / total
    return float(np.dot(weights, v))


def held_out_rows(model: Model, journal: list[dict[str, Any]],
                  portfolio: list[dict[str, Any]]) -> list[dict[str, Any]]:
    _, held = datasets()
    by: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in journal:
        if r["model"] == model.name and r["dataset"] in held and r.get("split", 0) == 0:
            by[r["dataset"]][r["phase"]].append(r)
    default_key = config_key(model.default)
    rows = []
    for ds in held:
        phases = by.get(ds)
        if not phases or not phases.get("extra"):
            continue
        pool = {config_key(r["config"]): r[METRIC] for r in phases["pool"]}
        keys = [config_key(c) for c in portfolio]
        if any(k not in pool for k in keys[:max(PORTFOLIO_N)]):
            continue
        pf = [max(pool[k] for k in keys[:n]) for n in PORTFOLIO_N]
        if in_space(model):
            default = pool[default_key]
            randoms = [r[METRIC] for r in phases["pool"]
                       if config_key(r["config"]) != default_key]
        else:
            default = phases["default"][0][METRIC]
            randoms = [r[METRIC] for r in phases["pool"]]
        randoms += [r[METRIC] for r in phases["extra"]]
        rnd = [expected_best_of(randoms, n) for n in BUDGETS]
        runs: dict[int, list[float]] = defaultdict(list)
        for r in sorted(phases.get("tpe", []), key=lambda r: r["n"]):
            runs[r["seed"]].append(r[METRIC])
        complete = [v for v in runs.values() if len(v) == TPE_BUDGET]
        tpe = ([float(np.mean([max(v[:n]) for v in complete])) for n in BUDGETS]
               if complete else [float("nan")] * 3)
        everything = [r[METRIC] for rs in phases.values() for r in rs]
        rows.append({"dataset": ds, "pf": pf, "default": default, "random": rnd,
                     "tpe": tpe, "tpe_seeds": len(complete), "randoms": len(randoms),
                     "best": max(everything), "chance": 1.0 / load(ds).classes})
    return rows


def regret(row: dict[str, Any], value: float) -> float:
    if not np.isfinite(value):
        return float("nan")
    return max(0.0, (row["best"] - value) / (row["best"] - row["chance"]))


def _cells(row: dict[str, Any], f: Any) -> list[float]:
    return [*(f(row, v) for v in row["pf"]), f(row, row["default"]),
            *(f(row, v) for v in row["random"]), *(f(row, v) for v in row["tpe"])]


COLUMNS = ("portfolio 1", "portfolio 3", "portfolio 5", "default", "random 5", "random 20",
           "random 50", "TPE 5", "TPE 20", "TPE 50")


def _fmt(x: float, digits: int = 4) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.{digits}f}"


def report() -> int:
    from benchmarks.portfolio_sklearn_holdout import HOLDOUT_JOURNAL, holdout_results
    from benchmarks.portfolio_sklearn_report import write_report

    journal = read_journal()
    test_journal = read_journal(HOLDOUT_JOURNAL)
    results = {}
    for name, model in MODELS.items():
        path = BUILTIN / f"{name}.yaml"
        if not path.exists():
            print(f"{name}: no portfolio file; run `build` first")
            continue
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rows = held_out_rows(model, journal, data["configs"])
        test_rows = holdout_results(model, data["configs"], test_journal)
        results[name] = {"rows": rows, "file": data,
                         "regret": [_cells(r, regret) for r in rows],
                         "acc": [_cells(r, lambda _r, v: v) for r in rows],
                         "test": test_rows}
    write_report(results, journal, test_journal)
    print(f"wrote {REPORT}")
    return 0


__all__ = ["COLUMNS", "HOLD_OUT_EVERY", "Portfolio", "build_all", "expected_best_of",
           "report", "_fmt"]

"""The honest held-out protocol of the built-in scikit-learn portfolios: selection on a
validation split, judgement on a separate test split.

    OMP_NUM_THREADS=1 python -m benchmarks.portfolio_sklearn_holdout collect --splits 3
    python -m benchmarks.portfolio_sklearn evaluate   # writes both protocols' tables

Only the **held-out** datasets are refit here (the building datasets keep their
validation-only fits in ``benchmarks/results/portfolio_sklearn.jsonl``; the portfolios are
built from those alone). For each held-out dataset and split seed ``s``:

* the rows are prepared exactly as in :func:`benchmarks.portfolio_sklearn_models.load`
  (classes with fewer than ``MIN_CLASS_ROWS`` rows dropped, larger datasets subsampled to
  ``MAX_ROWS`` rows, stratified, seed 0 -- fixed, independent of ``s``);
* a stratified **test** third is split off (``random_state=s``), then a stratified
  **validation** third of the rest (``random_state=s``); the model trains on the remaining
  4/9 of the rows. Every fit records its balanced accuracy on both validation and test.

Fits (journal ``benchmarks/results/portfolio_sklearn_holdout.jsonl``, one JSON line each,
resumable): the candidate pool (library default when in the space, then the
``--candidates`` random configurations, seed 0 -- so every portfolio configuration that
``build`` can choose is covered), the library default when it is not in the space, the
``--extra`` further random configurations (seed 1), and one 50-evaluation TPE run per split
(TPE seed = split seed) that optimises the **validation** score.

Every method picks a configuration by validation score and is judged by that pick's test
score (ties in validation go to the earliest configuration for ordered methods and are
averaged over for random search; see :func:`first_best_by_validation` and
:func:`expected_test_of_best_validation`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from benchmarks.portfolio_sklearn import (  # noqa: E402
    TPE_BUDGET,
    extra,
    in_space,
    pool,
    read_journal,
)
from benchmarks.portfolio_sklearn_models import (  # noqa: E402
    MODELS,
    Model,
    datasets,
    prepare,
)
from tunelab import Trial, TrialStatus  # noqa: E402
from tunelab.space import config_key  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HOLDOUT_JOURNAL = REPO / "benchmarks" / "results" / "portfolio_sklearn_holdout.jsonl"
#: The candidate pool on the *building* datasets, split as the held-out protocol splits
#: (train 4/9, validation 2/9, test 1/3): a size-matched pair of measurements to build from.
BUILDING_JOURNAL = REPO / "benchmarks" / "results" / "portfolio_sklearn_building3.jsonl"
VALID, TEST = "valid", "test"
TEST_FRACTION = 1 / 3
VALID_FRACTION = 1 / 3  # of the rows left after the test split
#: Validation scores closer than this count as a tie.
TIE = 1e-12


# --------------------------------------------------------------------------- selection


def first_best_by_validation(valid: Sequence[float], test: Sequence[float], n: int) -> float:
    """Test score of the configuration with the best validation score among the first
    ``n`` (a portfolio's first n, a TPE run's first n trials); a tie in validation goes to
    the earliest configuration, as a study's "best trial" does."""
    if n < 1 or not valid:
        raise ValueError("need at least one configuration")
    if len(valid) != len(test):
        raise ValueError("valid and test must have the same length")
    head = list(valid[:n])
    best = max(head)
    pick = next(i for i, v in enumerate(head) if v >= best - TIE)
    return float(test[pick])


def expected_test_of_best_validation(valid: Sequence[float], test: Sequence[float],
                                     n: int) -> float:
    """E[test score of the best-by-validation configuration of a uniformly random
    ``n``-subset (without replacement) of the configurations], exactly.

    Random search at n evaluations: the configuration a user would keep is the one with
    the best validation score among the n it tried; its test score is what it is judged
    by. Ties in validation are broken uniformly at random, so a group of configurations
    with the same validation score contributes its mean test score. Sorted by validation
    (ascending), the i-th configuration (0-based) is the subset's best with probability
    ``C(i, n-1) / C(N, n)``."""
    if len(valid) != len(test):
        raise ValueError("valid and test must have the same length")
    size = len(valid)
    if size == 0 or n < 1:
        raise ValueError("need at least one configuration and n >= 1")
    v = np.asarray(valid, dtype=float)
    t = np.asarray(test, dtype=float)
    order = np.argsort(v, kind="stable")
    v, t = v[order], t[order]
    # a tie group (same validation score) contributes its mean test score
    t_eff = t.copy()
    start = 0
    for i in range(1, size + 1):
        if i == size or v[i] - v[start] > TIE:
            t_eff[start:i] = t[start:i].mean()
            start = i
    if n >= size:
        return float(t_eff[-1])
    total = math.comb(size, n)
    weights = np.array([math.comb(i, n - 1) for i in range(size)], dtype=float) / total
    return float(np.dot(weights, t_eff))


def normalized_regret(best: float, chance: float, value: float) -> float:
    """``(best - value) / (best - chance)``, clipped at 0; NaN for a missing value."""
    if not np.isfinite(value):
        return float("nan")
    if best - chance <= 0:
        return 0.0
    return max(0.0, (best - value) / (best - chance))


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Split:
    """One train / validation / test split of a held-out dataset."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int


def three_way(x: np.ndarray, y: np.ndarray, seed: int) -> Split:
    """Stratified test third (``random_state=seed``), then a stratified validation third
    of the rest (``random_state=seed``); the remaining 4/9 train."""
    from sklearn.model_selection import train_test_split

    xr, xs, yr, ys = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y,
                                      random_state=seed)
    xt, xv, yt, yv = train_test_split(xr, yr, test_size=VALID_FRACTION, stratify=yr,
                                      random_state=seed)
    return Split(xt, yt.astype(np.int64), xv, yv.astype(np.int64), xs, ys.astype(np.int64),
                 int(y.max()) + 1)


@lru_cache(maxsize=2)
def load_split(name: str, seed: int) -> Split:
    """The dataset prepared as for the validation-only protocol
    (:func:`benchmarks.portfolio_sklearn_models.prepare`: same class drop, same row cap
    and subsample seed), split three ways by ``seed``."""
    return three_way(*prepare(name), seed)


def fit_score(model: str, dataset: str, seed: int, config: Mapping[str, Any]
              ) -> tuple[float, float, float]:
    """(validation balanced accuracy, test balanced accuracy, CPU seconds) of one fit."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import balanced_accuracy_score
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    data = load_split(dataset, seed)
    start = time.process_time()
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        estimator = MODELS[model].make(dict(config))
        estimator.fit(data.x_train, data.y_train)
        valid = float(balanced_accuracy_score(data.y_valid, estimator.predict(data.x_valid)))
        test = float(balanced_accuracy_score(data.y_test, estimator.predict(data.x_test)))
    return valid, test, time.process_time() - start


# --------------------------------------------------------------------------- journal


def _key(rec: Mapping[str, Any]) -> tuple[Any, ...]:
    if rec["phase"] == "tpe":
        return ("tpe", rec["model"], rec["dataset"], rec["split"], rec["n"])
    return (rec["phase"], rec["model"], rec["dataset"], rec["split"],
            config_key(rec["config"]))


def latest_records(journal: Sequence[Mapping[str, Any]]) -> dict[tuple[Any, ...], Any]:
    """The journal's records by key, the last of duplicates winning. Fits are
    deterministic, so only TPE trials can repeat a key with another configuration. That
    happened once: tunelab's TPE changed (commit 6c553f1, per-parameter Parzen
    estimators) while split seeds 0-2 were being collected, and an earlier version of
    ``collect`` re-ran their TPE runs from trial 10 on (the 10 start-up trials are the
    same) with the new TPE. The last records are those runs, so every split is reported
    with the same, current TPE; ``collect`` now replays journaled trials instead."""
    return {_key(r): r for r in journal}


class HoldoutJournal:
    """Append-only journal of held-out fits; a fit already journaled is not rerun."""

    def __init__(self, path: Path = HOLDOUT_JOURNAL) -> None:
        self.path = path
        self.done = latest_records(read_journal(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = path.open("a", encoding="utf-8")
        self.fits = 0
        self.cpu = 0.0

    def run(self, phase: str, model: str, dataset: str, split: int,
            config: dict[str, Any], **fields: Any) -> tuple[float, float]:
        rec: dict[str, Any] = {"phase": phase, "model": model, "dataset": dataset,
                               "split": split, "config": config, **fields}
        old = self.done.get(_key(rec))
        if old is not None and config_key(old["config"]) == config_key(config):
            return float(old[VALID]), float(old[TEST])
        valid, test, seconds = fit_score(model, dataset, split, config)
        rec.update({VALID: valid, TEST: test, "seconds": round(seconds, 4)})
        self.fh.write(json.dumps(rec) + "\n")
        self.fh.flush()
        self.done[_key(rec)] = rec
        self.fits += 1
        self.cpu += seconds
        return valid, test


def tpe_run(journal: HoldoutJournal, model: Model, dataset: str, split: int) -> None:
    """tunelab's TPE for :data:`TPE_BUDGET` evaluations, maximising the validation score
    (TPE seed = split seed); the test score is only recorded."""
    from tunelab.searchers import make_searcher

    searcher = make_searcher("tpe", seed=split)
    searcher.setup(VALID, "max")
    history: list[Trial] = []
    for n in range(TPE_BUDGET):
        old = journal.done.get(("tpe", model.name, dataset, split, n))
        if old is not None:  # resume: replay the journaled trial, do not propose again
            config, valid = dict(old["config"]), float(old[VALID])
        else:
            config = searcher.suggest(model.space, history, n)
            valid, _ = journal.run("tpe", model.name, dataset, split, dict(config), n=n)
        history.append(Trial(n, TrialStatus.COMPLETE, config, metrics={VALID: valid},
                             value=valid))


def collect(args: argparse.Namespace) -> int:
    _, held = datasets()
    names = args.datasets or held
    journal = HoldoutJournal()
    start = time.time()
    models = [MODELS[m] for m in args.models]

    def log(msg: str) -> None:
        print(f"[{time.time() - start:7.0f} s wall, {journal.cpu:7.0f} s fit CPU, "
              f"{journal.fits} fits] {msg}", flush=True)

    for split in range(args.splits):
        for ds in names:
            for model in models:
                for config in pool(model, args.candidates):
                    journal.run("pool", model.name, ds, split, config)
                if not in_space(model):
                    journal.run("default", model.name, ds, split, dict(model.default))
                for config in extra(model, args.extra):
                    journal.run("extra", model.name, ds, split, config)
                if args.tpe:
                    tpe_run(journal, model, ds, split)
                log(f"split {split} {ds} {model.name}")
    log("done")
    return 0


# --------------------------------------------------------------------------- evaluation

BUDGETS = (5, 20, 50)
PORTFOLIO_N = (1, 3, 5)


def split_row(model: Model, recs: Sequence[Mapping[str, Any]],
              portfolio: Sequence[Mapping[str, Any]], classes: int) -> dict[str, Any] | None:
    """The methods' test scores on one (dataset, split), or None when a part is missing:
    ``pf`` (portfolio first 1, 3, 5), ``default``, ``random`` (5, 20, 50), ``tpe`` (5,
    20, 50; NaN without a complete run), ``best`` (best test score of any configuration
    evaluated for this model, dataset and split) and ``chance``."""
    phases: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in recs:
        phases[r["phase"]].append(r)
    if not phases.get("extra"):
        return None
    scores = {config_key(r["config"]): (r[VALID], r[TEST]) for r in phases["pool"]}
    keys = [config_key(c) for c in portfolio[:max(PORTFOLIO_N)]]
    if any(k not in scores for k in keys):
        return None
    pv = [scores[k][0] for k in keys]
    pt = [scores[k][1] for k in keys]
    pf = [first_best_by_validation(pv, pt, n) for n in PORTFOLIO_N]
    default_key = config_key(model.default)
    if in_space(model):
        if default_key not in scores:
            return None
        default = scores[default_key][1]
        randoms = [r for r in phases["pool"] if config_key(r["config"]) != default_key]
    else:
        if not phases.get("default"):
            return None
        default = phases["default"][0][TEST]
        randoms = list(phases["pool"])
    randoms += phases["extra"]
    rv = [r[VALID] for r in randoms]
    rt = [r[TEST] for r in randoms]
    rnd = [expected_test_of_best_validation(rv, rt, n) for n in BUDGETS]
    trials = sorted(phases.get("tpe", []), key=lambda r: r["n"])
    if len(trials) == TPE_BUDGET:
        tv, tt = [r[VALID] for r in trials], [r[TEST] for r in trials]
        tpe = [first_best_by_validation(tv, tt, n) for n in BUDGETS]
    else:
        tpe = [float("nan")] * len(BUDGETS)
    everything = [r[TEST] for rs in phases.values() for r in rs]
    return {"pf": pf, "default": default, "random": rnd, "tpe": tpe,
            "best": max(everything), "chance": 1.0 / classes, "randoms": len(randoms)}


def cells(row: Mapping[str, Any], regret: bool) -> list[float]:
    """A row's ten columns (portfolio 1/3/5, default, random 5/20/50, TPE 5/20/50), as
    test balanced accuracy or as normalized regret."""
    values = [*row["pf"], row["default"], *row["random"], *row["tpe"]]
    if not regret:
        return [float(v) for v in values]
    return [normalized_regret(row["best"], row["chance"], v) for v in values]


def complete_splits(journal: Sequence[Mapping[str, Any]],
                    models: Sequence[str] = tuple(MODELS),
                    held: Sequence[str] | None = None) -> list[int]:
    """The split seeds on which every model has a finished TPE run on every held-out
    dataset (``collect`` runs TPE last, so the other fits of that split are there too).
    Only these are reported, so that every dataset is averaged over the same splits."""
    if held is None:
        held = datasets()[1]
    done: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for r in journal:
        if r["phase"] == "tpe" and r["n"] == TPE_BUDGET - 1:
            done[r["split"]].add((r["model"], r["dataset"]))
    need = {(m, d) for m in models for d in held}
    return sorted(s for s, pairs in done.items() if need <= pairs)


def _by_dataset_and_split(model: Model, journal: Sequence[Mapping[str, Any]]
                          ) -> dict[tuple[str, int], list[Mapping[str, Any]]]:
    """The model's latest records on the complete splits (:func:`complete_splits`), by
    (dataset, split)."""
    use = set(complete_splits(journal))
    groups: dict[tuple[str, int], list[Mapping[str, Any]]] = defaultdict(list)
    for r in latest_records(journal).values():
        if r["model"] == model.name and r["split"] in use:
            groups[(r["dataset"], r["split"])].append(r)
    return groups


def holdout_results(model: Model, portfolio: Sequence[Mapping[str, Any]],
                    journal: Sequence[Mapping[str, Any]] | None = None
                    ) -> list[dict[str, Any]]:
    """Per held-out dataset: the mean over the complete splits (:func:`complete_splits`)
    of each column (test balanced accuracy and normalized regret), and the number of
    splits."""
    if journal is None:
        journal = read_journal(HOLDOUT_JOURNAL)
    _, held = datasets()
    groups = _by_dataset_and_split(model, journal)
    out = []
    for ds in held:
        splits = sorted(s for d, s in groups if d == ds)
        rows = []
        for s in splits:
            row = split_row(model, groups[(ds, s)], portfolio, load_split(ds, s).classes)
            if row is not None:
                rows.append(row)
        if not rows:
            continue
        with warnings.catch_warnings():  # a column with no complete TPE run stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            acc = np.nanmean([cells(r, False) for r in rows], axis=0)
            reg = np.nanmean([cells(r, True) for r in rows], axis=0)
        out.append({"dataset": ds, "splits": len(rows), "acc": [float(a) for a in acc],
                    "regret": [float(g) for g in reg],
                    "tpe_runs": sum(1 for r in rows if np.isfinite(r["tpe"][0])),
                    "randoms": min(r["randoms"] for r in rows)})
    return out


def hindsight_first(model: Model, n: int = 5,
                    journal: Sequence[Mapping[str, Any]] | None = None) -> float:
    """A diagnostic, never used to build anything: the mean headline regret (as
    :func:`holdout_results` averages it: over splits, then over held-out datasets) of the
    first ``n`` chosen greedily from the candidate pool *on the held-out datasets' own
    test scores* -- how good a first ``n`` the pool holds for these datasets, with
    hindsight (optimistic: the choice also fits their noise)."""
    if journal is None:
        journal = read_journal(HOLDOUT_JOURNAL)
    held = set(datasets()[1])
    groups = {g: recs for g, recs in _by_dataset_and_split(model, journal).items()
              if g[0] in held}
    pools = {g: {config_key(r["config"]): (r[VALID], r[TEST]) for r in recs
                 if r["phase"] == "pool"} for g, recs in groups.items()}
    pools = {g: p for g, p in pools.items() if p}  # (dataset, split)s with pool results
    keys = sorted(set.intersection(*(set(p) for p in pools.values()))) if pools else []
    if not keys:
        return float("nan")
    cases = sorted(pools)
    valid = np.array([[pools[g][k][0] for k in keys] for g in cases])
    regret = np.array([[normalized_regret(max(r[TEST] for r in groups[g]),
                                          1.0 / load_split(*g).classes, pools[g][k][1])
                        for k in keys] for g in cases])
    names = np.array([g[0] for g in cases])

    def mean_regret(rows: list[int]) -> float:
        # the member best by validation (the first of equals), judged by test
        v = valid[:, rows]
        first_best = np.argmax(v >= v.max(axis=1, keepdims=True) - TIE, axis=1)
        got = regret[np.arange(len(cases)), np.asarray(rows)[first_best]]
        return float(np.mean([got[names == d].mean() for d in sorted(set(names))]))

    chosen: list[int] = []
    for _ in range(min(n, len(keys))):
        chosen.append(min((j for j in range(len(keys)) if j not in chosen),
                          key=lambda j: mean_regret([*chosen, j])))
    return mean_regret(chosen)


def collect_building(args: argparse.Namespace) -> int:
    """The candidate pool on the building datasets with the held-out protocol's split
    (seed ``--split``), into :data:`BUILDING_JOURNAL`; ``--shard i/n`` takes every n-th
    dataset from the i-th, so that n processes can share the work."""
    build, _ = datasets()
    index, count = (int(v) for v in args.shard.split("/"))
    journal = HoldoutJournal(BUILDING_JOURNAL)
    start = time.time()
    for ds in build[index::count]:
        for name in args.models:
            for config in pool(MODELS[name], args.candidates):
                journal.run("pool", name, ds, args.split, dict(config))
        print(f"[{time.time() - start:7.0f} s, {journal.fits} fits, {journal.cpu / 60:.1f} "
              f"CPU min] building {ds} split {args.split}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("building", help="the pool on the building datasets, split as the "
                                        "held-out protocol splits (resumable journal)")
    b.add_argument("--split", type=int, default=0)
    b.add_argument("--candidates", type=int, default=80)
    b.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    b.add_argument("--shard", default="0/1", help="i/n: every n-th building dataset from i")
    c = sub.add_parser("collect", help="run the held-out fits (resumable journal)")
    c.add_argument("--splits", type=int, default=3, help="split seeds 0 .. splits-1")
    c.add_argument("--candidates", type=int, default=80)
    c.add_argument("--extra", type=int, default=24)
    c.add_argument("--no-tpe", dest="tpe", action="store_false")
    c.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    c.add_argument("--datasets", nargs="+", default=None,
                   help="a subset of the held-out datasets (for timing)")
    args = parser.parse_args(argv)
    if args.command == "building":
        return collect_building(args)
    held = set(datasets()[1])
    if args.datasets and not set(args.datasets) <= held:
        parser.error("only held-out datasets are refit here")
    return collect(args)


if __name__ == "__main__":
    sys.exit(main())

"""Built-in portfolios for scikit-learn classifiers, learned from real training runs on
PMLB datasets, and their held-out (leave-datasets-out) evaluation.

    OMP_NUM_THREADS=1 python -m benchmarks.portfolio_sklearn collect [--tpe-seeds 2]
    OMP_NUM_THREADS=1 python -m benchmarks.portfolio_sklearn replicate [--split 1]
    python -m benchmarks.portfolio_sklearn build [--k 10]
    python -m benchmarks.portfolio_sklearn evaluate

``collect`` appends one JSON line per fit to ``benchmarks/results/portfolio_sklearn.jsonl``
(the journal; rerunning it skips what is there, so it resumes after an interruption):

1. ``pool``: on every dataset (building and held-out), each model's candidate pool -- its
   library default when that lies in the space, then ``--candidates`` random
   configurations of the space (``Space.sample``, seed 0).
2. ``extra``: on the held-out datasets only, ``--extra`` more random configurations (seed
   1): with the pool's random ones, the random draws that random search is sampled from.
   Also the library default (``default``) on the held-out datasets when it is not in the pool.
3. ``tpe``: on the held-out datasets, tunelab's TPE searcher for 50 evaluations, seeds
   ``0 .. --tpe-seeds - 1``.

``replicate`` refits the pool on the building datasets with a second validation split
(``pool`` records with ``"split": 1``), an independent second measurement.

``build`` reads the ``pool`` results on the building datasets only, chooses the pool size
(a prefix of the collected pool), the per-dataset regret normalization and -- with the
second split -- how to build (from split 0, from the mean of both, or each member chosen on
one split and judged on the other) by 5-fold cross-validation over the building datasets
(``tunelab.portfolio.cross_validate``; with the second split a left-out dataset is scored
as the held-out protocol does: the member best on one split, judged on the other), builds
each model's portfolio greedily (``tunelab.portfolio.build_portfolio``) and writes
``src/tunelab/portfolio/builtin/<model>.yaml`` with its space, metric and provenance.
Rerunning ``collect`` with a larger ``--candidates`` extends the pool on every dataset.
``evaluate`` writes ``docs/benchmarks/portfolio-sklearn.md`` from the journal, the
held-out train/validation/test journal of ``benchmarks/portfolio_sklearn_holdout.py`` (the
headline protocol: select on validation, judge on test; run its ``collect`` first) and the
portfolio files. Models, spaces, datasets and the split rule: ``portfolio_sklearn_models``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from benchmarks.portfolio_sklearn_models import (  # noqa: E402
    MODELS,
    Model,
    datasets,
    evaluate,
)
from tunelab import InvalidConfigError, Trial, TrialStatus  # noqa: E402
from tunelab.space import config_key  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
JOURNAL = REPO / "benchmarks" / "results" / "portfolio_sklearn.jsonl"
BUILTIN = REPO / "src" / "tunelab" / "portfolio" / "builtin"
REPORT = REPO / "docs" / "benchmarks" / "portfolio-sklearn.md"
METRIC = "balanced_accuracy"
TPE_BUDGET = 50


def in_space(model: Model) -> bool:
    """Is the library default a configuration of the model's space?"""
    try:
        model.space.validate(model.default)
    except (InvalidConfigError, Exception):
        return False
    return True


def pool(model: Model, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """The candidates: the default (when in the space), then ``n`` random configurations."""
    rng = np.random.default_rng(seed)
    head = [dict(model.default)] if in_space(model) else []
    return head + [model.space.sample(rng) for _ in range(n)]


def extra(model: Model, n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(1)
    return [model.space.sample(rng) for _ in range(n)]


# --------------------------------------------------------------------------- journal


def read_journal(path: Path = JOURNAL) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut by an interruption
    return out


def _key(rec: dict[str, Any]) -> tuple[Any, ...]:
    if rec["phase"] == "tpe":
        return ("tpe", rec["model"], rec["dataset"], rec["seed"], rec["n"])
    return (rec["phase"], rec["model"], rec["dataset"], config_key(rec["config"]),
            rec.get("split", 0))


class Journal:
    def __init__(self, path: Path = JOURNAL) -> None:
        self.path = path
        self.done = {_key(r): r for r in read_journal(path)}
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = path.open("a", encoding="utf-8")
        self.fits = 0

    def run(self, phase: str, model: str, dataset: str, config: dict[str, Any],
            **extra_fields: Any) -> float:
        rec: dict[str, Any] = {"phase": phase, "model": model, "dataset": dataset,
                               "config": config, **extra_fields}
        key = _key(rec)
        old = self.done.get(key)
        if old is not None and config_key(old["config"]) == config_key(config):
            return float(old[METRIC])
        score, seconds = evaluate(model, dataset, config, rec.get("split", 0))
        rec.update({METRIC: score, "seconds": round(seconds, 4)})
        self.fh.write(json.dumps(rec) + "\n")
        self.fh.flush()
        self.done[key] = rec
        self.fits += 1
        return score


def tpe_run(journal: Journal, model: Model, dataset: str, seed: int) -> None:
    from tunelab.searchers import make_searcher

    searcher = make_searcher("tpe", seed=seed)
    searcher.setup(METRIC, "max")
    history: list[Trial] = []
    for n in range(TPE_BUDGET):
        config = searcher.suggest(model.space, history, n)
        score = journal.run("tpe", model.name, dataset, dict(config), seed=seed, n=n)
        history.append(Trial(n, TrialStatus.COMPLETE, config, metrics={METRIC: score},
                             value=score))


def collect(args: argparse.Namespace) -> int:
    build, held = datasets()
    journal = Journal()
    start = time.time()
    names = sorted(build + held, key=str.lower)
    models = [MODELS[m] for m in args.models]

    def log(msg: str) -> None:
        print(f"[{time.time() - start:7.0f} s, {journal.fits} fits] {msg}", flush=True)

    for ds in names:
        for model in models:
            for config in pool(model, args.candidates):
                journal.run("pool", model.name, ds, config)
        log(f"pool {ds}")
    for ds in held:
        for model in models:
            if not in_space(model):
                journal.run("default", model.name, ds, dict(model.default))
            for config in extra(model, args.extra):
                journal.run("extra", model.name, ds, config)
        log(f"extra {ds}")
    for seed in range(args.tpe_seeds):
        for ds in held:
            for model in models:
                tpe_run(journal, model, ds, seed)
            log(f"tpe seed {seed} {ds}")
    log("done")
    return 0


def replicate(args: argparse.Namespace) -> int:
    """The candidate pool refit on the building datasets with another validation split
    (``pool`` records with ``split``): a second, independent measurement of every
    candidate, from which ``build`` judges portfolios as the held-out protocol does
    (choose by one split, judge by the other)."""
    build, _ = datasets()
    journal = Journal()
    start = time.time()
    models = [MODELS[m] for m in args.models]
    for ds in build:
        for model in models:
            for config in pool(model, args.candidates):
                journal.run("pool", model.name, ds, config, split=args.split)
        print(f"[{time.time() - start:7.0f} s, {journal.fits} fits] split {args.split} {ds}",
              flush=True)
    return 0


def iter_records(phase: str | None = None) -> Iterator[dict[str, Any]]:
    for rec in read_journal():
        if phase is None or rec["phase"] == phase:
            yield rec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="run the fits (resumable journal)")
    c.add_argument("--candidates", type=int, default=40)
    c.add_argument("--extra", type=int, default=24)
    c.add_argument("--tpe-seeds", type=int, default=2)
    c.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    r = sub.add_parser("replicate", help="refit the pool on the building datasets with "
                       "another validation split (resumable journal)")
    r.add_argument("--split", type=int, default=1)
    r.add_argument("--candidates", type=int, default=80)
    r.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    b = sub.add_parser("build", help="write the built-in portfolios")
    b.add_argument("--k", type=int, default=10)
    sub.add_parser("evaluate", help="write the held-out report")
    args = parser.parse_args(argv)
    if args.command == "collect":
        return collect(args)
    if args.command == "replicate":
        if args.split < 1:
            parser.error(f"--split must be >= 1 (0 is the pool's own split); got {args.split}")
        return replicate(args)
    from benchmarks.portfolio_sklearn_eval import build_all, report

    if args.command == "build":
        return build_all(args.k)
    return report()


if __name__ == "__main__":
    sys.exit(main())

"""Real training: scikit-learn classifiers on PMLB datasets, with a fidelity per model.

Source: the Penn Machine Learning Benchmarks (Olson, La Cava, Orzechowski, Urbanowicz &
Moore 2017, "PMLB: a large benchmark suite for machine learning evaluation and
comparison", BioData Mining 10:36), read from ``<data_dir()>/pmlb/NAME.tsv.gz`` (the label
column is named in ``index.json``). Every feature is numeric in PMLB.

Unlike the table and surrogate families these problems really train (``real = True``):
one :meth:`evaluate` fits a model, so a trial takes up to about a second on one core.

Problems (``pmlb/<model>-<dataset>``, metric ``accuracy`` on the validation split, max):

* ``hgb``: :class:`~sklearn.ensemble.HistGradientBoostingClassifier`, fidelity = boosting
  iterations. ``max_steps = 10`` steps of 10 iterations (warm start, no early stopping);
  step ``k`` reports the validation accuracy after ``10 k`` iterations. Space:
  ``learning_rate``, ``max_leaf_nodes``, ``min_samples_leaf``, ``l2_regularization`` (log)
  and ``max_features``.
* ``rf``: :class:`~sklearn.ensemble.RandomForestClassifier`, fidelity = training subsample.
  ``max_steps = 4`` fresh fits on the first 1/8, 1/4, 1/2 and all of a fixed shuffle of the
  training split. Space: ``n_estimators`` (8-64, log), ``criterion``, ``max_features``,
  ``min_samples_leaf``, ``bootstrap`` and ``max_samples`` (only when ``bootstrap``).

Each dataset has one fixed, stratified 70 / 30 train / validation split (seed 0) and one
fixed shuffle of the training rows for the subsamples; ``seed`` is the model's
``random_state`` (feature subsampling, bootstrap), so it picks the run's noise and the same
(config, seed) gives the same metrics. A step's ``seconds`` is the *measured* CPU time
(``time.process_time``, BLAS/OpenMP limited to one thread) of that step's training and
scoring, so it varies slightly from run to run; the metrics do not.

Optimum and worst: real training has no known optimum. ``optimum`` is the best full-fidelity
validation accuracy of :data:`REFERENCE_CONFIGS` fixed configurations (a scrambled Sobol
sequence, seed 0, decoded by the space; ``random_state = 0``) -- "best of 256 fixed random
configurations", which a tuner may beat (regret clips at 0). ``worst`` is the accuracy of
always predicting the majority class of the training split (computed from the split). The
optimum is cached in ``benchmarks/problems/_cache/pmlb_reference.json`` (with the
configuration that reached it and the space it was drawn from); a missing or stale entry is
computed on first use (1-4 minutes per problem on 2 cores); ``python -m
benchmarks.problems.pmlb [--jobs N]`` fills the cache for the full suite.

Suites: ``smoke`` none (real training); ``quick`` ``hgb`` on credit-g and vehicle; ``full``
``hgb`` and ``rf`` on australian, credit-g, pima, phoneme (binary), vehicle and car
(4 classes).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.problems import data_dir
from benchmarks.problems.base import Problem, SimStep
from tunelab import Categorical, Float, Int, Space

__all__ = [
    "FULL_DATASETS",
    "MODELS",
    "QUICK",
    "REFERENCE_CONFIGS",
    "PmlbProblem",
    "load",
    "problems",
    "reference",
]

#: Number of fixed configurations whose best full-fidelity accuracy is the ``optimum``.
REFERENCE_CONFIGS = 256
#: Fraction of each dataset held out for validation (stratified, seed 0).
VALIDATION_FRACTION = 0.3
#: Iterations per step of ``hgb`` and the number of steps.
HGB_ITERS_PER_STEP = 10
HGB_STEPS = 10
#: Training-subsample fractions of ``rf``.
RF_FRACTIONS: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)

MODELS = ("hgb", "rf")
QUICK: tuple[tuple[str, str], ...] = (("hgb", "credit-g"), ("hgb", "vehicle"))
FULL_DATASETS: tuple[str, ...] = ("australian", "credit-g", "pima", "phoneme", "vehicle", "car")

_CACHE = Path(__file__).resolve().parent / "_cache" / "pmlb_reference.json"
_CACHE_META = {
    "configs": REFERENCE_CONFIGS,
    "validation_fraction": VALIDATION_FRACTION,
    "split_seed": 0,
    "hgb": [HGB_ITERS_PER_STEP, HGB_STEPS],
    "rf": list(RF_FRACTIONS),
}
_lock = threading.Lock()


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Split:
    """A dataset's fixed train / validation split (labels encoded 0..k-1)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    #: A fixed permutation of the training rows (the subsamples are its prefixes).
    order: np.ndarray

    @property
    def majority_accuracy(self) -> float:
        """Validation accuracy of predicting the training split's majority class."""
        majority = int(np.bincount(self.y_train).argmax())
        return float(np.mean(self.y_valid == majority))


@cache
def _index() -> dict[str, dict[str, Any]]:
    entries = json.loads((data_dir() / "pmlb" / "index.json").read_text())
    return {e["name"]: e for e in entries}


@lru_cache(maxsize=16)
def load(name: str) -> Split:
    """Read ``NAME.tsv.gz`` and split it (stratified, seed 0); cached per process."""
    from sklearn.model_selection import train_test_split

    target = _index()[name]["target"]
    with gzip.open(data_dir() / "pmlb" / f"{name}.tsv.gz", "rt") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        table = np.loadtxt(fh, delimiter="\t", dtype=np.float64, ndmin=2)
    col = header.index(target)
    y = np.unique(table[:, col], return_inverse=True)[1].astype(np.int64)
    x = np.delete(table, col, axis=1)
    x_train, x_valid, y_train, y_valid = train_test_split(
        x, y, test_size=VALIDATION_FRACTION, stratify=y, random_state=0
    )
    order = np.random.default_rng(0).permutation(len(y_train))
    return Split(x_train, y_train, x_valid, y_valid, order)


# --------------------------------------------------------------------------- spaces


def _space(model: str) -> Space:
    if model == "hgb":
        return Space(
            learning_rate=Float(0.01, 1.0, log=True),
            max_leaf_nodes=Int(4, 64, log=True),
            min_samples_leaf=Int(2, 64, log=True),
            l2_regularization=Float(1e-4, 10.0, log=True),
            max_features=Float(0.2, 1.0),
        )
    if model == "rf":
        return Space(
            n_estimators=Int(8, 64, log=True),
            criterion=Categorical(["gini", "entropy"]),
            max_features=Float(0.05, 1.0),
            min_samples_leaf=Int(1, 16, log=True),
            bootstrap=Categorical([True, False]),
            max_samples=Float(0.2, 1.0, when={"bootstrap": True}),
        )
    raise KeyError(f"unknown PMLB model {model!r}; known: {list(MODELS)}")


# --------------------------------------------------------------------------- training


def _run_hgb(split: Split, config: Mapping[str, Any], seed: int) -> list[SimStep]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        learning_rate=float(config["learning_rate"]),
        max_leaf_nodes=int(config["max_leaf_nodes"]),
        min_samples_leaf=int(config["min_samples_leaf"]),
        l2_regularization=float(config["l2_regularization"]),
        max_features=float(config["max_features"]),
        early_stopping=False,
        warm_start=True,
        random_state=seed % 2**32,
    )
    steps = []
    for k in range(1, HGB_STEPS + 1):
        start = time.process_time()
        model.set_params(max_iter=k * HGB_ITERS_PER_STEP)
        model.fit(split.x_train, split.y_train)
        acc = float(np.mean(model.predict(split.x_valid) == split.y_valid))
        seconds = time.process_time() - start
        steps.append(SimStep({"accuracy": acc, "iterations": float(k * HGB_ITERS_PER_STEP)},
                             max(seconds, 0.0)))
    return steps


def _run_rf(split: Split, config: Mapping[str, Any], seed: int) -> list[SimStep]:
    from sklearn.ensemble import RandomForestClassifier

    bootstrap = bool(config["bootstrap"])
    steps = []
    for fraction in RF_FRACTIONS:
        rows = split.order[: max(2, round(fraction * len(split.order)))]
        start = time.process_time()
        model = RandomForestClassifier(
            n_estimators=int(config["n_estimators"]),
            criterion=str(config["criterion"]),
            max_features=float(config["max_features"]),
            min_samples_leaf=int(config["min_samples_leaf"]),
            bootstrap=bootstrap,
            max_samples=float(config["max_samples"]) if bootstrap else None,
            n_jobs=1,
            random_state=seed % 2**32,
        )
        model.fit(split.x_train[rows], split.y_train[rows])
        acc = float(np.mean(model.predict(split.x_valid) == split.y_valid))
        seconds = time.process_time() - start
        steps.append(SimStep({"accuracy": acc, "fraction": fraction}, max(seconds, 0.0)))
    return steps


def _train(model: str, dataset: str, config: Mapping[str, Any], seed: int) -> list[SimStep]:
    from threadpoolctl import threadpool_limits

    split = load(dataset)
    with threadpool_limits(limits=1):
        if model == "hgb":
            return _run_hgb(split, config, seed)
        return _run_rf(split, config, seed)


# --------------------------------------------------------------------------- reference


def reference_configs(model: str) -> list[dict[str, Any]]:
    """The fixed configurations whose best accuracy is the optimum (Sobol, seed 0)."""
    from scipy.stats import qmc

    space = _space(model)
    points = qmc.Sobol(d=len(space), scramble=True, seed=0).random(REFERENCE_CONFIGS)
    return [space.decode(p) for p in points]


def _reference_one(args: tuple[str, str, Mapping[str, Any]]) -> float:
    model, dataset, config = args
    return _train(model, dataset, config, 0)[-1].metrics["accuracy"]


def _compute_reference(model: str, dataset: str, jobs: int = 1) -> dict[str, Any]:
    configs = reference_configs(model)
    tasks = [(model, dataset, c) for c in configs]
    if jobs > 1:
        from multiprocessing import get_context

        with get_context("spawn").Pool(jobs) as pool:
            accs = pool.map(_reference_one, tasks, chunksize=4)
    else:
        accs = [_reference_one(t) for t in tasks]
    best = int(np.argmax(accs))
    return {
        "space": _space(model).to_dict(),
        "optimum": float(accs[best]),
        "optimum_config": configs[best],
        "median": float(np.median(accs)),
        "majority": load(dataset).majority_accuracy,
    }


def _read_cache() -> dict[str, Any]:
    cache: dict[str, Any] = json.loads(_CACHE.read_text()) if _CACHE.is_file() else {}
    if cache.get("_meta", {}).get("definition") != _CACHE_META:
        cache = {"_meta": {"definition": _CACHE_META}}
    return cache


def _store(key: str, entry: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
    """Add one entry to the cache file: re-read it (another process may have added entries
    meanwhile), merge, and replace the file atomically."""
    try:
        cache = _read_cache()
        cache["_meta"].update(meta)
        cache[key] = entry
        ordered = {"_meta": cache["_meta"], **{k: cache[k] for k in sorted(cache) if k != "_meta"}}
        _CACHE.parent.mkdir(parents=True, exist_ok=True)
        tmp = _CACHE.with_name(f"{_CACHE.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(ordered, indent=1) + "\n")
        os.replace(tmp, _CACHE)
    except OSError:  # read-only checkout: keep the value for this process
        pass


def reference(model: str, dataset: str, jobs: int = 1) -> dict[str, Any]:
    """``optimum`` (best of the fixed configurations), ``majority`` (the worst) and more,
    from the cache file; computed (minutes) and stored on a miss."""
    key = f"{model}/{dataset}"
    with _lock:
        cache = _read_cache()
        if cache.get(key, {}).get("space") != _space(model).to_dict():
            import sklearn

            print(f"pmlb: computing the reference optimum of {key} "
                  f"({REFERENCE_CONFIGS} trainings)...", file=sys.stderr)
            cache[key] = _compute_reference(model, dataset, jobs)
            _store(key, cache[key], {"sklearn": sklearn.__version__})
        return dict(cache[key])


# --------------------------------------------------------------------------- problems


class PmlbProblem(Problem):
    """One (model, dataset) pair; see the module docstring."""

    family = "pmlb"
    metric = "accuracy"
    direction = "max"
    real = True

    def __init__(self, model: str, dataset: str) -> None:
        self.model = model
        self.dataset = dataset
        self.space = _space(model)
        self.name = f"pmlb/{model}-{dataset}"
        self.max_steps = HGB_STEPS if model == "hgb" else len(RF_FRACTIONS)
        self._optimum: float | None = None
        self._worst: float | None = None

    @property
    def optimum(self) -> float:
        """Best of the fixed reference configurations (from the cache; computed on a miss)."""
        if self._optimum is None:
            self._optimum = float(reference(self.model, self.dataset)["optimum"])
        return self._optimum

    @optimum.setter
    def optimum(self, value: float) -> None:
        self._optimum = value

    @property
    def worst(self) -> float:
        """Validation accuracy of the majority class."""
        if self._worst is None:
            self._worst = load(self.dataset).majority_accuracy
        return self._worst

    @worst.setter
    def worst(self, value: float) -> None:
        self._worst = value

    def evaluate(self, config: Mapping[str, Any], seed: int) -> Sequence[SimStep]:
        """Train ``config`` with ``random_state = seed``; one step per fidelity level."""
        return _train(self.model, self.dataset, config, seed)


def problems(suite: str) -> list[Problem]:
    """The PMLB problems of a suite (``smoke`` is empty: it trains for real)."""
    if suite in ("smoke", "mf"):  # mf: the multi-fidelity suite has no such problems
        return []
    if suite == "quick":
        pairs: Sequence[tuple[str, str]] = QUICK
    elif suite == "full":
        pairs = [(m, d) for m in MODELS for d in FULL_DATASETS]
    else:
        raise KeyError(f"unknown suite {suite!r}")
    return [PmlbProblem(m, d) for m, d in pairs]


def main(argv: Sequence[str] | None = None) -> None:
    """Fill the reference cache for a suite: ``python -m benchmarks.problems.pmlb``."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--suite", default="full", choices=["quick", "full"])
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    for problem in problems(args.suite):
        assert isinstance(problem, PmlbProblem)
        start = time.perf_counter()
        ref = reference(problem.model, problem.dataset, jobs=args.jobs)
        print(f"{problem.name}: optimum {ref['optimum']:.4f}, median {ref['median']:.4f}, "
              f"majority {ref['majority']:.4f} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

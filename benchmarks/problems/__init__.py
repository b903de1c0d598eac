"""Benchmark problems with known optima: one module per family, one registry.

Every problem implements :class:`benchmarks.problems.base.Problem`. Each family module
exposes ``problems(suite: str) -> list[Problem]`` for ``suite`` in ``smoke`` (seconds, no
data files), ``quick`` (the `make bench` suite), ``full`` and ``mf`` (the multi-fidelity
suite: only the multi-fidelity families have problems there); construction is cheap and
data is loaded on first use.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from benchmarks.problems.base import Problem

__all__ = ["FAMILIES", "SUITES", "Problem", "data_dir", "family", "get", "suite"]

#: family name -> module implementing it
FAMILIES = {
    "synthetic": "benchmarks.problems.synthetic",
    "bbob": "benchmarks.problems.bbob",
    "mf-synthetic": "benchmarks.problems.mf_synthetic",
    "tabular": "benchmarks.problems.tabular",
    "yahpo": "benchmarks.problems.yahpo",
    "pmlb": "benchmarks.problems.pmlb",
}
SUITES = ("smoke", "quick", "full", "mf")


def data_dir() -> Path:
    """The shared benchmark data: $TUNELAB_BENCH_DATA, else ../shared/data next to the
    repository, else /work/shared/data."""
    env = os.environ.get("TUNELAB_BENCH_DATA")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[2].parent / "shared" / "data",
                   Path("/work/shared/data")]
    for path in candidates:
        if path.is_dir():
            return path
    raise FileNotFoundError(
        f"benchmark data not found in {[str(p) for p in candidates]}; set TUNELAB_BENCH_DATA"
    )


def family(name: str, suite_name: str = "full") -> list[Problem]:
    """The problems of one family for a suite."""
    if name not in FAMILIES:
        raise KeyError(f"unknown problem family {name!r}; known: {sorted(FAMILIES)}")
    if suite_name not in SUITES:
        raise KeyError(f"unknown suite {suite_name!r}; known: {list(SUITES)}")
    module = importlib.import_module(FAMILIES[name])
    return list(module.problems(suite_name))


def suite(suite_name: str, families: list[str] | None = None) -> list[Problem]:
    """Every problem of a suite, family by family."""
    return [p for name in (families or list(FAMILIES)) for p in family(name, suite_name)]


def get(name: str) -> Problem:
    """One problem by its name, searched in the full suite of every family."""
    for fam in FAMILIES:
        for problem in family(fam, "full"):
            if problem.name == name:
                return problem
    raise KeyError(f"no benchmark problem named {name!r}")

"""Smoke test for benchmarks/overhead.py: its tunelab measurement must keep working."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "overhead.py"


def _load_bench() -> ModuleType:
    name = "_tunelab_bench_overhead"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_importing_the_benchmark_does_not_import_optuna() -> None:
    had_optuna = "optuna" in sys.modules
    _load_bench()
    if not had_optuna:
        assert "optuna" not in sys.modules


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_measure_tunelab_returns_positive_finite_ms(store: str, tmp_path: Path) -> None:
    bench = _load_bench()
    timing = bench.measure_tunelab(20, store, seed=0, workdir=tmp_path)
    for value in (timing.cpu_ms, timing.wall_ms):
        assert math.isfinite(value)
        assert value > 0

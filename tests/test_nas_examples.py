"""The NAS example runs at its tiny size and derives a cell that beats chance."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch  # noqa: F401 - no importorskip: without the [torch] extra this must fail, not skip

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_nas_darts_example_runs_tiny() -> None:
    spec = importlib.util.spec_from_file_location("nas_darts", EXAMPLES / "nas_darts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(tiny=True)
    assert len(out["search"]) == 3 and out["trial"].status.value == "COMPLETE"
    assert out["cell"].nodes == 2 and all(op != "none" for *_, op in out["cell"].edges)
    assert out["accuracy"] > 0.3  # ten classes: chance is 0.1
    assert len(out["trial"].metrics) >= 4

"""The worked examples run (at a tiny size) and still show their lesson."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str) -> object:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lr_sensitivity_adam_is_flatter_than_sgd(tmp_path: Path) -> None:
    example = load("lr_sensitivity")
    curves = example.main(["--quick", "--store", str(tmp_path / "lr.db"),  # type: ignore[attr-defined]
                           "--plot", str(tmp_path / "lr.png")])
    sgd, adam = curves["sgd"], curves["adam"]
    assert len(sgd.values) == len(adam.values) == 6  # 5 grid points and the baseline
    # The lesson: more decades of learning rate are good for Adam than for plain SGD.
    assert example.good_decades(adam) > example.good_decades(sgd)  # type: ignore[attr-defined]
    assert adam.means[0] > sgd.means[0]  # small rates: Adam still learns, SGD barely
    assert (tmp_path / "lr.png").read_bytes()[:4] == b"\x89PNG"

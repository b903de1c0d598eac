"""A known lesson, measured: SGD's good learning rates form a narrow band, Adam's a wide one.

One-at-a-time sensitivity of the learning rate of a small MLP on scikit-learn's digits,
once with plain SGD and once with Adam, everything else fixed, 3 seeds per point. Each
point's seed band shows whether a difference is real. Every run is a trial in
``lr-sensitivity.db`` (studies ``lr-sgd`` and ``lr-adam``), so ``tunelab plot lr-sgd
--kind sensitivity --store lr-sensitivity.db`` redraws one, and ``tunelab env lr-sgd 0
--store lr-sensitivity.db`` shows what a run ran on.

    python examples/lr_sensitivity.py                 # 9 points x 3 seeds each (~40 s)
    python examples/lr_sensitivity.py --quick         # 5 points x 2 seeds, fewer epochs
    python examples/lr_sensitivity.py --plot lr.png   # both curves on one figure
"""

from __future__ import annotations

import argparse
import functools
import math
import warnings
from typing import Any

import numpy as np

from tunelab import Categorical, Float, Space, Study
from tunelab.analysis import ParamCurve, sensitivity

SPACE = Space(lr=Float(3e-5, 3.0, log=True), solver=Categorical(["sgd", "adam"]))
EPOCHS = 20


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0,
                                                      stratify=y)
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_val), y_train, y_val


def objective(trial: Any, epochs: int = EPOCHS) -> dict[str, float]:
    """Train a 32-unit MLP with the trial's solver and learning rate; the seed sets the
    initial weights and the batch order. Plain SGD (no momentum) against Adam."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x_train, x_val, y_train, y_val = _data()
    model = MLPClassifier(
        hidden_layer_sizes=(32,), solver=trial["solver"], learning_rate_init=trial["lr"],
        momentum=0.0, max_iter=epochs, batch_size=64,
        random_state=trial.seed % 2**32,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow at the largest rates
        model.fit(x_train, y_train)
    return {"val_acc": float(model.score(x_val, y_val))}


def good_decades(curve: ParamCurve, within: float = 0.05) -> float:
    """How many decades of learning rate reach a mean accuracy within ``within`` of the
    best (the width of the good range, in log10 units)."""
    best = max(curve.means)
    good = [v for v, m in zip(curve.values, curve.means, strict=True) if m >= best - within]
    return math.log10(max(good) / min(good))


def run(store: str, points: int, repeats: int, epochs: int) -> dict[str, ParamCurve]:
    curves = {}
    for solver in ("sgd", "adam"):
        study = Study(f"lr-{solver}", SPACE, metric="val_acc", direction="max", store=store,
                      seed=0)
        result = sensitivity(study, functools.partial(objective, epochs=epochs),
                             baseline={"lr": 0.01, "solver": solver}, params=["lr"],
                             points=points, repeats=repeats)
        curves[solver] = result.curve("lr")
        print(f"\n== {solver} ==")
        print(result.text())
    return curves


def draw(curves: dict[str, ParamCurve], path: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for solver, curve in curves.items():
        x = np.array(curve.values, dtype=float)
        mean, std = np.array(curve.means), np.array(curve.stds)
        ax.plot(x, mean, marker="o", label=f"{solver}: {good_decades(curve):.1f} decades of "
                                          "learning rate within 0.05 of its best")
        ax.fill_between(x, mean - std, mean + std, alpha=0.25)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("validation accuracy (mean ± seed std)")
    ax.set_title("digits MLP: learning-rate sensitivity, SGD vs Adam")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> dict[str, ParamCurve]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="lr-sensitivity.db")
    parser.add_argument("--quick", action="store_true", help="5 points, 2 seeds, 5 epochs")
    parser.add_argument("--plot", default=None, metavar="PNG")
    args = parser.parse_args(argv)
    points, repeats, epochs = (5, 2, 5) if args.quick else (9, 3, EPOCHS)
    curves = run(args.store, points, repeats, epochs)
    print()
    for solver, curve in curves.items():
        print(f"{solver}: best lr {curve.best:.3g}, mean accuracy {max(curve.means):.3f}; "
              f"decades of learning rate within 0.02 / 0.05 of it: "
              f"{good_decades(curve, 0.02):.1f} / {good_decades(curve, 0.05):.1f}; good "
              f"values (within the seed noise of the best): {[f'{v:.3g}' for v in curve.good]}")
    if args.plot:
        draw(curves, args.plot)
    return curves


if __name__ == "__main__":
    main()

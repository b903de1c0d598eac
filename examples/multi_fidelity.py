"""Multi-fidelity: ASHA and Hyperband against full training, same configurations.

A softmax regression on scikit-learn's digits, trained by minibatch SGD in NumPy, one
epoch per step. The objective reports the validation accuracy after every epoch and
keeps its weights as a checkpoint, so a trial that a scheduler pauses at a rung and later
promotes goes on from where it stopped.

* FIFO: every configuration trains for the full budget (plain random search).
* ASHA: every configuration gets 1 epoch; the best third goes on to 3, then 9, 27...
  promoted as soon as a worker is free (asynchronous successive halving).
* Hyperband: several successive-halving brackets, from "many configurations, 1 epoch"
  to "few configurations, full budget", so no single trade-off has to be picked.

The lesson: the schedulers find about as good a configuration for a fraction of the
epochs (``study.budget()`` counts them).

    python examples/multi_fidelity.py            # 27 configurations, up to 27 epochs
    python examples/multi_fidelity.py --quick    # 9 configurations, up to 9 epochs
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tunelab import ASHA, FIFOScheduler, Float, Hyperband, PowerOfTwo, RandomSearcher, Space, Study

SPACE = Space(lr=Float(1e-3, 3.0, log=True), l2=Float(1e-6, 1e-1, log=True),
              batch_size=PowerOfTwo(16, 256))


@functools.lru_cache(maxsize=1)
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return tuple(train_test_split(x / 16.0, y, test_size=0.3, random_state=0,  # type: ignore
                                  stratify=y))


def epoch(w: np.ndarray, x: np.ndarray, y: np.ndarray, config: dict[str, Any],
          rng: np.random.Generator) -> np.ndarray:
    """One pass of minibatch SGD on the softmax cross-entropy (plus L2)."""
    order = rng.permutation(len(x))
    for start in range(0, len(x), config["batch_size"]):
        rows = order[start:start + config["batch_size"]]
        logits = x[rows] @ w
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(rows)), y[rows]] -= 1.0
        w = w - config["lr"] * (x[rows].T @ p / len(rows) + config["l2"] * w)
    return w


def objective(trial: Any) -> None:
    x_train, x_val, y_train, y_val = data()
    state = trial.load_checkpoint()  # None unless a scheduler promoted a paused trial
    w = np.zeros((64, 10)) if state is None else state["w"]
    for step in range(trial.resumed_from + 1, trial.resource + 1):
        rng = np.random.default_rng([trial.seed, step])
        w = epoch(w, x_train, y_train, trial, rng)
        accuracy = float(np.mean((x_val @ w).argmax(axis=1) == y_val))
        trial.save_checkpoint({"w": w}, step=step)
        if trial.report(step, val_acc=accuracy) != "CONTINUE":
            return


def main(argv: list[str] | None = None) -> dict[str, Study]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (for CI)")
    args = parser.parse_args(argv)
    n, epochs = (9, 9) if args.quick else (27, 27)
    schedulers = {
        "fifo": FIFOScheduler(max_resource=epochs),
        "asha": ASHA(min_resource=1, max_resource=epochs, eta=3),
        "hyperband": Hyperband(min_resource=1, max_resource=epochs, eta=3),
    }
    studies = {}
    for name, scheduler in schedulers.items():
        study = Study(f"digits-{name}", SPACE, metric="val_acc", direction="max",
                      searcher=RandomSearcher(seed=0), scheduler=scheduler, store="memory")
        study.optimize(objective, n_trials=n)
        budget = study.budget()
        print(f"{name:10s} best val_acc {study.best_value:.3f}  epochs used "
              f"{budget.consumed:5.0f} ({budget.full_equivalents:.1f} full trainings)")
        studies[name] = study
    return studies


if __name__ == "__main__":
    main()

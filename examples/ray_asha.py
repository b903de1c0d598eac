"""ASHA on Ray: trials as Ray tasks, paused at rungs and resumed from their checkpoints.

The objective trains a softmax regression on scikit-learn's digits one epoch per step
(as in ``examples/multi_fidelity.py``), keeping its weights as a checkpoint, so a
trial that ASHA pauses and later promotes goes on where it stopped, on whichever Ray
worker is free. ``address=None`` starts a local Ray; ``address="auto"`` or
``"HOST:PORT"`` joins a cluster (started with ``ray start``; see docs/cluster.md).

    pip install 'tunelab[ray]'
    python examples/ray_asha.py            # 27 configurations, 1 to 27 epochs, 2 workers
    python examples/ray_asha.py --quick    # 9 configurations, 1 to 9 epochs
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

from tunelab import ASHA, Float, PowerOfTwo, Space, Study
from tunelab.executors.ray import RayExecutor

SPACE = Space(lr=Float(1e-3, 3.0, log=True), l2=Float(1e-6, 1e-1, log=True),
              batch_size=PowerOfTwo(16, 256))


def objective(trial: Any) -> None:
    """Softmax regression on digits by minibatch SGD, one epoch per step, resumable.

    Self-contained (imports inside), as Ray ships it to the worker by value."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x / 16.0, y, test_size=0.3,
                                                      random_state=0, stratify=y)
    state = trial.load_checkpoint()  # None unless ASHA promoted this paused trial
    w = np.zeros((64, 10)) if state is None else state["w"]
    size = trial["batch_size"]
    for step in range(trial.resumed_from + 1, trial.resource + 1):
        order = np.random.default_rng([trial.seed, step]).permutation(len(x_train))
        for start in range(0, len(order), size):
            rows = order[start:start + size]
            logits = x_train[rows] @ w
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(rows)), y_train[rows]] -= 1.0
            w = w - trial["lr"] * (x_train[rows].T @ p / len(rows) + trial["l2"] * w)
        accuracy = float(np.mean((x_val @ w).argmax(axis=1) == y_val))
        decision = trial.report(step, val_acc=accuracy)  # report first, then keep the state
        trial.save_checkpoint({"w": w}, step=step)
        if decision != "CONTINUE":
            return


def main(argv: list[str] | None = None) -> Study:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the size CI runs")
    parser.add_argument("--address", default=None, help="a Ray cluster (default: local Ray)")
    parser.add_argument("--store", default="memory")
    args = parser.parse_args(argv)
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local Ray only
    if args.address is None and not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    n, top = (9, 9) if args.quick else (27, 27)
    study = Study("ray-asha", SPACE, metric="val_acc", direction="max",
                  scheduler=ASHA(1, top, eta=3), store=args.store, seed=0)
    study.optimize(objective, n_trials=n,
                   executor=RayExecutor(2, address=args.address, num_cpus=1))
    budget = study.budget()
    print(f"best val_acc {study.best_value:.3f} with {study.best_trial.config}")
    print(f"epochs used {budget.consumed:g} of {n * top} for full training of every trial")
    return study


if __name__ == "__main__":
    main(sys.argv[1:])

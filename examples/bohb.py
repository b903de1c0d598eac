"""BOHB: Hyperband's brackets with a TPE model proposing the configurations.

Hyperband alone draws every new configuration at random; BOHB (``tunelab.bohb``) fits a
TPE model on the results at the largest budget where enough trials have reported, and
proposes from it (a third still at random). Same brackets, same budget: only *what* is
tried differs.

The objective is a cheap stand-in for a training run: a 6-parameter loss whose curve
falls with the budget, and whose low-budget values rank configurations only roughly (as
short trainings do). Each method runs on several seeds; the mean best loss is shown.

    python examples/bohb.py            # 5 seeds x 80 configurations
    python examples/bohb.py --quick    # 2 seeds x 30 configurations
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from tunelab import Float, Hyperband, RandomSearcher, Space, Study, bohb

SPACE = Space({f"x{i}": Float(0.0, 1.0) for i in range(6)})
OPTIMUM = np.array([0.2, 0.8, 0.5, 0.3, 0.6, 0.4])
MAX_EPOCHS = 27


def objective(trial: Any) -> None:
    """Loss at epoch ``t``: the final loss, plus a gap that closes as 1/sqrt(t) and that
    depends on the configuration in its own way, plus noise."""
    x = np.array([trial[f"x{i}"] for i in range(6)])
    final = float(np.sum((x - OPTIMUM) ** 2))
    gap = 0.5 + 0.5 * math.sin(7 * x[0] + 3 * x[1])  # what a short run gets wrong
    rng = np.random.default_rng(trial.seed)
    for t in range(1, trial.resource + 1):
        loss = final + gap / math.sqrt(t) + 0.01 * rng.normal() / math.sqrt(t)
        if trial.report(t, loss=loss) != "CONTINUE":
            return


def run(method: str, seed: int, n_trials: int) -> Study:
    if method == "bohb":
        options: dict[str, Any] = bohb(1, MAX_EPOCHS, eta=3, seed=seed)
    else:
        options = {"searcher": RandomSearcher(seed=seed),
                   "scheduler": Hyperband(1, MAX_EPOCHS, eta=3)}
    study = Study(f"{method}-{seed}", SPACE, metric="loss", store="memory", **options)
    study.optimize(objective, n_trials=n_trials)
    return study


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (for CI)")
    args = parser.parse_args(argv)
    seeds, n_trials = (2, 30) if args.quick else (5, 80)
    results: dict[str, list[float]] = {}
    for method in ("hyperband", "bohb"):
        studies = [run(method, seed, n_trials) for seed in range(seeds)]
        # best loss among trials trained to the full budget
        results[method] = [min(t.value for t in s.trials if t.value is not None
                               and t.system_attrs.get("step") == MAX_EPOCHS)
                           for s in studies]
        print(f"{method:10s} mean best loss at {MAX_EPOCHS} epochs: "
              f"{np.mean(results[method]):.4f}  (seeds: "
              f"{', '.join(f'{v:.3f}' for v in results[method])})")
    return results


if __name__ == "__main__":
    main()

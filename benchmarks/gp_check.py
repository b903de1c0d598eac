"""Quality and CPU cost of GPSearcher on Branin and Hartmann-6.

Runs GPSearcher for 100 evaluations x 10 seeds on each function (suggest() driven
directly with a growing history, as a study does), prints the mean best value and the
median CPU milliseconds per suggestion near trial 100, then the CPU per suggestion at
300 trials on Hartmann-6 for one seed. Measure single-threaded:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
        .venv/bin/python -m benchmarks.gp_check

Options: ``--seeds N``, ``--trials N``, ``--long N`` (0 skips the long run),
``--only branin|hartmann6``, ``--optuna`` (Optuna's GPSampler on the same runs; needs torch).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.problems.synthetic import FUNCTIONS, box_space, point
from tunelab import Trial, TrialStatus
from tunelab.searchers.gp import GPSearcher


def run(name: str, seed: int, trials: int) -> tuple[list[float], list[float]]:
    """Values and CPU seconds per suggestion of one GPSearcher run."""
    fn = FUNCTIONS[name]
    space = box_space(fn.bounds)
    searcher = GPSearcher(seed=seed)
    history: list[Trial] = []
    values: list[float] = []
    cpu: list[float] = []
    for number in range(trials):
        t0 = time.process_time()
        config = searcher.suggest(space, tuple(history), number)
        cpu.append(time.process_time() - t0)
        value = float(fn.f(point(config, fn.dim))[0])
        values.append(value)
        history.append(Trial(number=number, status=TrialStatus.COMPLETE, config=config,
                             metrics={"value": value}, value=value))
    return values, cpu


def run_optuna(name: str, seed: int, trials: int) -> tuple[list[float], list[float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fn = FUNCTIONS[name]
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
    values: list[float] = []
    cpu: list[float] = []
    for _ in range(trials):
        t0 = time.process_time()
        trial = study.ask()
        x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(fn.bounds)]
        cpu.append(time.process_time() - t0)
        value = float(fn.f([x])[0])
        study.tell(trial, value)
        values.append(value)
    return values, cpu


def summary(name: str, runner: Callable[..., Any], seeds: int, trials: int) -> None:
    bests: list[float] = []
    late: list[float] = []
    for seed in range(seeds):
        values, cpu = runner(name, seed, trials)
        bests.append(min(values))
        late.extend(cpu[-10:])
        print(f"  {name} seed {seed}: best {min(values):.6f}", flush=True)
    print(
        f"{name}: mean best over {seeds} seeds at {trials} evals = {statistics.mean(bests):.6f} "
        f"(optimum {FUNCTIONS[name].optimum:.6f}); median CPU per suggestion at trials "
        f"{trials - 10}-{trials - 1} = {1000 * statistics.median(late):.1f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--long", type=int, default=300)
    parser.add_argument("--only", choices=["branin", "hartmann6"], default=None)
    parser.add_argument("--optuna", action="store_true")
    args = parser.parse_args()
    runner = run_optuna if args.optuna else run
    for name in ("branin", "hartmann6"):
        if args.only in (None, name):
            summary(name, runner, args.seeds, args.trials)
    if args.long:
        _, cpu = runner("hartmann6", 0, args.long)
        print(
            f"hartmann6: median CPU per suggestion at trials {args.long - 10}-{args.long - 1}"
            f" = {1000 * statistics.median(cpu[-10:]):.1f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()

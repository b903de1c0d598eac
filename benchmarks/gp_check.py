"""Quality and CPU cost of GPSearcher on Branin and Hartmann-6 (and optionally Hartmann-3).

Runs GPSearcher for 100 evaluations x 10 seeds on each function (suggest() driven
directly with a growing history, as a study does), prints the mean best value, the number
of seeds within ``--tol`` (default 0.01) of the global optimum and the median CPU
milliseconds per suggestion near trial 100, then the CPU per suggestion at 300 trials on
Hartmann-6 for one seed. Measure single-threaded:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
        .venv/bin/python -m benchmarks.gp_check

Options: ``--seeds N``, ``--trials N``, ``--long N`` (0 skips the long run),
``--only NAME[,NAME...]`` (any of the synthetic functions, e.g. ``branin,hartmann3``),
``--optuna`` (Optuna's GPSampler instead; needs torch), ``--both`` (tunelab, then Optuna,
on each function in the same run), ``--tol X``.
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


def summary(
    name: str, runner: Callable[..., Any], seeds: int, trials: int, tol: float, label: str
) -> None:
    bests: list[float] = []
    late: list[float] = []
    optimum = FUNCTIONS[name].optimum
    for seed in range(seeds):
        values, cpu = runner(name, seed, trials)
        bests.append(min(values))
        late.extend(cpu[-10:])
        print(f"  {label} {name} seed {seed}: best {min(values):.6f}", flush=True)
    hits = sum(b - optimum <= tol for b in bests)
    print(
        f"{label} {name}: mean best over {seeds} seeds at {trials} evals = "
        f"{statistics.mean(bests):.6f} (optimum {optimum:.6f}; {hits}/{seeds} seeds within "
        f"{tol:g}); median CPU per suggestion at trials {trials - 10}-{trials - 1} = "
        f"{1000 * statistics.median(late):.1f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--long", type=int, default=300)
    parser.add_argument("--only", default="branin,hartmann6",
                        help="comma-separated function names")
    parser.add_argument("--optuna", action="store_true")
    parser.add_argument("--both", action="store_true")
    parser.add_argument("--tol", type=float, default=0.01)
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    for name in names:
        if name not in FUNCTIONS:
            parser.error(f"unknown function {name!r}; choose from {sorted(FUNCTIONS)}")
    runners: list[tuple[str, Callable[..., Any]]] = []
    if args.both or not args.optuna:
        runners.append(("tunelab", run))
    if args.both or args.optuna:
        runners.append(("optuna", run_optuna))
    for name in names:
        for label, runner in runners:
            summary(name, runner, args.seeds, args.trials, args.tol, label)
    if args.long:
        for label, runner in runners:
            _, cpu = runner("hartmann6", 0, args.long)
            print(
                f"{label} hartmann6: median CPU per suggestion at trials "
                f"{args.long - 10}-{args.long - 1} = {1000 * statistics.median(cpu[-10:]):.1f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()

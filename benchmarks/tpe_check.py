"""TPE check on Branin and Hartmann-6 at 100 evaluations, side by side with Optuna's TPE.

    python -m benchmarks.tpe_check [SPEC] [SEEDS] [--peer]   # e.g. '"tpe"' 150 --peer
    python -m benchmarks.tpe_check '"gp"' 10 --only levy,ackley   # other functions
    python -m benchmarks.tpe_check --overhead

SPEC is a searcher spec as JSON (default ``"tpe"``). Prints the mean best value over the
seeds and the median CPU milliseconds per suggestion over the last ten trials. The full
comparison lives in the benchmark harness (``python -m benchmarks.run``); this is the
quick loop used to choose TPE's defaults.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from benchmarks.problems.synthetic import FUNCTIONS, box_space, point
from tunelab import Trial, TrialStatus
from tunelab.searchers import make_searcher


def run_tunelab(fname: str, seed: int, n: int, spec: Any) -> tuple[float, float]:
    fn = FUNCTIONS[fname]
    space = box_space(fn.bounds)
    searcher = make_searcher(spec, seed=seed)
    history: list[Trial] = []
    cpu = []
    for i in range(n):
        t0 = time.process_time()
        config = searcher.suggest(space, history, i)
        cpu.append(time.process_time() - t0)
        value = float(fn.f(point(config, fn.dim)[None])[0])
        history.append(Trial(i, TrialStatus.COMPLETE, config, value=value))
    return min(float(t.value) for t in history if t.value is not None), float(
        np.median(cpu[-10:]))


def run_optuna(fname: str, seed: int, n: int) -> tuple[float, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fn = FUNCTIONS[fname]
    dists = {f"x{j}": optuna.distributions.FloatDistribution(lo, hi)
             for j, (lo, hi) in enumerate(fn.bounds)}
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    cpu = []
    best = np.inf
    for _ in range(n):
        t0 = time.process_time()
        trial = study.ask(dists)
        cpu.append(time.process_time() - t0)
        x = np.array([trial.params[f"x{j}"] for j in range(fn.dim)])
        value = float(fn.f(x[None])[0])
        best = min(best, value)
        study.tell(trial, value)
    return float(best), float(np.median(cpu[-10:]))


def overhead(n_trials: int, repeats: int = 20) -> tuple[float, float]:
    """CPU ms per TPE suggestion with ``n_trials`` finished trials in the history (Hartmann-6,
    random configurations), tunelab then Optuna, interleaved per repeat; medians."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fn = FUNCTIONS["hartmann6"]
    space = box_space(fn.bounds)
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(n_trials)]
    values = [float(fn.f(point(c, fn.dim)[None])[0]) for c in configs]
    history = [Trial(i, TrialStatus.COMPLETE, c, value=v)
               for i, (c, v) in enumerate(zip(configs, values, strict=True))]
    dists = {f"x{j}": optuna.distributions.FloatDistribution(lo, hi)
             for j, (lo, hi) in enumerate(fn.bounds)}
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.add_trials([optuna.trial.create_trial(params=c, distributions=dists, value=v)
                      for c, v in zip(configs, values, strict=True)])
    searcher = make_searcher("tpe", seed=0)
    searcher.suggest(space, history, n_trials)  # warm caches, as in a running study
    ours, theirs = [], []
    for k in range(repeats):
        t0 = time.process_time()
        searcher.suggest(space, history, n_trials + k)
        ours.append(time.process_time() - t0)
        t0 = time.process_time()
        trial = study.ask(dists)
        theirs.append(time.process_time() - t0)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # keep the history fixed
    return 1000 * float(np.median(ours)), 1000 * float(np.median(theirs))


def main(argv: list[str]) -> None:
    if "--overhead" in argv:
        for n in (100, 300, 1000, 2000):
            ours, theirs = overhead(n)
            print(f"{n} trials: tunelab TPE {ours:.2f} ms, Optuna TPE {theirs:.2f} ms CPU per "
                  f"suggestion (ratio {theirs / ours:.1f}x)", flush=True)
        return
    names = ["branin", "hartmann6"]
    if "--only" in argv:  # --only levy,ackley: other synthetic functions
        at = argv.index("--only")
        names = [n for n in argv[at + 1].split(",") if n]
        argv = argv[:at] + argv[at + 2:]
    args = [a for a in argv if a != "--peer"]
    spec = json.loads(args[0]) if args else "tpe"
    seeds = int(args[1]) if len(args) > 1 else 10
    for fname in names:
        runs = [("tunelab " + json.dumps(spec), [run_tunelab(fname, s, 100, spec)
                                                  for s in range(seeds)])]
        if "--peer" in argv:
            runs.append(("optuna-tpe", [run_optuna(fname, s, 100) for s in range(seeds)]))
        for label, r in runs:
            best = np.array([a for a, _ in r])
            se = best.std(ddof=1) / np.sqrt(len(best)) if len(best) > 1 else 0.0
            print(f"{fname} {label}: mean best {best.mean():.4f} (± {se:.4f} s.e.), "
                  f"CPU per suggestion {1000 * np.median([b for _, b in r]):.2f} ms", flush=True)
        if len(runs) == 2:
            ours, theirs = (np.array([a for a, _ in r]) for _, r in runs)
            print(f"{fname}: tunelab better on {(ours < theirs).sum()} of {seeds} seeds",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

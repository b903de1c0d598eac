"""Per-trial overhead on a local Ray cluster: tunelab's RayExecutor next to Ray Tune.

Both tools run the same trivial objective (return ``x``, drawn uniformly from [0, 1]) as
Ray tasks on one local Ray started once for the whole run (``ray.init(num_cpus=2)``), with
two trials at a time and random search. The wall time of one whole tuning run, divided by
its number of trials, is the per-trial overhead: the objective itself costs nothing. Each
tool's figure is the median over several repeats, the tools alternating within each repeat
so that drift on a busy machine hits both. tunelab records every trial in a fresh SQLite
file (its default store); Ray Tune writes its experiment folder to a temporary directory.

Usage::

    python benchmarks/ray_overhead.py [--repeats 3] [--tunelab-trials 200]
                                      [--tune-trials 10] [--out docs/benchmarks/ray-overhead.md]

Needs ``pip install 'ray[tune]'`` (``tunelab[ray]`` plus Ray Tune).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "docs" / "benchmarks" / "ray-overhead.md"
TARGET_MS = 50.0  # tunelab on Ray must stay under this per trial
CONCURRENCY = 2
WARMUP_TRIALS = 10  # untimed tunelab trials before each timed tunelab run


def _objective(config: dict) -> float:
    return float(config["x"])


def run_tunelab(n_trials: int, folder: Path) -> float:
    """Seconds for one study of ``n_trials`` trials through RayExecutor."""
    from tunelab import Float, Space, Study
    from tunelab.executors.ray import RayExecutor

    folder.mkdir(parents=True, exist_ok=True)
    study = Study("overhead", Space(x=Float(0, 1)), searcher="random", seed=0,
                  store=str(folder / "tunelab.db"), capture_environment=False)
    started = time.perf_counter()
    study.optimize(_objective, n_trials=n_trials, executor=RayExecutor(CONCURRENCY))
    elapsed = time.perf_counter() - started
    assert len(study.trials) == n_trials
    study.store.close()
    return elapsed


def _tune_trainable(config: dict) -> dict:
    return {"value": float(config["x"])}


def run_tune(n_trials: int, folder: Path) -> float:
    """Seconds for one Ray Tune run of ``n_trials`` trials."""
    from ray import tune

    tuner = tune.Tuner(
        _tune_trainable,
        param_space={"x": tune.uniform(0, 1)},
        tune_config=tune.TuneConfig(num_samples=n_trials, max_concurrent_trials=CONCURRENCY,
                                    metric="value", mode="min"),
        run_config=tune.RunConfig(storage_path=str(folder), name="overhead", verbose=0),
    )
    started = time.perf_counter()
    results = tuner.fit()
    elapsed = time.perf_counter() - started
    assert len(results) == n_trials and not results.errors
    return elapsed


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tunelab-trials", type=int, default=200)
    parser.add_argument("--tune-trials", type=int, default=10,
                        help="Ray Tune takes seconds per trial: keep this small.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    command = "python benchmarks/ray_overhead.py" + "".join(
        f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:]))

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    warnings.filterwarnings("ignore")
    import ray

    load_start = os.getloadavg()
    began = time.monotonic()
    ray.init(address="local", num_cpus=CONCURRENCY, include_dashboard=False,
             configure_logging=True, logging_level=logging.ERROR, log_to_driver=False)
    times: dict[str, list[float]] = {"tunelab": [], "tune": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:  # warm-up: Ray's worker processes
            run_tunelab(20, Path(tmp))
        for repeat in range(args.repeats):
            order = ["tunelab", "tune"] if repeat % 2 == 0 else ["tune", "tunelab"]
            for tool in order:
                with tempfile.TemporaryDirectory() as tmp:
                    if tool == "tunelab":
                        # Untimed: Ray Tune's per-trial actors displace Ray's pooled task
                        # workers, and restarting those is Ray's cost, not tunelab's.
                        run_tunelab(WARMUP_TRIALS, Path(tmp) / "warm")
                        seconds = run_tunelab(args.tunelab_trials, Path(tmp))
                        times[tool].append(seconds / args.tunelab_trials)
                    else:
                        seconds = run_tune(args.tune_trials, Path(tmp))
                        times[tool].append(seconds / args.tune_trials)
                sys.stderr.write(f"repeat {repeat + 1}/{args.repeats} {tool}: "
                                 f"{times[tool][-1] * 1000:.1f} ms/trial\n")
    finally:
        ray.shutdown()
    load_end = os.getloadavg()
    ours = statistics.median(times["tunelab"]) * 1000
    theirs = statistics.median(times["tune"]) * 1000
    verdict = "PASS" if ours < TARGET_MS else "FAIL"
    lines = [
        "# Per-trial overhead on Ray: tunelab's RayExecutor vs Ray Tune",
        "",
        "Generated by `benchmarks/ray_overhead.py`; do not edit by hand, rerun it.",
        "",
        f"- Command: `{command}`",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC",
        f"- Run time: {(time.monotonic() - began) / 60:.1f} min",
        "- Load average (1/5/15 min): "
        f"{' / '.join(f'{x:.2f}' for x in load_start)} at the start, "
        f"{' / '.join(f'{x:.2f}' for x in load_end)} at the end",
        f"- Python: {platform.python_implementation()} {platform.python_version()}",
        f"- Cores: {os.cpu_count()} logical; Ray started locally with num_cpus={CONCURRENCY}",
        f"- Packages: tunelab {_version('tunelab')}, ray {_version('ray')}",
        f"- Trials per run: tunelab {args.tunelab_trials}, Ray Tune {args.tune_trials}; "
        f"{CONCURRENCY} at a time; {args.repeats} repeats, tools alternating",
        "",
        "## Result",
        "",
        "| Tool | Median wall ms/trial | Repeats (ms/trial) |",
        "|---|---:|---|",
        f"| tunelab (RayExecutor, SQLite store) | {ours:.1f} | "
        f"{', '.join(f'{t * 1000:.1f}' for t in times['tunelab'])} |",
        f"| Ray Tune (Tuner.fit) | {theirs:.1f} | "
        f"{', '.join(f'{t * 1000:.1f}' for t in times['tune'])} |",
        "",
        f"- Ray Tune / tunelab: **{theirs / ours:.0f}x** more wall time per trial.",
        f"- Target tunelab < {TARGET_MS:.0f} ms/trial: **{verdict}** ({ours:.1f} ms).",
        "",
        "## What is measured",
        "",
        "The wall time of a whole tuning run divided by its trials, with an objective that "
        "costs nothing, so what is left is each tool's own cost per trial: proposing a "
        "configuration, scheduling the Ray task, collecting its result, recording it "
        "(tunelab: one SQLite transaction to create the trial, one to finish it; Ray Tune: "
        "its trial runner, the trial actor's start and its result and checkpoint folders). "
        "Ray itself is started once, before timing. Each timed tunelab run follows an "
        f"untimed {WARMUP_TRIALS}-trial study, so that it does not time Ray restarting its "
        "pooled task worker processes after a Ray Tune run (without it, the first tunelab "
        "run after Ray Tune measured about 50 ms/trial, the others about 10). Ray Tune "
        "starts a fresh trial actor per trial by design, which is most of its cost here; "
        "a warm-up would not change that.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    sys.stderr.write(f"wrote {args.out}\n")


if __name__ == "__main__":
    main()

"""Per-trial overhead of tunelab next to Optuna 5, measured in one run.

A trivial objective (the sum of squares of 5 floats in [-5, 5]) makes the tool's own cost
the whole cost. Both tools use random search (tunelab ``RandomSearcher``, Optuna
``RandomSampler``), once with an in-memory store and once with a fresh SQLite file.
The headline is CPU milliseconds per trial (``time.process_time``); wall time is kept as a
secondary column. Each cell is the median over several repeats, with the tools interleaved
(and their order alternated) within each repeat so that drift on a noisy machine hits both.

Usage::

    python benchmarks/overhead.py [--quick] [--repeats N] [--optuna-sqlite-max N]
                                  [--out docs/benchmarks/overhead.md]

Optuna is imported lazily, inside the Optuna functions, so the tunelab side (and the smoke
test in ``tests/test_bench_overhead_smoke.py``) runs without it.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

TOOLS = ("tunelab", "optuna")
STORES = ("memory", "sqlite")
TOOL_LABELS = {"tunelab": "tunelab", "optuna": "Optuna"}
STORE_LABELS = {"memory": "In-memory store", "sqlite": "SQLite file store"}
STORE_NOUNS = {"memory": "in-memory store", "sqlite": "SQLite file store"}

DIMS = 5
LOW, HIGH = -5.0, 5.0
PARAMS = tuple(f"x{i}" for i in range(DIMS))

SIZES = (100, 1_000, 10_000)
DEFAULT_REPEATS = {100: 5, 1_000: 5, 10_000: 3}
QUICK_SIZES = (100, 1_000)
QUICK_REPEATS = 2
#: Optuna's SQLite storage costs tens of ms per trial, so its 10,000-trial cell is opt-in.
OPTUNA_SQLITE_MAX = 1_000
QUICK_OPTUNA_SQLITE_MAX = 100
WARMUP_TRIALS = 20
#: Target: tunelab with an SQLite file spends at most this much CPU per trial.
SQLITE_TARGET_MS = 1.0

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "docs" / "benchmarks" / "overhead.md"

Cell = tuple[str, str, int]  # (tool, store, n_trials)


@dataclass(frozen=True)
class Timing:
    """One measured run: CPU and wall milliseconds per trial."""

    cpu_ms: float
    wall_ms: float


@dataclass
class Results:
    """Every measured run by cell, and the cells left out with the reason why."""

    sizes: tuple[int, ...]
    repeats: dict[int, int]
    optuna_sqlite_max: int
    runs: dict[Cell, list[Timing]] = field(default_factory=dict)
    skipped: dict[Cell, str] = field(default_factory=dict)
    seconds: float = 0.0
    load_before: str = "n/a"
    load_after: str = "n/a"

    def median(self, cell: Cell, attr: str = "cpu_ms") -> float | None:
        values = [getattr(t, attr) for t in self.runs.get(cell, [])]
        return statistics.median(values) if values else None

    def spread(self, cell: Cell, attr: str = "cpu_ms") -> tuple[float, float] | None:
        values = [getattr(t, attr) for t in self.runs.get(cell, [])]
        return (min(values), max(values)) if values else None


# ---------------------------------------------------------------------------- measuring


def _objective_value(values: Sequence[float]) -> float:
    return sum(v * v for v in values)


@contextmanager
def _sqlite_file(workdir: Path | None, tag: str) -> Iterator[Path]:
    """A fresh SQLite path under ``workdir`` (or a new temp dir), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="tunelab-bench-", dir=workdir) as tmp:
        yield Path(tmp) / f"{tag}.db"


def _timed(run: Callable[[], None], n_trials: int) -> Timing:
    gc.collect()
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    run()
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    return Timing(cpu_ms=cpu * 1e3 / n_trials, wall_ms=wall * 1e3 / n_trials)


def measure_tunelab(
    n_trials: int, store: str, *, seed: int = 0, workdir: Path | None = None
) -> Timing:
    """Time ``n_trials`` tunelab trials of the 5-D objective; ``store`` is memory or sqlite.

    Only ``Study.optimize`` is timed: creating the study and its store is a one-off cost.
    """
    import tunelab

    _check_args(n_trials, store)
    space = tunelab.Space({p: tunelab.Float(LOW, HIGH) for p in PARAMS})

    def objective(config: Mapping[str, Any]) -> float:
        return _objective_value([config[p] for p in PARAMS])

    def run_with(url: str) -> Timing:
        study = tunelab.Study(
            f"overhead-{n_trials}-{seed}",
            space,
            store=url,
            seed=seed,
            searcher=tunelab.RandomSearcher(seed=seed),
        )
        try:
            timing = _timed(lambda: study.optimize(objective, n_trials=n_trials), n_trials)
            done = len(study.completed())
        finally:
            close = getattr(study.store, "close", None)
            if close is not None:
                close()
        if done != n_trials:
            raise RuntimeError(f"tunelab ran {done} trials, expected {n_trials}")
        return timing

    if store == "memory":
        return run_with("memory")
    with _sqlite_file(workdir, f"tunelab-{n_trials}-{seed}") as path:
        return run_with(f"sqlite:///{path}")


def silence_optuna() -> None:
    """Keep Optuna's per-trial INFO lines out of the output (and out of the timing)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def measure_optuna(
    n_trials: int, store: str, *, seed: int = 0, workdir: Path | None = None
) -> Timing:
    """Time ``n_trials`` Optuna trials of the same objective with ``RandomSampler``.

    The SQLite case uses a fresh ``sqlite:///`` URL (an ``RDBStorage``, which Optuna
    wraps in its cache exactly as it does for a URL string). Only ``optimize`` is timed.
    """
    import optuna

    _check_args(n_trials, store)
    silence_optuna()

    def objective(trial: optuna.Trial) -> float:
        return _objective_value([trial.suggest_float(p, LOW, HIGH) for p in PARAMS])

    def run_with(storage: Any) -> Timing:
        study = optuna.create_study(
            storage=storage,
            sampler=optuna.samplers.RandomSampler(seed=seed),
            study_name=f"overhead-{n_trials}-{seed}",
            direction="minimize",
        )
        timing = _timed(lambda: study.optimize(objective, n_trials=n_trials), n_trials)
        done = len(study.trials)
        if done != n_trials:
            raise RuntimeError(f"Optuna ran {done} trials, expected {n_trials}")
        return timing

    if store == "memory":
        return run_with(None)
    with _sqlite_file(workdir, f"optuna-{n_trials}-{seed}") as path:
        storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
        try:
            return run_with(storage)
        finally:
            storage.remove_session()
            storage.engine.dispose()


MEASURES: dict[str, Callable[..., Timing]] = {
    "tunelab": measure_tunelab,
    "optuna": measure_optuna,
}


def _check_args(n_trials: int, store: str) -> None:
    if store not in STORES:
        raise ValueError(f"store must be one of {STORES}; got {store!r}")
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1; got {n_trials}")


def run_benchmark(
    sizes: Sequence[int],
    repeats: Mapping[int, int],
    optuna_sqlite_max: int,
    *,
    workdir: Path | None = None,
    log: Callable[[str], None] = print,
) -> Results:
    """Measure every (tool, store, size) cell ``repeats[size]`` times, interleaved.

    Within one repeat of one size each store runs both tools back to back, tunelab first
    on even repeats and Optuna first on odd ones. Repeat ``r`` uses seed ``r`` in both.
    """
    results = Results(tuple(sizes), {n: repeats[n] for n in sizes}, optuna_sqlite_max)
    for n in sizes:
        if n > optuna_sqlite_max:
            results.skipped[("optuna", "sqlite", n)] = (
                f"above --optuna-sqlite-max {optuna_sqlite_max:,}"
            )
    results.load_before = load_average()
    start = time.perf_counter()
    log(f"warm-up: {WARMUP_TRIALS} trials per tool and store (not recorded)")
    for tool in TOOLS:
        for store in STORES:
            MEASURES[tool](WARMUP_TRIALS, store, seed=10_000, workdir=workdir)
    for n in sizes:
        for r in range(repeats[n]):
            order = TOOLS if r % 2 == 0 else TOOLS[::-1]
            for store in STORES:
                for tool in order:
                    cell = (tool, store, n)
                    if cell in results.skipped:
                        continue
                    timing = MEASURES[tool](n, store, seed=r, workdir=workdir)
                    results.runs.setdefault(cell, []).append(timing)
                    log(
                        f"{n:>6,} trials  repeat {r + 1}/{repeats[n]}  {store:<6}  "
                        f"{tool:<7}  cpu {timing.cpu_ms:8.3f} ms/trial  "
                        f"wall {timing.wall_ms:8.3f} ms/trial"
                    )
    results.seconds = time.perf_counter() - start
    results.load_after = load_average()
    return results


def load_average() -> str:
    """The 1/5/15-minute load average (other work on a shared machine inflates timings)."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


# ---------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    target: str
    n_trials: int
    tunelab_ms: float | None
    limit_ms: float | None
    limit_label: str

    @property
    def passed(self) -> bool | None:
        if self.tunelab_ms is None or self.limit_ms is None:
            return None
        return self.tunelab_ms <= self.limit_ms

    @property
    def word(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


MEMORY_TARGET = "In memory: tunelab CPU/trial <= Optuna's in-memory CPU/trial"
SQLITE_TARGET = f"SQLite: tunelab CPU/trial <= {SQLITE_TARGET_MS:g} ms"


def verdicts(results: Results) -> list[Verdict]:
    out = []
    for n in results.sizes:
        out.append(
            Verdict(
                MEMORY_TARGET,
                n,
                results.median(("tunelab", "memory", n)),
                results.median(("optuna", "memory", n)),
                "Optuna in memory",
            )
        )
    for n in results.sizes:
        out.append(
            Verdict(
                SQLITE_TARGET,
                n,
                results.median(("tunelab", "sqlite", n)),
                SQLITE_TARGET_MS,
                "fixed",
            )
        )
    return out


def overall(vs: Sequence[Verdict], target: str) -> str:
    states = [v.passed for v in vs if v.target == target and v.passed is not None]
    if not states:
        return "n/a"
    return "PASS" if all(states) else "FAIL"


# ---------------------------------------------------------------------------- report


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "not run"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _fmt_cell(results: Results, cell: Cell, attr: str) -> str:
    med = results.median(cell, attr)
    spread = results.spread(cell, attr)
    if med is None or spread is None:
        return "not run"
    if len(results.runs[cell]) == 1:
        return _fmt_ms(med)
    return f"{_fmt_ms(med)} ({_fmt_ms(spread[0])}-{_fmt_ms(spread[1])})"


def ratio(results: Results, store: str, n: int, attr: str = "cpu_ms") -> float | None:
    t = results.median(("tunelab", store, n), attr)
    o = results.median(("optuna", store, n), attr)
    if t is None or o is None or t <= 0:
        return None
    return o / t


def _fmt_ratio(value: float | None) -> str:
    return "not run" if value is None else f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cores() -> str:
    logical = os.cpu_count()
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = logical
    return f"{logical} logical ({usable} usable by this process)"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, str]:
    return {
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": platform.platform(),
        "CPU": _cpu_model(),
        "Cores": _cores(),
        "SQLite library": _sqlite_version(),
    }


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def package_versions() -> dict[str, str]:
    return {name: _version(name) for name in ("tunelab", "optuna", "sqlalchemy", "numpy")}


def source_revision() -> str:
    """The git commit of the tunelab checkout measured, and whether src/ had local edits."""
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
        if done.returncode != 0:
            raise OSError(done.stderr.strip())
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--", "src")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{commit}" + (" plus uncommitted changes under src/" if dirty else " (clean src/)")


def render_markdown(
    results: Results, command: str, when: datetime, revision: str | None = None
) -> str:
    vs = verdicts(results)
    if revision is None:
        revision = source_revision()
    lines = [
        "# Per-trial overhead: tunelab vs Optuna",
        "",
        "Generated by `benchmarks/overhead.py`; do not edit by hand, rerun it.",
        "",
        f"- Command: `{command}`",
        f"- Date: {when.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- Run time: {results.seconds / 60:.1f} min",
        f"- Load average (1/5/15 min): {results.load_before} at the start, "
        f"{results.load_after} at the end",
    ]
    lines += [f"- {key}: {value}" for key, value in machine_info().items()]
    lines += [
        "- Packages: "
        + ", ".join(f"{k} {v}" for k, v in package_versions().items()),
        f"- tunelab source: git {revision}",
        "",
        "## Targets",
        "",
        f"- **{overall(vs, MEMORY_TARGET)}** — {MEMORY_TARGET}",
        f"- **{overall(vs, SQLITE_TARGET)}** — {SQLITE_TARGET}",
        "",
        "| Target | Trials | tunelab CPU ms/trial | Limit (ms) | Verdict |",
        "|---|---:|---:|---:|:---:|",
    ]
    for v in vs:
        limit = _fmt_ms(v.limit_ms)
        if v.limit_label != "fixed" and v.limit_ms is not None:
            limit = f"{limit} ({v.limit_label})"
        lines.append(
            f"| {v.target} | {v.n_trials:,} | {_fmt_ms(v.tunelab_ms)} | {limit} | {v.word} |"
        )
    lines += [
        "",
        "## Headline: Optuna CPU time / tunelab CPU time per trial",
        "",
        "Above 1x means tunelab spends less CPU per trial than Optuna.",
        "",
        "| Store | " + " | ".join(f"{n:,} trials" for n in results.sizes) + " |",
        "|---|" + "---:|" * len(results.sizes),
    ]
    for store in STORES:
        cells = " | ".join(_fmt_ratio(ratio(results, store, n)) for n in results.sizes)
        lines.append(f"| {STORE_LABELS[store]} | {cells} |")
    for store in STORES:
        lines += [
            "",
            f"## {STORE_LABELS[store]}",
            "",
            "Milliseconds per trial: median over the repeats (min-max in brackets).",
            "",
            "| Trials | Repeats | Ratio Optuna/tunelab (CPU) | tunelab CPU | Optuna CPU "
            "| Ratio (wall) | tunelab wall | Optuna wall |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n in results.sizes:
            t_cell, o_cell = ("tunelab", store, n), ("optuna", store, n)
            lines.append(
                f"| {n:,} | {results.repeats[n]} "
                f"| **{_fmt_ratio(ratio(results, store, n))}** "
                f"| {_fmt_cell(results, t_cell, 'cpu_ms')} "
                f"| {_fmt_cell(results, o_cell, 'cpu_ms')} "
                f"| {_fmt_ratio(ratio(results, store, n, 'wall_ms'))} "
                f"| {_fmt_cell(results, t_cell, 'wall_ms')} "
                f"| {_fmt_cell(results, o_cell, 'wall_ms')} |"
            )
    lines += ["", "## Cells not run", ""]
    if not results.skipped:
        lines.append("None: every cell was measured.")
    for (tool, store, n), reason in sorted(results.skipped.items(), key=lambda kv: kv[0][2]):
        lines.append(
            f"- {TOOL_LABELS[tool]} with the {STORE_NOUNS[store]}, {n:,} trials: {reason}. "
            f"{_skip_explanation(results, tool, store, n)}"
        )
    lines += [
        "",
        "## Method",
        "",
        f"- Objective: sum of squares of {DIMS} floats, each uniform in [{LOW:g}, {HIGH:g}]; "
        "tunelab reads them from the config, Optuna asks for them with `suggest_float`.",
        "- Search: tunelab `RandomSearcher(seed=r)`, Optuna `RandomSampler(seed=r)`, where "
        "`r` is the repeat index; one sequential worker each, Optuna logging at WARNING.",
        "- Stores: tunelab `store=\"memory\"` / Optuna's default in-memory storage, and a "
        "fresh SQLite file per run in a temporary directory (tunelab `sqlite:///...`, "
        "Optuna `RDBStorage(\"sqlite:///...\")`).",
        "- Timed: only the `optimize(objective, n_trials=N)` call; creating the study and "
        "store (schema set-up) is excluded. CPU time is `time.process_time()` (this "
        "process, all threads, user + system); wall time is `time.perf_counter()`. "
        "`gc.collect()` runs before each timed call; the garbage collector stays on.",
        f"- A warm-up of {WARMUP_TRIALS} trials per tool and store runs first and is not "
        "recorded (imports, statement caches).",
        "- Interleaving: for each size and repeat both stores run both tools back to back, "
        "tunelab first on even repeats and Optuna first on odd ones, so machine drift "
        "hits both tools alike. Cells report the median over repeats.",
        "",
    ]
    return "\n".join(lines)


def _skip_explanation(results: Results, tool: str, store: str, n: int) -> str:
    if (tool, store) != ("optuna", "sqlite"):
        return ""
    measured = [m for (t, s, m) in results.runs if (t, s) == ("optuna", "sqlite")]
    text = "Optuna's SQLite storage costs tens of ms per trial"
    if measured:
        largest = max(measured)
        wall = results.median(("optuna", "sqlite", largest), "wall_ms")
        cpu = results.median(("optuna", "sqlite", largest), "cpu_ms")
        assert wall is not None and cpu is not None
        minutes = wall * n * results.repeats[n] / 60_000
        text = (
            f"Optuna's SQLite storage took {_fmt_ms(cpu)} ms CPU / {_fmt_ms(wall)} ms wall "
            f"per trial at {largest:,} trials here, so {results.repeats[n]} x {n:,} trials "
            f"would take at least ~{minutes:.0f} min"
        )
    return f"{text}; rerun with `--optuna-sqlite-max {n}` to include it."


def render_summary(results: Results) -> str:
    """The verdicts and headline ratios, for the terminal."""
    vs = verdicts(results)
    lines = []
    for v in vs:
        lines.append(
            f"{v.word:<4}  {v.target}  [{v.n_trials:,} trials: tunelab "
            f"{_fmt_ms(v.tunelab_ms)} ms vs limit {_fmt_ms(v.limit_ms)} ms]"
        )
    for store in STORES:
        for n in results.sizes:
            lines.append(
                f"ratio Optuna/tunelab CPU  {store:<6} {n:>6,} trials: "
                f"{_fmt_ratio(ratio(results, store, n))}"
            )
    lines.append(f"overall: memory target {overall(vs, MEMORY_TARGET)}, "
                 f"sqlite target {overall(vs, SQLITE_TARGET)}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- CLI


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1; got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/overhead.py",
        description="Per-trial CPU overhead of tunelab next to Optuna 5 (random search, "
        "5-D trivial objective, in-memory and SQLite stores).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"only 100 and 1,000 trials, {QUICK_REPEATS} repeats each, Optuna+SQLite capped "
        f"at {QUICK_OPTUNA_SQLITE_MAX} unless --optuna-sqlite-max says otherwise (CI smoke)",
    )
    parser.add_argument(
        "--repeats",
        type=_positive_int,
        default=None,
        help="repeats per size (default: 5 at 100 and 1,000 trials, 3 at 10,000)",
    )
    parser.add_argument(
        "--optuna-sqlite-max",
        type=_positive_int,
        default=None,
        help=f"largest trial count run for Optuna with SQLite (default {OPTUNA_SQLITE_MAX:,}; "
        "10000 runs every cell, ~10+ min)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="where to write the Markdown report (default docs/benchmarks/overhead.md)",
    )
    return parser


def _command(argv: Sequence[str]) -> str:
    script = Path(__file__).resolve()
    try:
        shown = script.relative_to(Path.cwd())
    except ValueError:
        shown = script
    return shlex.join(["python", str(shown), *argv])


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(args_list)
    sizes = QUICK_SIZES if args.quick else SIZES
    if args.repeats is not None:
        repeats = {n: args.repeats for n in sizes}
    elif args.quick:
        repeats = {n: QUICK_REPEATS for n in sizes}
    else:
        repeats = {n: DEFAULT_REPEATS[n] for n in sizes}
    cap = args.optuna_sqlite_max
    if cap is None:
        cap = QUICK_OPTUNA_SQLITE_MAX if args.quick else OPTUNA_SQLITE_MAX
    try:
        silence_optuna()
    except ImportError:
        print("Optuna is not installed: pip install 'tunelab[bench]'", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    when = datetime.now(timezone.utc)
    revision = source_revision()  # at the start: the code that gets imported and measured
    results = run_benchmark(sizes, repeats, cap, log=log)
    report = render_markdown(results, _command(args_list), when, revision)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")
    print(render_summary(results))
    print(f"report written to {out}")
    return 0  # a report, not a gate: the verdicts are printed and written


if __name__ == "__main__":
    sys.exit(main())

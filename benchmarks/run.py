"""Run a search benchmark suite and write its data and report.

Usage::

    python -m benchmarks.run --suite smoke|quick|full|mf [--seeds N] [--families a,b]
                             [--methods m1,m2] [--jobs 2] [--out docs/benchmarks]
                             [--resume JOURNAL.jsonl]

Writes ``OUT/data/search-<suite>.json.gz`` (everything, for rebuilding reports),
``OUT/data/search-<suite>-traces.csv.gz`` (one row per trace point),
``OUT/search-<suite>.md`` and its plots in ``OUT/img/``. The multi-fidelity suite
(``--suite mf``) writes ``multi-fidelity.json.gz``, ``multi-fidelity-traces.csv.gz`` and
``OUT/multi-fidelity.md`` instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import results
from benchmarks.harness.methods import METHODS
from benchmarks.harness.report import write_any_report
from benchmarks.harness.runner import RunResult, RunTask, run_many
from benchmarks.harness.suites import SUITES, plan
from benchmarks.problems import FAMILIES

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "docs" / "benchmarks"


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=list(SUITES), default="quick")
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of seeds (0..N-1); default: the suite's")
    parser.add_argument("--families", default=None,
                        help=f"comma-separated subset of {', '.join(FAMILIES)}")
    parser.add_argument("--methods", default=None,
                        help=f"comma-separated subset of {', '.join(METHODS)}")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes over runs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="report folder (data in OUT/data, plots in OUT/img)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--resume", type=Path, default=None, metavar="JOURNAL",
                        help="append each finished run to this JSON-lines file and skip the "
                             "runs it already holds (a long suite survives interruptions)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = "python -m benchmarks.run " + shlex.join(argv)
    the_plan = plan(args.suite, seeds=args.seeds, families=_csv(args.families),
                    methods=_csv(args.methods))
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    for fam, reason in the_plan.missing_families.items():
        say(f"[bench] family {fam} left out: {reason}")
    say(f"[bench] {args.suite}: {len(the_plan.problems)} problems, "
        f"{len(the_plan.tasks)} runs, {len(the_plan.seeds)} seeds, jobs={args.jobs}")
    start = time.perf_counter()
    last = [start]

    def progress(done: int, total: int, run: RunResult) -> None:
        now = time.perf_counter()
        if run.status != "ok":
            say(f"[bench] FAILED {run.method} on {run.problem} seed {run.seed}: {run.error}")
        if done == total or now - last[0] > 15:
            last[0] = now
            say(f"[bench] {done}/{total} runs, {now - start:.0f} s")

    problems = {p.name: p for p in the_plan.problems}
    journal = Journal(args.resume) if args.resume else None
    tasks = list(the_plan.tasks)
    earlier: list[RunResult] = []
    if journal is not None:
        earlier = journal.matching(tasks)
        held = {r.key for r in earlier}
        tasks = [t for t in tasks if t.key not in held]
        say(f"[bench] resume: {len(earlier)} runs from {args.resume}, {len(tasks)} to run")

    def record(done: int, total: int, run: RunResult) -> None:
        if journal is not None and run.status == "ok":
            journal.append(run)
        progress(done, total, run)

    fresh = run_many(tasks, args.jobs, problems=problems, progress=record)
    order = {t.key: i for i, t in enumerate(the_plan.tasks)}
    runs = sorted([*earlier, *fresh], key=lambda r: order[r.key])
    wall = time.perf_counter() - start
    by_name = {p.name: p for p in the_plan.problems}
    problem_records: list[dict[str, Any]] = [
        results.problem_record(p, the_plan.suite.budget(p), the_plan.suite.n_workers(p))
        for p in by_name.values()
    ]
    meta = results.collect_meta(
        command,
        suite=args.suite,
        suite_description=the_plan.suite.description,
        seeds=the_plan.seeds,
        jobs=args.jobs,
        wall_seconds=round(wall, 1),
        resumed_runs=len(earlier),
        families=sorted({p.family for p in the_plan.problems}),
    )
    suite = the_plan.suite
    json_path, csv_path, data = results.save(
        args.out / "data", args.suite, meta, problem_records, runs, the_plan.skipped,
        the_plan.missing_families, the_plan.methods, incumbent=suite.incumbent,
        slug=suite.file_slug, report=suite.report,
    )
    report = write_any_report(data, args.out, data_path=_display(json_path))
    failed = sum(r.status != "ok" for r in runs)
    say(f"[bench] {len(runs)} runs in {wall:.1f} s ({failed} failed)")
    say(f"[bench] data:   {json_path}\n[bench] traces: {csv_path}\n[bench] report: {report}")
    return 0


class Journal:
    """A JSON-lines file of finished runs, one per line, appended as they finish."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def matching(self, tasks: Sequence[RunTask]) -> list[RunResult]:
        """The journal's runs that belong to ``tasks`` (the last copy of each)."""
        wanted = {t.key for t in tasks}
        found: dict[tuple[str, str, int, int, int], RunResult] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    run = RunResult.from_dict(json.loads(line))
                except (ValueError, TypeError):
                    continue  # a line cut short by an interruption
                if run.key in wanted:
                    found[run.key] = run
        return list(found.values())

    def append(self, run: RunResult) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(run.to_dict(), separators=(",", ":")) + "\n")


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


#: Every run is one process on one core: BLAS thread pools on these shared cores make
#: small matrix work (GP fits) 10-50x slower, for every tool alike. Environment cards are
#: off: a card costs ~0.1 s once per process and minute, not per trial, and a harness run
#: is too short to spread it (the peers record no card).
FIXED_ENV = {"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
             "MKL_NUM_THREADS": "1", "TUNELAB_CAPTURE_ENV": "0"}


def _fix_hash_seed() -> None:
    """Re-run this command with ``PYTHONHASHSEED=0`` (SMAC3's proposals follow the
    iteration order of sets, which depends on Python's per-process hash seed) and one
    BLAS thread per process (inherited by the worker processes)."""
    if any(os.environ.get(k) != v for k, v in FIXED_ENV.items()):
        env = {**os.environ, **FIXED_ENV}
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks.run", *sys.argv[1:]], env)


if __name__ == "__main__":
    _fix_hash_seed()
    sys.exit(main())

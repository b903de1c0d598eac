"""Results as data: one JSON file (gzip) per suite run, and a flat CSV (gzip) of traces.

The JSON holds everything a report needs, so reports are rebuilt without rerunning::

    {"schema": 1, "suite": ..., "incumbent": "last" | "full", "report": "search" | ...,
     "meta": {date, command, seeds, versions, machine, ...},
     "problems": [{name, family, metric, direction, optimum, worst, max_steps, real,
                   budget, budget_unit, workers, dims}],
     "methods": [{name, tool, description}], "method_order": [...],
     "skipped": [{method, problem, kind, reason}], "missing_families": {family: reason},
     "runs": [{method, problem, family, seed, budget, workers, status, error, trials,
               steps, seconds, cpu_total_s, cpu_eval_s, overhead_ms, wall_s, incumbent,
               configs, full_evals, utilization, trace: {evals, steps, seconds, best,
               regret}}]}

``incumbent`` (absent in files written before it existed: ``"last"``) says which results
could become the best so far: see :mod:`benchmarks.harness.runner`. Files are named
``<slug>.json.gz`` (``search-<suite>`` unless the suite names another slug).
"""

from __future__ import annotations

import csv
import gzip
import importlib.metadata
import io
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.harness.methods import METHODS, PEER_NOTES
from benchmarks.harness.runner import RunResult, iter_traces
from benchmarks.problems import Problem
from tunelab.tracking import cpu_model

__all__ = [
    "collect_meta",
    "load",
    "problem_record",
    "save",
]

SCHEMA = 1
CSV_FIELDS = ("family", "problem", "method", "seed", "evals", "steps", "seconds", "best",
              "regret", "workers")
_PACKAGES = ("tunelab", "optuna", "smac", "ConfigSpace", "cmaes", "numpy", "scipy",
             "scikit-learn", "pandas", "matplotlib", "dehb", "torch")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parents[2], check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def collect_meta(command: str, **extra: Any) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    dirty = _git("status", "--porcelain")
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(dirty),
        "python": sys.version.split()[0],
        "versions": versions,
        "machine": {
            "platform": platform.platform(),
            "cpu": cpu_model(),
            "cpus": os.cpu_count(),
        },
        **extra,
    }


def problem_record(problem: Problem, budget: int, workers: int) -> dict[str, Any]:
    return {
        "name": problem.name,
        "family": problem.family,
        "metric": problem.metric,
        "direction": problem.direction,
        "optimum": float(problem.optimum),
        "worst": float(problem.worst),
        "max_steps": int(problem.max_steps),
        "real": bool(problem.real),
        "budget": int(budget),
        "budget_unit": "evaluations" if problem.max_steps <= 1 else "steps",
        "workers": int(workers),
        "dims": len(problem.space),
    }


def _round(x: float | None, digits: int = 7) -> float | None:
    if x is None:
        return None
    return float(f"{x:.{digits}g}")


def _compact(run: dict[str, Any]) -> dict[str, Any]:
    trace = run["trace"]
    trace["seconds"] = [_round(x) for x in trace["seconds"]]
    trace["best"] = [_round(x, 10) for x in trace["best"]]
    trace["regret"] = [_round(x) for x in trace["regret"]]
    for key in ("seconds", "cpu_total_s", "cpu_eval_s", "overhead_ms", "wall_s"):
        run[key] = _round(run[key], 5)
    if run.get("utilization"):
        run["utilization"] = {k: _round(v, 6) for k, v in run["utilization"].items()}
    return run


def save(
    out_dir: Path,
    suite: str,
    meta: Mapping[str, Any],
    problems: Sequence[Mapping[str, Any]],
    runs: Sequence[RunResult],
    skipped: Sequence[Mapping[str, Any]],
    missing_families: Mapping[str, str],
    method_order: Sequence[str],
    *,
    incumbent: str = "last",
    slug: str | None = None,
    report: str = "search",
) -> tuple[Path, Path, dict[str, Any]]:
    """Write ``<slug>.json.gz`` and ``<slug>-traces.csv.gz`` under ``out_dir`` (slug:
    ``search-<suite>`` by default); returns both paths and the data."""
    slug = slug or f"search-{suite}"
    out_dir.mkdir(parents=True, exist_ok=True)
    used = {r.method for r in runs}
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "suite": suite,
        "incumbent": incumbent,
        "report": report,
        "meta": dict(meta),
        "problems": list(problems),
        "methods": [
            {"name": m.name, "tool": m.tool, "description": m.description}
            for m in METHODS.values()
            if m.name in used or m.name in method_order
        ],
        "method_order": [m for m in method_order if m in used],
        "peer_notes": list(PEER_NOTES),
        "skipped": list(skipped),
        "missing_families": dict(missing_families),
        "runs": [_compact(r.to_dict()) for r in runs],
    }
    json_path = out_dir / f"{slug}.json.gz"
    _write_gz(json_path, json.dumps(data, separators=(",", ":")))
    csv_path = out_dir / f"{slug}-traces.csv.gz"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows(iter_traces(data["runs"]))
    _write_gz(csv_path, buffer.getvalue())
    return json_path, csv_path, data


def _write_gz(path: Path, text: str) -> None:
    """Gzip with no timestamp in the header, so equal data gives equal bytes."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(text.encode("utf-8"))


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a results file (``.json`` or ``.json.gz``)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: unknown results schema {data.get('schema')!r}")
    return data

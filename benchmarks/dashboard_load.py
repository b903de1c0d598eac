"""Dashboard latency at 10,000 trials while workers keep writing to the same store.

Builds a SQLite store with a 10,000-trial study (a tenth of them with 20 reported steps),
starts ``tunelab.dashboard.serve`` on it in a subprocess (the same code as ``tunelab
dashboard --store``), starts a writer (``Study.optimize(workers=3)`` on the same study, a
trivial objective that reports 3 steps with a short sleep), then polls the API endpoints
a study page uses, each from its own client thread, for ``--seconds``. Reports p50, p95
and max latency per endpoint and whether any worker errored, and writes
``docs/benchmarks/dashboard.md``. The goal: p95 < 300 ms for every endpoint, 0 worker
errors.

Usage (from the repository root)::

    python -m benchmarks.dashboard_load [--trials 10000] [--seconds 30] [--workers 3]
                                        [--pause 0.2] [--out docs/benchmarks/dashboard.md]

On a busy or small machine the writer, the server and the clients compete for the same
cores: the file records the core count and load average next to the numbers.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import shlex
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

STUDY = "big"
GOAL_MS = 300.0
ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = {
    "studies": "/api/studies",
    "study": f"/api/studies/{STUDY}",
    "trials page (sort=value)": f"/api/studies/{STUDY}/trials?sort=value&order=asc&limit=50",
    "history": f"/api/studies/{STUDY}/history",
    "curves": f"/api/studies/{STUDY}/curves",
    "slices": f"/api/studies/{STUDY}/slices",
}
MARK_START, MARK_END = "<!-- results: start -->", "<!-- results: end -->"


def space() -> Any:
    from tunelab import Categorical, Float, Int, Space

    return Space(lr=Float(1e-4, 1.0, log=True), layers=Int(1, 8),
                 dropout=Float(0.0, 0.5), opt=Categorical(["sgd", "adam", "rmsprop"]))


def loss_of(config: dict[str, Any], step: int) -> float:
    return abs(config["lr"] - 0.01) + 1.0 / step + 0.01 * config["layers"] + config["dropout"] / 10


def objective(trial: Any) -> dict[str, float]:
    """The writer's objective: 3 reported steps, 30 ms each."""
    loss = 1.0
    for step in range(1, 4):
        time.sleep(0.03)
        loss = loss_of(trial.config, step)
        trial.report(step, loss=loss)
    return {"loss": loss}


def build_store(path: str, n_trials: int, reported_every: int = 10, steps: int = 20) -> None:
    """``n_trials`` trials through the store API (one transaction each, as workers do)."""
    import numpy as np

    from tunelab import Study, TrialStatus
    from tunelab.trial import Report

    study = Study(STUDY, space(), metric="loss", store=path, seed=0, searcher="random",
                  capture_environment=False)
    rng = np.random.default_rng(0)
    store, sid = study.store, study._record.id
    t0 = time.time()
    for i in range(n_trials):
        config = study.space.sample(rng)
        status = TrialStatus.FAILED if i % 50 == 7 else (
            TrialStatus.STOPPED if i % 4 == 1 else TrialStatus.COMPLETE)
        top = steps if status is TrialStatus.COMPLETE else steps // 4
        value = None if status is TrialStatus.FAILED else loss_of(config, top)
        trial = store.create_trial(sid, config, status=status, value=value,
                                   metrics=None if value is None else {"loss": value})
        if i % reported_every == 0 and value is not None:
            store.add_reports(trial.id, [Report(s, {"loss": loss_of(config, s)}, t0 + s)
                                         for s in range(1, top + 1)])
        if (i + 1) % 2000 == 0:
            print(f"  store: {i + 1} trials ({time.time() - t0:.0f} s)", flush=True)


def write(path: str, seconds: float, workers: int) -> None:
    """The writer process: the same study, ``workers`` worker processes."""
    from tunelab import Study

    Study(STUDY, store=path).optimize(objective, timeout=seconds, workers=workers)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the dashboard did not start on port {port}")


def poll(port: int, path: str, until: float, pause: float, out: list[float],
         errors: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.time() < until:
        t = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                errors.append(f"{path}: HTTP {response.status} {body[:200]!r}")
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{path}: {exc!r}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        out.append((time.perf_counter() - t) * 1000)
        time.sleep(pause)
    conn.close()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(args.store_dir or tempfile.mkdtemp(prefix="tunelab-dash-load-"))
    path = str(folder / "load.db")
    if os.path.exists(path):
        os.remove(path)
    print(f"building {args.trials} trials in {path}", flush=True)
    t = time.time()
    build_store(path, args.trials)
    build_s = time.time() - t
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys; from tunelab.dashboard import serve; "
         "serve(sys.argv[1], port=int(sys.argv[2]), announce=lambda s: None)", path, str(port)],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    writer = None
    try:
        wait_up(port)
        for p in ENDPOINTS.values():  # warm up (imports, first read)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", p)
            conn.getresponse().read()
        load_before = os.getloadavg()
        writer = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.dashboard_load", "--write", path,
             "--seconds", str(args.seconds + 3), "--workers", str(args.workers)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)  # let the workers start writing
        until = time.time() + args.seconds
        samples: dict[str, list[float]] = {k: [] for k in ENDPOINTS}
        errors: list[str] = []
        threads = [threading.Thread(target=poll, args=(port, p, until, args.pause, samples[k],
                                                       errors)) for k, p in ENDPOINTS.items()]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        load_after = os.getloadavg()
        _, w_err = writer.communicate(timeout=args.seconds + 120)
    finally:
        if writer is not None and writer.poll() is None:
            writer.kill()
        server.terminate()
        try:
            _, s_err = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            s_err = ""
    from tunelab.store import open_store

    store = open_store(path)
    new: dict[str, int] = {}
    for trial in store.get_trials(store.get_study(STUDY).id):
        if trial.number >= args.trials:
            new[trial.status.value] = new.get(trial.status.value, 0) + 1
    store.close()
    stderr_problems = [ln for ln in w_err.splitlines()
                       if "Traceback" in ln or "locked" in ln or "Error" in ln]
    return {
        "samples": samples, "errors": errors, "new_trials": new, "writer_rc": writer.returncode,
        "writer_stderr": stderr_problems[:20], "server_stderr": s_err.strip()[-2000:],
        "build_s": build_s, "load": (load_before, load_after), "path": path,
    }


def environment() -> list[str]:
    import importlib.metadata as md

    def ver(p: str) -> str:
        try:
            return md.version(p)
        except md.PackageNotFoundError:
            return "-"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit = "?"
    command = ["python", "-m", "benchmarks.dashboard_load", *sys.argv[1:]]
    return [
        f"- Command: `{' '.join(shlex.quote(a) for a in command)}`",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC",
        f"- Python: {platform.python_implementation()} {platform.python_version()}; "
        f"SQLite {sqlite3.sqlite_version}",
        f"- Packages: tunelab {ver('tunelab')}, fastapi {ver('fastapi')}, "
        f"uvicorn {ver('uvicorn')}, sqlalchemy {ver('sqlalchemy')}",
        f"- Cores: {os.cpu_count()} logical; tunelab source: git {commit or '?'}",
    ]


def report(args: argparse.Namespace, r: dict[str, Any]) -> str:
    lines = [MARK_START, "", *environment()]
    lb, la = r["load"]
    writer_trials = sum(r["new_trials"].values())
    failed = r["new_trials"].get("FAILED", 0)
    worker_errors = failed + (r["writer_rc"] != 0) + len(r["writer_stderr"])
    lines += [
        f"- Store: {args.trials:,} trials built in {r['build_s']:.0f} s; the writer "
        f"(`Study.optimize(workers={args.workers})`) added {writer_trials} trials during the run "
        f"({', '.join(f'{k} {v}' for k, v in sorted(r['new_trials'].items())) or 'none'})",
        f"- Clients: one thread per endpoint, back to back with a {args.pause:g} s pause, "
        f"for {args.seconds:g} s",
        f"- Load average (1 min): {lb[0]:.2f} at the start, {la[0]:.2f} at the end",
        "",
        "| Endpoint | Requests | p50 (ms) | p95 (ms) | max (ms) | p95 < 300 ms |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    worst = []
    for name, values in r["samples"].items():
        p95 = pct(values, 0.95)
        ok = p95 < GOAL_MS
        if not ok:
            worst.append(name)
        lines.append(f"| {name} (`{ENDPOINTS[name]}`) | {len(values)} | {pct(values, 0.5):.0f} | "
                     f"{p95:.0f} | {max(values, default=float('nan')):.0f} | "
                     f"{'PASS' if ok else 'FAIL'} |")
    lines += [
        "",
        f"- Worker errors: **{worker_errors}** (FAILED trials written during the run: {failed}; "
        f"writer exit status {r['writer_rc']}; error lines on its stderr: "
        f"{len(r['writer_stderr'])})",
        f"- HTTP errors seen by the clients: {len(r['errors'])}",
        f"- Verdict: p95 < {GOAL_MS:.0f} ms on every endpoint: "
        f"**{'PASS' if not worst else 'FAIL (' + ', '.join(worst) + ')'}**; "
        f"0 worker errors: **{'PASS' if worker_errors == 0 else 'FAIL'}**",
        "", MARK_END,
    ]
    if r["writer_stderr"] or r["errors"]:
        print("writer stderr:", *r["writer_stderr"], "client errors:", *r["errors"][:10],
              sep="\n  ")
    return "\n".join(lines)


TEMPLATE = """# Dashboard latency at 10,000 trials

Generated by `benchmarks/dashboard_load.py` between the markers below; the text outside
them is kept when it is rerun.

{results}
"""


def save(out: Path, results: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        text = out.read_text()
        if MARK_START in text and MARK_END in text:
            head, rest = text.split(MARK_START, 1)
            out.write_text(head + results + rest.split(MARK_END, 1)[1])
            return
    out.write_text(TEMPLATE.format(results=results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--pause", type=float, default=0.2)
    parser.add_argument("--store-dir", default=None)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "dashboard.md"))
    parser.add_argument("--write", default=None, help=argparse.SUPPRESS)  # the writer process
    args = parser.parse_args()
    if args.write:
        write(args.write, args.seconds, args.workers)
        return
    results = run(args)
    text = report(args, results)
    print(text)
    if args.out:
        save(Path(args.out), text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

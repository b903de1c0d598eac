"""Load: many driver processes on one study. 16 processes x 50 trials on the default SQLite
file (./tunelab.db), 32 processes x 50 trials on PostgreSQL: no errors, no duplicate
trial numbers, every trial complete."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest

from tunelab import TrialStatus
from tunelab.store import SQLStore

DRIVER = textwrap.dedent(
    """
    import sys, tunelab
    store = sys.argv[1] if len(sys.argv) > 1 else None  # None: ./tunelab.db
    study = tunelab.Study("load", {"x": {"type": "float", "low": 0, "high": 1}},
                          store=store, searcher="random")
    study.optimize(lambda c: {"value": c["x"]}, n_trials=50)
    print(len(study.trials))
    """
)


def _run_drivers(tmp_path, n: int, store_args: list[str]) -> float:
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {**os.environ, "TUNELAB_CAPTURE_ENV": "0"}
    env.pop("TUNELAB_STORE", None)
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "driver.py", *store_args], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(n)]
    failures = []
    for proc in procs:
        _, err = proc.communicate(timeout=400)
        if proc.returncode != 0 or err.strip():  # any error, any warning, counts
            failures.append(f"exit {proc.returncode}:\n{err[-2000:]}")
    assert failures == [], f"{len(failures)} of {n} drivers failed:\n" + failures[0]
    return time.monotonic() - started


def _check(url: str, n: int) -> None:
    with SQLStore(url) as store:
        record = store.get_study("load")
        trials = store.get_trials(record.id)
    numbers = [t.number for t in trials]
    assert len(numbers) == n * 50
    assert sorted(numbers) == list(range(n * 50))  # 0 duplicates, 0 gaps
    assert Counter(t.status for t in trials) == {TrialStatus.COMPLETE: n * 50}
    assert len({t.worker for t in trials}) == n  # every driver ran its own 50
    assert Counter(t.worker for t in trials).most_common(1)[0][1] == 50


def test_16_processes_on_the_default_sqlite_file(tmp_path):
    _run_drivers(tmp_path, 16, [])
    assert (tmp_path / "tunelab.db").is_file()
    _check(f"sqlite:///{tmp_path / 'tunelab.db'}", 16)


@pytest.mark.parametrize("n", [32])
def test_32_processes_on_postgresql(n, tmp_path, pg_server):
    url = pg_server.create_database()
    _run_drivers(tmp_path, n, [url])
    _check(url, n)

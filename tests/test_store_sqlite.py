"""SQLite (and PostgreSQL) stores under concurrency and crashes, WAL mode, and opening
stores by URL.

Several processes share one store file: trial numbers must stay unique and consecutive,
WAITING trials must be claimed exactly once, and no "database is locked" may reach the
caller. A process killed inside a write transaction must leave a store that opens with
every committed record intact.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import sys
import threading
import time
from multiprocessing.connection import Connection as PipeEnd
from pathlib import Path
from typing import Any

import pytest

import tunelab
from tunelab.store import (
    DEFAULT_STORE,
    MemoryStore,
    SQLStore,
    open_store,
    resolve_store_url,
)
from tunelab.trial import Report, TrialStatus

# Fork: the children inherit the imported tunelab (spawn would re-import numpy/scipy in
# each of them, seconds apiece). Every child opens its own SQLStore.
CTX = mp.get_context("fork")
SPACE: dict[str, Any] = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
JOIN_TIMEOUT = 60.0


def _study(store: SQLStore, name: str) -> int:
    return store.create_study(
        name, metric="loss", direction="min", space=SPACE, searcher={}, scheduler={}
    ).id


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _run_children(target: Any, args_for: list[tuple[Any, ...]]) -> list[Any]:
    """Start one child per args tuple (all released at once by a barrier); collect what
    each put on the queue, and check that each exited cleanly."""
    queue = CTX.Queue()
    barrier = CTX.Barrier(len(args_for))
    procs = [CTX.Process(target=target, args=(*args, barrier, queue)) for args in args_for]
    for p in procs:
        p.start()
    try:
        results = [queue.get(timeout=JOIN_TIMEOUT) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=JOIN_TIMEOUT)
            if p.is_alive():  # pragma: no cover - only on a hang
                p.kill()
                p.join()
    assert [p.exitcode for p in procs] == [0] * len(procs)
    return results


# ------------------------------------------------------------------------ child bodies


def _create_trials(url: str, study_name: str, n: int, barrier: Any, queue: Any) -> None:
    numbers: list[int] = []
    errors: list[str] = []
    try:
        store = SQLStore(url)  # every child opens (and maybe initialises) the store itself
        study_id = _study(store, study_name)  # all race to create the same study
        barrier.wait(timeout=JOIN_TIMEOUT)
        for i in range(n):
            trial = store.create_trial(
                study_id,
                {"x": i / n, "pid": os.getpid()},
                status=TrialStatus.RUNNING,
                worker=f"pid{os.getpid()}",
            )
            numbers.append(trial.number)
        store.close()
    except BaseException as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
        barrier.abort()  # release the others instead of letting them wait for us
    queue.put((os.getpid(), numbers, errors))


def _claim_all(url: str, study_name: str, barrier: Any, queue: Any) -> None:
    claimed: list[int] = []
    errors: list[str] = []
    worker = f"claimer-{os.getpid()}"
    try:
        store = SQLStore(url)
        study_id = store.get_study(study_name).id
        barrier.wait(timeout=JOIN_TIMEOUT)
        while (trial := store.claim_waiting(study_id, worker)) is not None:
            assert trial.status is TrialStatus.RUNNING and trial.worker == worker
            claimed.append(trial.number)
        store.close()
    except BaseException as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
        barrier.abort()  # release the others instead of letting them wait for us
    queue.put((worker, claimed, errors))


def _commit_then_die_in_transaction(path: str, k: int, pipe: PipeEnd) -> None:
    """Commit ``k`` trials through SQLStore, then die by SIGKILL inside an open write
    transaction whose dirty pages have already spilled into the WAL."""
    store = SQLStore(f"sqlite:///{path}")
    study_id = _study(store, "crash")
    for i in range(k):
        trial = store.create_trial(study_id, {"i": i}, status=TrialStatus.RUNNING, worker="w")
        store.finish_trial(
            trial.id,
            status=TrialStatus.COMPLETE,
            metrics={"loss": i / 10},
            value=i / 10,
            reports=[Report(0, {"loss": i / 10})],
        )
    wal = Path(path + "-wal")
    committed_wal = wal.stat().st_size
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA cache_size=5")  # tiny cache: uncommitted pages spill to the WAL
    raw.execute("BEGIN IMMEDIATE")
    raw.execute(
        "INSERT INTO tunelab_trials (study_id, number, status, config, created_at, attempt, "
        "user_attrs, system_attrs) VALUES (?, ?, 'RUNNING', '{\"i\": -1}', 0, 1, '{}', '{}')",
        (study_id, k),
    )
    trial_id = raw.execute("SELECT last_insert_rowid()").fetchone()[0]
    raw.executemany(
        "INSERT INTO tunelab_reports (trial_id, step, metrics, time) VALUES (?, ?, ?, 0)",
        [(trial_id, s, f'{{"loss": {s}, "pad": "{"x" * 200}"}}') for s in range(3000)],
    )
    pipe.send((committed_wal, wal.stat().st_size))  # synchronous: arrives before we die
    os.kill(os.getpid(), signal.SIGKILL)
    raw.execute("COMMIT")  # pragma: no cover - never reached


def _write_until_killed(path: str, pipe: PipeEnd) -> None:
    store = SQLStore(f"sqlite:///{path}")
    study_id = _study(store, "busy")
    i = 0
    while True:
        trial = store.create_trial(study_id, {"i": i}, status=TrialStatus.RUNNING, worker="w")
        store.add_reports(trial.id, [Report(s, {"loss": float(s)}) for s in range(20)])
        store.finish_trial(trial.id, status=TrialStatus.COMPLETE, value=1.0, metrics={"l": 1.0})
        i += 1
        if i == 20:
            pipe.send("running")


# ------------------------------------------------------------------------ concurrency


def test_sqlite_processes_create_unique_consecutive_numbers(tmp_path: Path) -> None:
    """8 processes x 25 trials into one fresh file: they also race to create the schema
    and the study."""
    n_procs, per_proc = 8, 25
    url = _sqlite_url(tmp_path / "shared.db")
    results = _run_children(_create_trials, [(url, "race", per_proc)] * n_procs)

    errors = [e for _, _, errs in results for e in errs]
    assert errors == []  # in particular no "database is locked"
    numbers = [n for _, nums, _ in results for n in nums]
    assert sorted(numbers) == list(range(n_procs * per_proc))
    with SQLStore(url) as store:
        assert [s.name for s in store.list_studies()] == ["race"]
        trials = store.get_trials(store.get_study("race").id)
    assert [t.number for t in trials] == list(range(n_procs * per_proc))
    by_pid = {pid: sorted(nums) for pid, nums, _ in results}
    for t in trials:  # each process got back exactly the numbers it wrote
        assert t.number in by_pid[t.config["pid"]]
    assert sorted(len(v) for v in by_pid.values()) == [per_proc] * n_procs


def test_sqlite_concurrent_claims_claim_each_trial_once(tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path / "claims.db")
    with SQLStore(url) as store:
        study_id = _study(store, "queue")
        for i in range(40):
            store.create_trial(study_id, {"i": i}, status=TrialStatus.WAITING)

    results = _run_children(_claim_all, [(url, "queue")] * 4)

    assert [e for _, _, errs in results for e in errs] == []
    claimed = [n for _, nums, _ in results for n in nums]
    assert sorted(claimed) == list(range(40))  # every trial once, none twice
    owner = {n: worker for worker, nums, _ in results for n in nums}
    with SQLStore(url) as store:
        trials = store.get_trials(study_id)
    assert [t.status for t in trials] == [TrialStatus.RUNNING] * 40
    assert all(t.worker == owner[t.number] for t in trials)
    for _, nums, _ in results:  # each claimer took the lowest number left, in order
        assert nums == sorted(nums)


def test_postgresql_processes_create_unique_consecutive_numbers(
    pg_server: Any,
) -> None:
    """4 processes x 15 trials into a fresh PostgreSQL database (schema race included)."""
    n_procs, per_proc = 4, 15
    url = pg_server.create_database()
    results = _run_children(_create_trials, [(url, "pg-race", per_proc)] * n_procs)

    assert [e for _, _, errs in results for e in errs] == []
    numbers = [n for _, nums, _ in results for n in nums]
    assert sorted(numbers) == list(range(n_procs * per_proc))
    with SQLStore(url) as store:
        trials = store.get_trials(store.get_study("pg-race").id)
        assert len(store.list_studies()) == 1
    assert [t.number for t in trials] == list(range(n_procs * per_proc))


def test_postgresql_concurrent_claims_claim_each_trial_once(pg_server: Any) -> None:
    url = pg_server.create_database()
    with SQLStore(url) as store:
        study_id = _study(store, "pg-queue")
        for i in range(30):
            store.create_trial(study_id, {"i": i}, status=TrialStatus.WAITING)
    results = _run_children(_claim_all, [(url, "pg-queue")] * 3)
    assert [e for _, _, errs in results for e in errs] == []
    assert sorted(n for _, nums, _ in results for n in nums) == list(range(30))


def test_sqlite_lock_outlasting_busy_timeout_is_retried(tmp_path: Path) -> None:
    """A writer holding the lock longer than SQLite's busy timeout: the store backs off and
    retries instead of letting "database is locked" out (the BEGIN IMMEDIATE that fails
    runs on the raw driver, outside SQLAlchemy's error wrapping)."""
    path = tmp_path / "held.db"
    with SQLStore(_sqlite_url(path)) as store:
        study_id = _study(store, "held")
        # Shrink the busy timeout of the store's connection so that it runs out quickly.
        raw_store_conn: Any = store._connection().connection.driver_connection
        raw_store_conn.execute("PRAGMA busy_timeout=20")
        blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.4, lambda: blocker.execute("COMMIT"))
        release.start()
        try:
            start = time.monotonic()
            trial = store.create_trial(study_id, {}, status=TrialStatus.WAITING)
            waited = time.monotonic() - start
        finally:
            release.join()
            blocker.close()
        assert trial.number == 0
        assert waited >= 0.3  # it really was blocked, and got through after the release
        assert [t.number for t in store.get_trials(study_id)] == [0]
        assert store.create_trial(study_id, {}, status=TrialStatus.WAITING).number == 1


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    with SQLStore(_sqlite_url(path)) as store:
        _study(store, "s")
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        raw.close()
    # WAL is persistent: a plain connection opened later still sees it.
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_sqlite_store_persists_across_opens(tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path / "persist.db")
    with SQLStore(url) as store:
        study_id = _study(store, "p")
        t = store.create_trial(study_id, {"x": 0.5}, status=TrialStatus.RUNNING, worker="w")
        store.finish_trial(
            t.id,
            status=TrialStatus.COMPLETE,
            value=0.25,
            metrics={"loss": 0.25},
            reports=[Report(0, {"loss": 0.5}, 1.0)],
        )
    with SQLStore(url) as again:
        got = again.get_trial(again.get_study("p").id, 0)
    assert (got.status, got.value, got.config) == (TrialStatus.COMPLETE, 0.25, {"x": 0.5})
    assert got.reports == (Report(0, {"loss": 0.5}, 1.0),)


# ------------------------------------------------------------------------ crashes


def test_kill_inside_write_transaction_keeps_committed_records(tmp_path: Path) -> None:
    k = 12
    path = tmp_path / "crash.db"
    parent_end, child_end = CTX.Pipe(duplex=False)
    proc = CTX.Process(target=_commit_then_die_in_transaction, args=(str(path), k, child_end))
    proc.start()
    proc.join(timeout=JOIN_TIMEOUT)
    assert proc.exitcode == -signal.SIGKILL
    assert parent_end.poll(1), "the child died before reaching the open transaction"
    committed_wal, dying_wal = parent_end.recv()
    # The dead transaction really left uncommitted frames behind in the WAL.
    assert dying_wal > committed_wal
    assert Path(str(path) + "-wal").stat().st_size == dying_wal

    with SQLStore(_sqlite_url(path)) as store:
        study_id = store.get_study("crash").id
        trials = store.get_trials(study_id, with_reports=True)
        assert [t.number for t in trials] == list(range(k))  # uncommitted trial k is gone
        assert all(t.status is TrialStatus.COMPLETE for t in trials)
        assert [t.value for t in trials] == [i / 10 for i in range(k)]
        assert [t.config for t in trials] == [{"i": i} for i in range(k)]
        assert all(len(t.reports) == 1 for t in trials)
        with pytest.raises(tunelab.TrialNotFoundError):
            store.get_trial(study_id, k)
        assert store.create_trial(study_id, {}, status=TrialStatus.WAITING).number == k
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert raw.execute("SELECT COUNT(*) FROM tunelab_reports").fetchone()[0] == k
    raw.close()


def test_kill_during_store_writes_leaves_consistent_store(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    parent_end, child_end = CTX.Pipe(duplex=False)
    proc = CTX.Process(target=_write_until_killed, args=(str(path), child_end))
    proc.start()
    assert parent_end.poll(JOIN_TIMEOUT), "writer never got going"
    assert parent_end.recv() == "running"
    time.sleep(0.15)
    os.kill(proc.pid, signal.SIGKILL)  # somewhere in the middle of a store call
    proc.join(timeout=JOIN_TIMEOUT)
    assert proc.exitcode == -signal.SIGKILL

    with SQLStore(_sqlite_url(path)) as store:
        study_id = store.get_study("busy").id
        trials = store.get_trials(study_id, with_reports=True)
        m = len(trials)
        assert m >= 20
        assert [t.number for t in trials] == list(range(m))
        for t in trials[:-1]:  # all but the last finished whole: 20 reports, COMPLETE
            assert t.status is TrialStatus.COMPLETE and len(t.reports) == 20
        assert len(trials[-1].reports) in (0, 20)  # one batch = one transaction
        assert store.create_trial(study_id, {}, status=TrialStatus.WAITING).number == m
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()


# ------------------------------------------------------------------------ opening stores


def test_resolve_none_uses_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELAB_STORE", "postgresql://u@h:5432/db")
    assert resolve_store_url(None) == "postgresql://u@h:5432/db"
    assert resolve_store_url() == "postgresql://u@h:5432/db"
    assert resolve_store_url("memory") == "memory"  # an explicit URL wins over the env
    monkeypatch.setenv("TUNELAB_STORE", "runs/env.db")
    assert resolve_store_url(None) == "sqlite:///runs/env.db"
    monkeypatch.delenv("TUNELAB_STORE")
    assert resolve_store_url(None) == DEFAULT_STORE == "sqlite:///tunelab.db"
    monkeypatch.setenv("TUNELAB_STORE", "")  # empty means unset
    assert resolve_store_url(None) == "sqlite:///tunelab.db"


def test_resolve_paths_and_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_store_url("runs/tunelab.db") == "sqlite:///runs/tunelab.db"
    assert resolve_store_url(tmp_path / "a.db") == f"sqlite:///{tmp_path}/a.db"
    assert resolve_store_url(str(tmp_path / "a.db")) == f"sqlite:////{str(tmp_path)[1:]}/a.db"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_store_url("~/h.db") == f"sqlite:///{tmp_path}/h.db"
    assert resolve_store_url(":memory:") == "memory"
    assert resolve_store_url("sqlite:///x.db") == "sqlite:///x.db"
    assert resolve_store_url("postgresql://a@b/c") == "postgresql://a@b/c"


def test_open_store_default_is_tunelab_db_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUNELAB_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    with open_store() as store:
        assert isinstance(store, SQLStore)
        assert store.url == "sqlite:///tunelab.db"
        _study(store, "here")
    assert (tmp_path / "tunelab.db").is_file()
    with SQLStore(_sqlite_url(tmp_path / "tunelab.db")) as again:
        assert again.get_study("here").name == "here"


def test_open_store_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "from_env.db"
    monkeypatch.setenv("TUNELAB_STORE", str(target))
    with open_store(None) as store:
        assert isinstance(store, SQLStore)
        _study(store, "env")
    assert target.is_file()
    monkeypatch.setenv("TUNELAB_STORE", "memory")
    assert isinstance(open_store(), MemoryStore)


def test_open_store_plain_path_creates_missing_parents(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "store.db"
    assert not target.parent.exists()
    with open_store(target) as store:
        assert isinstance(store, SQLStore)
        assert store.url == f"sqlite:///{target}"
        _study(store, "deep")
    assert target.is_file()
    with open_store(str(target)) as again:
        assert again.get_study("deep").name == "deep"


def test_open_store_memory_and_passthrough() -> None:
    for name in ("memory", ":memory:"):
        store = open_store(name)
        assert isinstance(store, MemoryStore)
        assert store.url == "memory"
    mine = MemoryStore()
    assert open_store(mine) is mine
    assert open_store("memory") is not open_store("memory")  # nothing shared


def test_open_store_postgresql_url_uses_psycopg(pg_url: str) -> None:
    for url in (pg_url, "postgres://" + pg_url.split("://", 1)[1]):
        with open_store(url) as store:
            assert isinstance(store, SQLStore)
            assert store.url == url
            engine = store._engine
            assert engine.dialect.name == "postgresql"
            assert engine.dialect.driver == "psycopg"
            assert store.schema_version == tunelab.store.SCHEMA_VERSION


def test_postgresql_url_without_psycopg_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError
    with pytest.raises(tunelab.MissingExtraError, match=r"pip install 'tunelab\[postgres\]'"):
        open_store("postgresql://postgres@127.0.0.1:5432/whatever")

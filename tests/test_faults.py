"""Faults survived, measured: kill -9 of worker processes (mid-trial and before the first
report), of drivers at random moments, of a process in the middle of store writes (on
PostgreSQL; SQLite's are in test_store_sqlite.py); stores of earlier schema versions."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    insert,
)

import tunelab
from tunelab import Float as FloatParam
from tunelab import Space, Study, TrialStatus
from tunelab.store import SCHEMA_VERSION, SQLStore
from tunelab.trial import Report

TUNELAB = str(Path(sys.executable).with_name("tunelab"))
SPACE = Space(x=FloatParam(0, 1))


def _no_running(study: Study) -> None:
    assert [t.number for t in study.trials if t.status is TrialStatus.RUNNING] == []


# ----------------------------------------------------------------- worker processes


def stepper(trial: tunelab.TrialHandle) -> None:
    """Leaves ``run-<pid>`` in its folder, waits (0.8 s in its first run: time to be
    killed before reporting) before its first report, then reports 6 steps of 0.1 s with
    a checkpoint each."""
    assert trial.trial_dir is not None
    trial.trial_dir.mkdir(parents=True, exist_ok=True)
    first_run = not list(trial.trial_dir.glob("run-*"))
    (trial.trial_dir / f"run-{os.getpid()}").write_text("")
    state = trial.load_checkpoint() or {"step": 0}
    time.sleep(0.8 if first_run else 0.05)
    for step in range(state["step"] + 1, 7):
        time.sleep(0.1)
        trial.report(step, loss=trial["x"] * step, start=float(state["step"]))
        trial.save_checkpoint({"step": step})  # report first: then a kill loses nothing


def _killer(folder: Path, victims: dict[int, str], stop: threading.Event) -> None:
    """kill -9 the first run of each trial in ``victims``: ``"early"`` as soon as it
    starts (before its first report), ``"late"`` after its third checkpoint."""
    done: set[int] = set()
    while not stop.is_set() and len(done) < len(victims):
        for number, when in victims.items():
            trial_dir = folder / f"trial-{number:05d}"
            runs = sorted(trial_dir.glob("run-*")) if trial_dir.is_dir() else []
            if number in done or not runs:
                continue
            if when == "late" and not (trial_dir / "checkpoints" / "step-00000003").exists():
                continue
            os.kill(int(runs[0].name.split("-")[1]), signal.SIGKILL)
            done.add(number)
        time.sleep(0.005)


def test_killed_worker_processes_are_retried_from_their_checkpoints(tmp_path):
    study = Study("procs", SPACE, metric="loss", store=str(tmp_path / "s.db"), seed=0,
                  searcher="random")
    victims = {1: "early", 2: "late", 4: "late", 5: "early"}
    stop = threading.Event()
    thread = threading.Thread(target=_killer, args=(study.artifact_dir, victims, stop))
    thread.start()
    try:
        study.optimize(stepper, n_trials=8, workers=2)
    finally:
        stop.set()
        thread.join()
    _no_running(study)
    trials = {t.number: study.trial(t.number) for t in study.trials}
    assert len(trials) == 8
    for number, trial in trials.items():
        assert trial.status is TrialStatus.COMPLETE, (number, trial.error)
        assert [r.step for r in trial.reports] == [1, 2, 3, 4, 5, 6]  # none lost or twice
        assert trial.value == pytest.approx(trial.config["x"] * 6)
        runs = list(study.trial_dir(number).glob("run-*"))
        if number in victims:
            assert trial.attempt == 2 and len(runs) == 2
            assert "SIGKILL" in trial.system_attrs["retried"]
            # A late kill resumes from checkpoint 3 (or a later one written before the
            # kill landed); an early one starts over.
            start = trial.reports[-1].metrics["start"]
            assert start >= 3 if victims[number] == "late" else start == 0
        else:
            assert trial.attempt == 1 and len(runs) == 1


def always_killed(config: dict) -> float:
    os.kill(os.getpid(), signal.SIGKILL)
    return 0.0


def test_a_trial_whose_worker_always_dies_fails_after_three_attempts(tmp_path):
    study = Study("doomed", SPACE, store=str(tmp_path / "s.db"), seed=0)
    study.optimize(always_killed, n_trials=2, workers=2)
    _no_running(study)
    for trial in study.trials:
        assert trial.status is TrialStatus.FAILED and trial.attempt == 3
        assert "SIGKILL" in trial.error and "no retries left" in trial.error


# ----------------------------------------------------------------- drivers

# 10 ms a trial: the driver spends most of its time with a trial RUNNING, so a kill that
# waited to see one rarely lands in the gap between two trials (3 ms made that flaky)
OBJECTIVE = "import time\ndef f(config):\n    time.sleep(0.01)\n    return config['x']\n"


_STORES: dict[str, SQLStore] = {}


def _snapshot(url: str, name: str) -> dict[int, tunelab.Trial]:
    """The trials of study ``name`` now (through one store kept open per URL)."""
    store = _STORES.get(url)
    if store is None:
        store = _STORES[url] = SQLStore(url)
    try:
        record = store.get_study(name)
    except tunelab.StudyNotFoundError:
        return {}
    return {t.number: t for t in store.get_trials(record.id)}


@pytest.mark.parametrize(("backend", "n_trials", "kills"),
                         [("sqlite", 500, 4), ("postgresql", 150, 3)])
def test_drivers_killed_at_random_moments_lose_and_repeat_nothing(
    backend, n_trials, kills, tmp_path, request
):
    if backend == "postgresql":
        url = request.getfixturevalue("pg_server").create_database()
    else:
        url = f"sqlite:///{tmp_path / 'k.db'}"
    (tmp_path / "obj.py").write_text(OBJECTIVE)
    (tmp_path / "space.yaml").write_text("x: {type: float, low: 0, high: 1}\n")
    command = [TUNELAB, "run", "obj.py:f", "--study", "k", "--space", "space.yaml",
               "--trials", str(n_trials), "--searcher", "random", "--seed", "0",
               "--store", url, "--no-progress"]
    env = {**os.environ, "TUNELAB_CAPTURE_ENV": "0"}
    rng = random.Random(0)
    completed: dict[int, tunelab.Trial] = {}
    killed_with_work = 0
    for kill in range(kills):
        before = len(_snapshot(url, "k"))
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        # Kill it once it has got going, anywhere in its first trials (never at the end);
        # every other kill also waits to see a trial RUNNING, so that some kills surely
        # leave orphans (the others may land anywhere, in a store write too).
        target = before + rng.randint(1, n_trials // (2 * kills))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            snapshot = _snapshot(url, "k")
            if len(snapshot) >= target and (kill % 2 == 0 or any(
                    t.status is TrialStatus.RUNNING for t in snapshot.values())):
                break
            time.sleep(rng.uniform(0.0, 0.02))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = _snapshot(url, "k")
        killed_with_work += any(t.status is TrialStatus.RUNNING for t in now.values())
        for number, trial in now.items():
            if trial.status is TrialStatus.COMPLETE:
                if number in completed:  # a completed trial never changes again
                    assert trial.finished_at == completed[number].finished_at
                    assert trial.value == completed[number].value
                completed[number] = trial
    assert completed and len(completed) < n_trials
    assert killed_with_work >= 1  # at least one kill left a trial RUNNING behind it
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    final = _snapshot(url, "k")
    assert sorted(final) == list(range(n_trials))
    assert all(t.status is TrialStatus.COMPLETE for t in final.values())
    for number, trial in completed.items():  # 0 lost, 0 rerun
        assert final[number].finished_at == trial.finished_at
        assert final[number].value == trial.value
    configs = [t.config["x"] for t in final.values()]
    assert len(set(configs)) == n_trials  # no configuration ran as two trials
    assert any(t.attempt > 1 for t in final.values())  # orphans were requeued and rerun
    _STORES.pop(url).close()


# ----------------------------------------------------------------- store writes


def _write_until_killed(url: str, ready: multiprocessing.Event) -> None:
    store = SQLStore(url)
    record = store.create_study("busy", metric="l", direction="min", space={}, searcher={},
                                scheduler={})
    i = 0
    while True:
        trial = store.create_trial(record.id, {"i": i}, status=TrialStatus.RUNNING, worker="w")
        store.add_reports(trial.id, [Report(s, {"loss": float(s)}) for s in range(20)])
        store.finish_trial(trial.id, status=TrialStatus.COMPLETE, value=1.0,
                           metrics={"l": 1.0}, reports=[Report(20, {"loss": 0.0})])
        i += 1
        if i == 10:
            ready.set()


def test_a_kill_in_the_middle_of_postgresql_writes_keeps_every_committed_record(pg_server):
    url = pg_server.create_database()
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_write_until_killed, args=(url, ready))
    proc.start()
    assert ready.wait(120), "the writer never got going"
    time.sleep(random.Random(1).uniform(0.05, 0.3))
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(60)
    with SQLStore(url) as store:
        record = store.get_study("busy")
        trials = store.get_trials(record.id, with_reports=True)
        assert len(trials) >= 10
        assert [t.number for t in trials] == list(range(len(trials)))
        assert [t.config["i"] for t in trials] == list(range(len(trials)))
        for t in trials[:-1]:
            assert t.status is TrialStatus.COMPLETE and len(t.reports) == 21
        last = trials[-1]  # each call is one transaction: all of it or none
        assert (last.status, len(last.reports)) in (
            (TrialStatus.RUNNING, 0), (TrialStatus.RUNNING, 20), (TrialStatus.COMPLETE, 21))


# ----------------------------------------------------------------- schema versions


def _old_schema(version: int) -> MetaData:
    """The tables as tunelab wrote them at schema ``version`` (1 or 2), frozen here."""
    md = MetaData()
    Table("tunelab_meta", md, Column("key", String(64), primary_key=True),
          Column("value", Text, nullable=False))
    study_columns = [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", String(255), nullable=False, unique=True),
        Column("metric", String(255), nullable=False),
        Column("direction", String(8), nullable=False),
        Column("space", Text, nullable=False),
        Column("searcher", Text, nullable=False),
        Column("scheduler", Text, nullable=False),
        Column("user_attrs", Text, nullable=False),
        Column("created_at", Float, nullable=False),
    ]
    if version >= 2:
        study_columns.append(Column("objectives", Text, nullable=True))
    Table("tunelab_studies", md, *study_columns)
    Table("tunelab_trials", md,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("study_id", Integer, ForeignKey("tunelab_studies.id", ondelete="CASCADE"),
                 nullable=False),
          Column("number", Integer, nullable=False),
          Column("status", String(16), nullable=False),
          Column("config", Text, nullable=False),
          Column("metrics", Text), Column("value", Float),
          Column("created_at", Float, nullable=False),
          Column("started_at", Float), Column("finished_at", Float),
          Column("heartbeat_at", Float), Column("worker", String(255)),
          Column("attempt", Integer, nullable=False), Column("error", Text),
          Column("traceback", Text), Column("user_attrs", Text, nullable=False),
          Column("system_attrs", Text, nullable=False),
          UniqueConstraint("study_id", "number", name="uq_tunelab_trials_study_number"))
    Table("tunelab_reports", md,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("trial_id", Integer, ForeignKey("tunelab_trials.id", ondelete="CASCADE"),
                 nullable=False),
          Column("step", Integer, nullable=False),
          Column("metrics", Text, nullable=False),
          Column("time", Float, nullable=False))
    return md


def _write_old_store(url: str, version: int) -> None:
    md = _old_schema(version)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        md.create_all(conn)
        t = md.tables
        conn.execute(insert(t["tunelab_meta"]).values(key="schema_version", value=str(version)))
        study = {"name": "old", "metric": "loss", "direction": "min",
                 "space": SPACE.to_json(),
                 "searcher": '{"name": "random", "seed": 0}', "scheduler": "{}",
                 "user_attrs": json.dumps({"note": f"v{version}"}), "created_at": 1.0}
        if version >= 2:
            study["objectives"] = '[["loss", "min"]]'
        conn.execute(insert(t["tunelab_studies"]).values(id=1, **study))
        for n in range(3):
            conn.execute(insert(t["tunelab_trials"]).values(
                id=n + 1, study_id=1, number=n, status="COMPLETE",
                config=json.dumps({"x": n / 10}), metrics=json.dumps({"loss": n / 10}),
                value=n / 10, created_at=1.0, started_at=1.0, finished_at=2.0, attempt=1,
                user_attrs="{}", system_attrs="{}"))
            conn.execute(insert(t["tunelab_reports"]).values(
                trial_id=n + 1, step=1, metrics=json.dumps({"loss": n / 10}), time=1.5))
    engine.dispose()


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_of_an_earlier_schema_opens_migrates_and_goes_on(
    backend, version, tmp_path, request
):
    if backend == "postgresql":
        url = request.getfixturevalue("pg_server").create_database()
    else:
        url = f"sqlite:///{tmp_path / f'v{version}.db'}"
    _write_old_store(url, version)
    study = Study("old", store=url)
    assert study.store.schema_version == SCHEMA_VERSION
    assert study.objectives == (("loss", "min"),)
    assert study.user_attrs["note"] == f"v{version}"
    old = [study.trial(n) for n in range(3)]
    assert [t.value for t in old] == [0.0, 0.1, 0.2]
    assert [[r.step for r in t.reports] for t in old] == [[1], [1], [1]]
    study.optimize(lambda c: {"loss": c["x"]}, n_trials=3)
    assert [t.status for t in study.trials] == [TrialStatus.COMPLETE] * 6
    assert study.environment(5)["card"] is not None  # version 3's table works
    study.store.close()
    with SQLStore(url) as again:  # nothing left to migrate
        assert again.schema_version == SCHEMA_VERSION

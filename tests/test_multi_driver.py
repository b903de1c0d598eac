"""Several drivers, one study: `tunelab worker` processes sharing a PostgreSQL (or SQLite)
store get unique trial numbers, resume each paused trial in exactly one driver, run no
trial twice, and learn from each other's results."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

import tunelab
from tunelab import Float, Space, Study, TrialStatus
from tunelab.store import SQLStore

TUNELAB = str(Path(sys.executable).with_name("tunelab"))
SPACE = Space(x=Float(0, 1))
ASHA = {"name": "asha", "min_resource": 1, "max_resource": 9, "eta": 3}

OBJECTIVE = textwrap.dedent(
    """
    import json, os, pathlib, time
    import tunelab

    _waited = []

    def _barrier():
        # The first trial of each driver waits for all drivers to be up, so that they
        # really share the work (one fast driver could otherwise do it all).
        if _waited:
            return
        _waited.append(True)
        folder = pathlib.Path(os.environ["BARRIER_DIR"])
        (folder / str(os.getpid())).touch()
        deadline = time.monotonic() + 120
        while len(list(folder.iterdir())) < int(os.environ["BARRIER_N"]):
            if time.monotonic() > deadline:
                raise RuntimeError("not every driver started")
            time.sleep(0.01)

    def objective(trial):
        _barrier()
        state = trial.load_checkpoint() or {"step": 0}
        trial.trial_dir.mkdir(parents=True, exist_ok=True)
        with open(trial.trial_dir / "runs.log", "a") as log:
            log.write(json.dumps({"pid": os.getpid(), "from": state["step"],
                                  "to": trial.resource}) + "\\n")
        for step in range(state["step"] + 1, trial.resource + 1):
            time.sleep(0.005)
            decision = trial.report(step, loss=(trial["x"] - 0.3) ** 2 + 1 / step)
            trial.save_checkpoint({"step": step})
            if decision is not tunelab.Decision.CONTINUE:
                return None
        return None
    """
)


def _workers(url: str, tmp_path: Path, name: str, n: int, trials: int,
             extra: tuple[str, ...] = ()) -> list[subprocess.CompletedProcess[str]]:
    (tmp_path / "obj.py").write_text(OBJECTIVE)
    (tmp_path / "barrier").mkdir()
    env = {**os.environ, "TUNELAB_ARTIFACTS": str(tmp_path / "art"),
           "TUNELAB_CAPTURE_ENV": "0", "BARRIER_DIR": str(tmp_path / "barrier"),
           "BARRIER_N": str(n)}
    procs = [
        subprocess.Popen([TUNELAB, "worker", name, "obj.py:objective", "--trials", str(trials),
                          "--store", url, "--no-progress", *extra],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    for result in done:
        assert result.returncode == 0, result.stderr
    return done


def _check_shared_run(study: Study, art: Path, n_trials: int, n_drivers: int) -> None:
    trials = study.store.get_trials(study._record.id, with_reports=True)
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))  # unique and consecutive
    assert n_trials <= len(trials) <= n_trials + n_drivers - 1  # the last race, at most
    statuses = Counter(t.status for t in trials)
    assert not statuses[TrialStatus.RUNNING] and not statuses[TrialStatus.WAITING]
    assert not statuses[TrialStatus.FAILED]
    assert statuses[TrialStatus.COMPLETE] >= 1
    pids = set()
    resumes = 0
    for trial in trials:
        steps = [r.step for r in trial.reports]
        assert steps == sorted(set(steps)), (trial.number, steps)  # no step run twice
        log = study.trial_dir(trial.number) / "runs.log"
        runs = [json.loads(line) for line in log.read_text().splitlines()]
        pids.update(r["pid"] for r in runs)
        # Each run starts where the previous one stopped: every resume of a paused trial
        # happened once, in one driver, from the checkpoint of the rung it paused at.
        starts = [r["from"] for r in runs]
        assert starts == sorted(set(starts)), (trial.number, runs)
        assert len(runs) == 1 + int(trial.system_attrs.get("resumes", 0))
        for before, after in itertools.pairwise(runs):
            assert after["from"] == before["to"]
        resumes += len(runs) - 1
    assert resumes > 0, "nothing was promoted"
    assert len(pids) == n_drivers, "some driver ran no trial"


@pytest.mark.parametrize(("backend", "scheduler"),
                         [("postgresql", ASHA), ("sqlite", {**ASHA, "name": "hyperband"})])
def test_worker_processes_share_a_multi_fidelity_study(backend, scheduler, tmp_path, request):
    if backend == "postgresql":
        url = request.getfixturevalue("pg_server").create_database()
    else:
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    study = Study("shared", SPACE, metric="loss", store=url, seed=0, scheduler=scheduler,
                  searcher="random", artifacts=tmp_path / "art")
    _workers(url, tmp_path, "shared", n=4, trials=40)
    study._refresh()
    _check_shared_run(study, tmp_path / "art", n_trials=40, n_drivers=4)
    study.store.close()


def test_worker_needs_an_explicit_target_with_a_shared_store(pg_server, tmp_path):
    url = pg_server.create_database()
    study = Study("needs-target", SPACE, store=url)
    study.set_user_attr("tunelab.target", {"args": ["evil.py:f"], "cwd": str(tmp_path)})
    result = subprocess.run([TUNELAB, "worker", "needs-target", "--trials", "2", "--store", url],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "give the target explicitly" in result.stderr
    result = subprocess.run([TUNELAB, "worker", "nope", "x.py:f", "--trials", "2",
                             "--store", url], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "no study named 'nope'" in result.stderr
    study.store.close()


def test_a_driver_learns_from_the_other_drivers_while_it_runs(pg_server):
    url = pg_server.create_database()
    a = Study("learn", SPACE, store=url, seed=0, searcher="random")
    b = Study("learn", store=url)
    b.optimize(lambda c: c["x"], n_trials=5)
    seen = []

    def objective(config):
        seen.append(len(list(a._search_history())))
        if len(seen) == 1:  # b runs five more while a runs its first trial
            b.optimize(lambda c: c["x"], n_trials=5)
        return config["x"]

    tunelab.study._sync.SYNC_EVERY, saved = 0.0, tunelab.study._sync.SYNC_EVERY
    try:
        a.optimize(objective, n_trials=2)
    finally:
        tunelab.study._sync.SYNC_EVERY = saved
    assert seen[0] >= 5  # b's first five, read when a started
    assert seen[1] >= 10  # and the five b ran meanwhile
    numbers = [t.number for t in a.trials]
    assert numbers == list(range(12))
    a.store.close()
    b.store.close()


def _resume_racer(url: str, ids: list[int], worker: str, out: multiprocessing.Queue) -> None:
    store = SQLStore(url)
    won = [i for i in ids if store.resume_trial(i, worker=worker, system_attrs={}) is not None]
    store.close()
    out.put((worker, won))


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_each_paused_trial_is_claimed_by_exactly_one_of_many_processes(
    backend, tmp_path, request
):
    if backend == "postgresql":
        url = request.getfixturevalue("pg_server").create_database()
    else:
        url = f"sqlite:///{tmp_path / 'race.db'}"
    store = SQLStore(url)
    record = store.create_study("race", metric="v", direction="min", space=SPACE.to_dict(),
                                searcher={}, scheduler={})
    ids = []
    for _ in range(30):
        trial = store.create_trial(record.id, {"x": 0.5}, status=TrialStatus.RUNNING,
                                   worker="me")
        store.pause_trial(trial.id, worker="me", metrics={"v": 1.0}, value=1.0,
                          system_attrs={})
        ids.append(trial.id)
    store.close()  # forked children must not share its connection
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_resume_racer, args=(url, ids, f"racer-{i}", out))
             for i in range(8)]
    for proc in procs:
        proc.start()
    claims = dict(out.get(timeout=120) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
    flat = [i for won in claims.values() for i in won]
    assert sorted(flat) == sorted(ids)  # every trial claimed, none twice
    store = SQLStore(url)
    owners = {t.id: t.worker for t in store.get_trials(record.id)}
    for worker, won in claims.items():
        assert all(owners[t] == worker for t in won)
    store.close()

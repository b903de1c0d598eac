"""Workers: inline and local processes; crashes, kills, hangs and bad results fail one trial
with the reason and the study goes on; a killed run resumes without losing or rerunning
completed trials."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import tunelab
from tunelab import Float, Int, Space, Study, TrialStatus

SPACE = Space(x=Float(0, 1), k=Int(0, 9))


def _no_running(study: Study) -> None:
    assert [t.number for t in study.trials if t.status is TrialStatus.RUNNING] == []


def killer(config: dict) -> float:
    if config["k"] == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return config["x"]


def hanger(config: dict) -> float:
    if config["k"] < 3:
        time.sleep(60)
    return config["x"]


def stepper(trial: tunelab.TrialHandle) -> None:
    for step in range(4):
        trial.report(step, loss=trial["x"] / (step + 1), pid=os.getpid())


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_process_workers_run_in_parallel_processes_and_record_reports(store, tmp_path):
    url = "memory" if store == "memory" else str(tmp_path / "t.db")
    study = Study("procs", SPACE, metric="loss", store=url, seed=1)
    study.optimize(stepper, n_trials=8, workers=2)
    trials = study.trials
    assert [t.status for t in trials] == [TrialStatus.COMPLETE] * 8
    pids = {t.metrics["pid"] for t in trials}
    assert os.getpid() not in pids and len(pids) >= 2
    full = study.trial(3)
    assert [r.step for r in full.reports] == [0, 1, 2, 3]
    assert full.value == pytest.approx(full.config["x"] / 4)


def test_a_killed_worker_fails_its_trial_and_the_study_goes_on(tmp_path):
    study = Study("kill", SPACE, store=str(tmp_path / "t.db"), seed=0)
    for k in range(10):
        study.enqueue({"x": k / 10, "k": k})
    study.optimize(killer, n_trials=10, workers=2)
    by_k = {t.config["k"]: t for t in study.trials}
    assert by_k[3].status is TrialStatus.FAILED
    assert "SIGKILL" in by_k[3].error and "trial 3" in by_k[3].error
    assert all(by_k[k].status is TrialStatus.COMPLETE for k in range(10) if k != 3)
    _no_running(study)


def test_a_hanging_trial_is_stopped_by_the_per_trial_timeout(tmp_path):
    study = Study("hang", SPACE, store=str(tmp_path / "t.db"), seed=0)
    for k in (0, 5, 6, 7):
        study.enqueue({"x": k / 10, "k": k})
    started = time.monotonic()
    study.optimize(hanger, n_trials=4, workers=2, trial_timeout=1.0)
    assert time.monotonic() - started < 20
    by_k = {t.config["k"]: t for t in study.trials}
    assert by_k[0].status is TrialStatus.FAILED and "timed out" in by_k[0].error
    assert [by_k[k].status for k in (5, 6, 7)] == [TrialStatus.COMPLETE] * 3
    _no_running(study)


def test_inline_trial_timeout_uses_an_alarm():
    study = Study("hang-inline", SPACE, store="memory", seed=0)
    study.enqueue({"x": 0.1, "k": 1})
    study.enqueue({"x": 0.2, "k": 8})
    study.optimize(hanger, n_trials=2, trial_timeout=0.5)
    statuses = [t.status for t in study.trials]
    assert statuses == [TrialStatus.FAILED, TrialStatus.COMPLETE]
    assert "timed out" in study.trials[0].error


BAD_RESULTS = [
    (lambda c: float("nan"), "must be finite"),
    (lambda c: float("inf"), "must be finite"),
    (lambda c: None, "returned None and never reported"),
    (lambda c: "0.5", "returned str '0.5'"),
    (lambda c: [0.5], "returned list"),
    (lambda c: True, "returned bool"),
    (lambda c: {"other": 1.0}, "without the target metric 'value'"),
    (lambda c: {"value": "high"}, "must be a real number"),
    (lambda c: 1 / 0, "ZeroDivisionError: division by zero"),
]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(("objective", "reason"), BAD_RESULTS)
def test_bad_results_fail_the_trial_with_the_reason(objective, reason, workers):
    study = Study("bad", SPACE, store="memory", seed=0)
    study.optimize(objective, n_trials=2, workers=workers)
    trials = study.trials
    assert len(trials) == 2
    for t in trials:
        assert t.status is TrialStatus.FAILED
        assert reason in t.error
        assert t.value is None
    _no_running(study)


def test_an_exception_keeps_its_traceback_and_metrics_reported_before_it():
    def objective(trial):
        trial.report(0, loss=0.5)
        raise RuntimeError("diverged at epoch 1")

    study = Study("tb", SPACE, metric="loss", store="memory", seed=0)
    study.optimize(objective, n_trials=1)
    trial = study.trial(0)
    assert trial.status is TrialStatus.FAILED
    assert trial.error == "RuntimeError: diverged at epoch 1"
    assert "raise RuntimeError" in trial.traceback
    assert [r.metrics for r in trial.reports] == [{"loss": 0.5}]


def test_a_reported_nan_fails_the_trial():
    def objective(trial):
        trial.report(0, loss=math.nan)
        return 1.0

    study = Study("nanrep", SPACE, metric="loss", store="memory", seed=0)
    study.optimize(objective, n_trials=1)
    assert study.trials[0].status is TrialStatus.FAILED
    assert "metric 'loss' reported at step 0 must be finite" in study.trials[0].error


DRIVER = textwrap.dedent(
    """
    import sys, time
    import tunelab

    def objective(config):
        time.sleep(0.15)
        return config["x"]

    space = tunelab.Space(x=tunelab.Float(0, 1), k=tunelab.Int(0, 9))
    study = tunelab.Study("resume", space, store=sys.argv[1], seed=5)
    study.optimize(objective, max_trials=24, workers=2)
    """
)


def test_killing_the_run_and_running_it_again_resumes_without_loss_or_rerun(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    db = tmp_path / "resume.db"
    proc = subprocess.Popen([sys.executable, str(script), str(db)])
    store = tunelab.SQLStore(f"sqlite:///{db}")
    deadline = time.monotonic() + 60
    done: list[tunelab.Trial] = []
    while time.monotonic() < deadline:
        try:
            record = store.get_study("resume")
            done = store.get_trials(record.id, statuses=[TrialStatus.COMPLETE])
        except tunelab.StudyNotFoundError:
            pass
        if len(done) >= 6:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.number: t for t in store.get_trials(record.id)}
    completed_before = {n: t for n, t in before.items() if t.status is TrialStatus.COMPLETE}
    assert 6 <= len(completed_before) < 24
    assert any(t.status is TrialStatus.RUNNING for t in before.values())  # orphans left

    subprocess.run([sys.executable, str(script), str(db)], check=True, timeout=120)

    after = {t.number: t for t in store.get_trials(record.id)}
    assert len(after) == 24 and sorted(after) == list(range(24))
    assert all(t.status is TrialStatus.COMPLETE for t in after.values())
    for number, trial in completed_before.items():  # kept, and not rerun
        assert after[number].finished_at == trial.finished_at
        assert after[number].value == trial.value
    requeued = [t for t in after.values() if t.attempt > 1]
    assert requeued and all("driver" in t.system_attrs["requeued"] for t in requeued)
    configs = [tuple(sorted(t.config.items())) for t in after.values()]
    assert len(set(configs)) == 24  # nothing ran twice
    store.close()


def test_keyboard_interrupt_requeues_running_trials_for_the_next_run():
    calls = []

    def objective(config):
        calls.append(config)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return config["x"]

    study = Study("ctrl-c", SPACE, store="memory", seed=0)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, n_trials=5)
    statuses = [t.status for t in study.trials]
    assert statuses == [TrialStatus.COMPLETE, TrialStatus.COMPLETE, TrialStatus.WAITING]
    study.optimize(lambda c: c["x"], n_trials=3)
    assert study.trials[2].status is TrialStatus.COMPLETE
    assert study.trials[2].config == calls[2]
    assert study.trials[2].attempt == 2


def test_an_orphan_of_a_dead_driver_on_this_host_is_requeued(tmp_path):
    study = Study("orphan", SPACE, store=str(tmp_path / "o.db"), seed=0)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    host = os.uname().nodename
    study.store.create_trial(study._record.id, {"x": 0.5, "k": 1},
                             status=TrialStatus.RUNNING, worker=f"{host}:{pid}:dead")
    assert study.recover() == [0]
    assert study.trials[0].status is TrialStatus.WAITING
    study.optimize(lambda c: c["x"], n_trials=1)
    assert study.trials[0].status is TrialStatus.COMPLETE and study.trials[0].value == 0.5


def test_a_live_drivers_trial_is_not_taken(tmp_path):
    study = Study("alive", SPACE, store=str(tmp_path / "a.db"), seed=0)
    host = os.uname().nodename
    study.store.create_trial(study._record.id, {"x": 0.5, "k": 1},
                             status=TrialStatus.RUNNING, worker=f"{host}:{os.getppid()}:other")
    assert study.recover() == []
    assert study.trials[0].status is TrialStatus.RUNNING


def test_process_executor_rejects_bad_arguments():
    message = "`workers` must be an integer >= 1; got 0"
    with pytest.raises(tunelab.InvalidArgumentError, match=message):
        Study("w", SPACE, store="memory").optimize(lambda c: 1.0, n_trials=1, workers=0)
    for bad in (-1, 0, float("nan"), float("inf"), "1", True):
        with pytest.raises(tunelab.InvalidArgumentError, match="`trial_timeout` must be a finite"):
            tunelab.ProcessExecutor(2, trial_timeout=bad)
        with pytest.raises(tunelab.InvalidArgumentError, match="`trial_timeout` must be a finite"):
            Study("t", SPACE, store="memory").optimize(lambda c: 1.0, n_trials=1, trial_timeout=bad)

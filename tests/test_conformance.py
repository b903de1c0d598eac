"""One conformance suite for every registered searcher and scheduler.

A new algorithm is registered in ``tunelab.searchers.SEARCHERS`` or
``tunelab.schedulers.SCHEDULERS`` and is held to the same contract as the others: valid
configurations, the same trials for the same seed, proposals that follow from seed and
history alone (so a resumed study continues exactly), and a spec that rebuilds it.
(Store backends have their own suite: tests/test_store_conformance.py.)
"""

from __future__ import annotations

import time

import pytest

import tunelab
from tunelab import Categorical, Float, Int, PowerOfTwo, Space, Trial, TrialStatus
from tunelab.schedulers import SCHEDULERS
from tunelab.searchers import SEARCHERS, make_searcher

SPACE = Space(
    opt=Categorical(["sgd", "adam"]),
    lr=Float(1e-4, 1e-1, log=True),
    momentum=Float(0.0, 0.9, step=0.1, when={"opt": "sgd"}),
    layers=Int(1, 3),
    batch=PowerOfTwo(16, 64),
)
N = 24


def _run(searcher: tunelab.Searcher, n: int, history: list[Trial] | None = None) -> list[Trial]:
    """Drive a searcher the way a study does: propose, record, repeat."""
    trials = list(history or [])
    for _ in range(n):
        number = len(trials)
        config = searcher.suggest(SPACE, tuple(trials), number)
        value = float(len(str(config)))
        trials.append(Trial(number=number, status=TrialStatus.COMPLETE, config=config,
                            metrics={"value": value}, value=value))
    return trials


@pytest.fixture(params=sorted(SEARCHERS))
def searcher_name(request):
    return request.param


def test_registry_names_match_classes():
    assert all(cls.name == name for name, cls in SEARCHERS.items())
    assert all(cls.name == name for name, cls in SCHEDULERS.items())


def test_searcher_proposals_are_valid_configurations(searcher_name):
    for trial in _run(make_searcher(searcher_name, seed=1), N):
        assert SPACE.validate(trial.config) == trial.config


def test_searcher_is_deterministic_for_a_seed(searcher_name):
    first = [t.config for t in _run(make_searcher(searcher_name, seed=3), N)]
    second = [t.config for t in _run(make_searcher(searcher_name, seed=3), N)]
    assert first == second


def test_searcher_resumes_from_history_alone(searcher_name):
    uninterrupted = _run(make_searcher(searcher_name, seed=5), N)
    half = _run(make_searcher(searcher_name, seed=5), N // 2)
    resumed = _run(make_searcher(searcher_name, seed=5), N - N // 2, history=half)
    assert [t.config for t in resumed] == [t.config for t in uninterrupted]


def test_searcher_spec_rebuilds_an_equivalent_searcher(searcher_name):
    original = make_searcher(searcher_name, seed=7)
    rebuilt = make_searcher(original.spec())
    assert type(rebuilt) is type(original) and rebuilt.spec() == original.spec()
    assert [t.config for t in _run(rebuilt, 8)] == [t.config for t in _run(original, 8)]


def test_searcher_does_not_change_the_history(searcher_name):
    history = _run(make_searcher("random", seed=0), 4)
    snapshot = [(t.number, dict(t.config)) for t in history]
    _run(make_searcher(searcher_name, seed=1), 3, history=history)
    assert [(t.number, dict(t.config)) for t in history[:4]] == snapshot


def test_searcher_in_a_study_resumed_through_sqlite(searcher_name, tmp_path):
    def objective(config):
        return config["lr"] * config["layers"]

    db = str(tmp_path / "c.db")
    first = tunelab.Study("conf", SPACE, searcher=searcher_name, seed=9, store=db)
    first.optimize(objective, n_trials=6)
    tunelab.Study("conf", store=db).optimize(objective, n_trials=6)  # fresh searcher object
    whole = tunelab.Study("whole", SPACE, searcher=searcher_name, seed=9, store="memory")
    whole.optimize(objective, n_trials=12)
    resumed = [t.config for t in tunelab.load_study("conf", store=db).trials]
    assert resumed == [t.config for t in whole.trials]


@pytest.fixture(params=sorted(SCHEDULERS))
def scheduler_cls(request):
    return SCHEDULERS[request.param]


def test_scheduler_answers_every_report_with_a_decision(scheduler_cls):
    scheduler = scheduler_cls()
    trial = Trial(number=0, status=TrialStatus.RUNNING, config={"x": 1.0})
    for step in range(5):
        decision = scheduler.on_report(trial, tunelab.Report(step, {"value": 1.0}, time.time()))
        assert isinstance(decision, tunelab.Decision)
    assert scheduler.spec()["name"] == scheduler_cls.name


def test_scheduler_in_a_study_leaves_no_trial_running(scheduler_cls):
    def objective(trial):
        for step in range(4):
            if trial.report(step, value=trial["x"] / (step + 1)) is not tunelab.Decision.CONTINUE:
                return None
        return None

    study = tunelab.Study("sched", Space(x=Float(0, 1)), scheduler=scheduler_cls(),
                          store="memory", seed=0)
    study.optimize(objective, n_trials=10)
    statuses = {t.status for t in study.trials}
    assert statuses <= {TrialStatus.COMPLETE, TrialStatus.STOPPED, TrialStatus.PAUSED}
    assert all(len(study.trial(t.number).reports) >= 1 for t in study.trials)


def _small(scheduler_cls):
    if scheduler_cls.name in ("fifo", "median"):
        return scheduler_cls(max_resource=9)
    return scheduler_cls(1, 9, 3)


@pytest.mark.parametrize("workers", [1, 2])
def test_scheduler_with_checkpoints_in_worker_processes(scheduler_cls, workers, tmp_path):
    """Every scheduler: trials resume from their checkpoints, nothing stays RUNNING, no
    step runs twice, the budget adds up, and the spec round-trips through the store."""

    def objective(trial):
        state = trial.load_checkpoint() or {"epochs": 0}
        assert state["epochs"] == trial.resumed_from
        for epoch in range(trial.resumed_from + 1, trial.resource + 1):
            state["epochs"] = epoch
            trial.save_checkpoint(state, step=epoch)
            if trial.report(epoch, value=trial["x"] + 1 / epoch) is not tunelab.Decision.CONTINUE:
                break

    db = str(tmp_path / "s.db")
    study = tunelab.Study("ckpt", Space(x=Float(0, 1)), scheduler=_small(scheduler_cls),
                          store=db, seed=3)
    study.optimize(objective, n_trials=12, workers=workers)
    trials = tunelab.load_study("ckpt", store=db).trials
    assert len(trials) == 12
    assert {t.status for t in trials} <= {
        TrialStatus.COMPLETE, TrialStatus.STOPPED, TrialStatus.PAUSED}
    assert any(t.status is TrialStatus.COMPLETE for t in trials)
    for t in trials:
        steps = [r.step for r in study.trial(t.number).reports]
        assert steps == list(range(1, len(steps) + 1)), (t.number, steps)
        assert t.system_attrs["consumed"] == len(steps)
    assert study.budget().consumed == sum(t.system_attrs["consumed"] for t in trials)
    assert tunelab.load_study("ckpt", store=db).scheduler.spec() == study.scheduler.spec()

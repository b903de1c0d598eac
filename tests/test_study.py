"""Studies: create or resume by name, ask/tell, optimize, results and records."""

from __future__ import annotations

import sys

import pytest

import tunelab
from tunelab import Categorical, Float, Int, Space, Study, TrialStatus

SPACE = Space(x=Float(-5, 5), n=Int(1, 3), opt=Categorical(["a", "b"]))


def quadratic(config):
    return (config["x"] - 1) ** 2 + config["n"]


@pytest.fixture(params=["memory", "sqlite"])
def url(request, tmp_path):
    return "memory" if request.param == "memory" else str(tmp_path / "s.db")


def test_a_study_is_resumed_by_name_with_its_trials_and_searcher_seed(tmp_path):
    db = str(tmp_path / "s.db")
    first = Study("resume", SPACE, store=db, seed=11)
    first.optimize(quadratic, n_trials=5)
    again = Study("resume", store=db)  # no space: resume
    assert again.space == SPACE and again.searcher.seed == 11
    assert [t.number for t in again.trials] == [0, 1, 2, 3, 4]
    again.optimize(quadratic, n_trials=3)
    fresh = Study("fresh", SPACE, store="memory", seed=11)
    fresh.optimize(quadratic, n_trials=8)
    assert [t.config for t in again.trials] == [t.config for t in fresh.trials]


def test_resuming_with_a_different_space_metric_or_direction_is_refused(tmp_path):
    db = str(tmp_path / "s.db")
    Study("fixed", SPACE, metric="loss", direction="min", store=db)
    with pytest.raises(tunelab.StudyMismatchError, match="exists with metric 'loss'; got 'acc'"):
        Study("fixed", metric="acc", store=db)
    with pytest.raises(tunelab.StudyMismatchError, match="direction 'min'; got 'max'"):
        Study("fixed", direction="max", store=db)
    with pytest.raises(tunelab.StudyMismatchError, match="space"):
        Study("fixed", Space(y=Float(0, 1)), store=db)
    Study("seeded", SPACE, store=db, seed=3)
    assert Study("seeded", store=db, seed=3).searcher.seed == 3
    with pytest.raises(tunelab.StudyMismatchError, match="exists with seed 3; got 99"):
        Study("seeded", store=db, seed=99)


def test_loading_a_missing_study_names_it():
    with pytest.raises(tunelab.StudyNotFoundError, match="no study named 'nope'"):
        tunelab.load_study("nope", store="memory")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"direction": "up"}, "`direction` must be 'min' or 'max'"),
        ({"metric": ""}, "`metric` must be a non-empty string"),
        ({"searcher": "bayes"}, "searcher must be one of ['"),
        ({"seed": -1}, "`seed` must be an integer >= 0 or None; got -1"),
    ],
)
def test_bad_study_arguments_are_named(kwargs, message):
    with pytest.raises(tunelab.InvalidArgumentError) as info:
        Study("bad", SPACE, store="memory", **kwargs)
    assert message in str(info.value)


def test_optimize_rejects_bad_budgets():
    study = Study("budget", SPACE, store="memory")
    with pytest.raises(tunelab.InvalidArgumentError, match="`n_trials` must be an integer >= 0"):
        study.optimize(quadratic, n_trials=-1)
    with pytest.raises(tunelab.InvalidArgumentError, match="`timeout` must be a number > 0"):
        study.optimize(quadratic, timeout=0)
    with pytest.raises(tunelab.InvalidArgumentError, match="`objective` must be callable"):
        study.optimize("f", n_trials=1)


def test_ask_and_tell_for_an_external_loop(url):
    study = Study("asktell", SPACE, metric="loss", store=url, seed=0)
    trial = study.ask()
    assert trial.number == 0 and set(trial) == {"x", "n", "opt"}
    trial.report(0, loss=3.0, acc=0.1)
    trial.report(1, loss=2.0, acc=0.2)
    finished = study.tell(trial)  # None: the last reported loss is the result
    assert finished.status is TrialStatus.COMPLETE
    assert finished.value == 2.0 and finished.metrics == {"loss": 2.0, "acc": 0.2}
    assert [r.step for r in study.trial(0).reports] == [0, 1]

    second = study.ask({"x": 1.0, "n": 1, "opt": "b"})
    assert study.tell(second.number, {"loss": 0.5, "time": 3.0}).value == 0.5

    third = study.ask()
    failed = study.tell(third, "oops")
    assert failed.status is TrialStatus.FAILED and "returned str 'oops'" in failed.error
    fourth = study.ask()
    assert study.tell(fourth, failed="out of memory").error == "out of memory"
    with pytest.raises(tunelab.InvalidArgumentError, match="trial 0 is COMPLETE"):
        study.tell(0, 1.0)
    with pytest.raises(tunelab.TrialNotFoundError):
        study.tell(99, 1.0)
    with pytest.raises(tunelab.InvalidConfigError, match="parameter 'n'"):
        study.ask({"x": 1.0, "n": 7, "opt": "a"})


def test_all_reported_metrics_are_kept_and_one_is_the_target(url):
    def objective(trial):
        for step in range(3):
            trial.report(step, acc=0.5 + step / 10, loss=1.0 / (step + 1))
        return {"acc": 0.8, "train_time": 1.5}

    study = Study("metrics", SPACE, metric="acc", direction="max", store=url, seed=0)
    study.optimize(objective, n_trials=2)
    trial = study.trial(1)
    assert trial.metrics == {"acc": 0.8, "loss": pytest.approx(1 / 3), "train_time": 1.5}
    assert trial.value == 0.8
    assert [r.metrics["acc"] for r in trial.reports] == [0.5, 0.6, 0.7]


def test_best_trial_leaderboard_and_records_respect_direction(url):
    values = iter([3.0, 1.0, 2.0, 5.0])
    for direction, best in (("min", 1.0), ("max", 5.0)):
        values = iter([3.0, 1.0, 2.0, 5.0])
        study = Study(f"best-{direction}", SPACE, direction=direction, store=url, seed=0)
        study.optimize(lambda c, v=values: next(v), n_trials=4)
        assert study.best_value == best
        board = [t.value for t in study.leaderboard(3)]
        assert board == ([1.0, 2.0, 3.0] if direction == "min" else [5.0, 3.0, 2.0])
        assert study.best_config == study.best_trial.config
    records = study.records()
    assert records[0]["number"] == 0 and records[0]["status"] == "COMPLETE"
    assert {"config.x", "config.n", "config.opt", "metrics.value", "value"} <= set(records[0])


def test_best_trial_without_complete_trials_says_so():
    study = Study("empty", SPACE, store="memory")
    with pytest.raises(tunelab.TunelabError, match="has no complete trial yet"):
        _ = study.best_trial


def test_to_dataframe_with_pandas_and_a_clear_error_without(monkeypatch):
    study = Study("df", SPACE, store="memory", seed=0)
    study.optimize(quadratic, n_trials=3)
    frame = study.to_dataframe()
    assert list(frame["number"]) == [0, 1, 2] and "config.x" in frame.columns
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(tunelab.MissingExtraError, match=r"pip install 'tunelab\[pandas\]'"):
        study.to_dataframe()


def test_budgets_n_trials_max_trials_timeout_and_an_exhausted_grid(url):
    study = Study("budgets", SPACE, store=url, seed=0)
    study.optimize(quadratic, n_trials=3)
    study.optimize(quadratic, n_trials=2)
    assert len(study.trials) == 5  # n_trials counts this call
    study.optimize(quadratic, max_trials=7)
    study.optimize(quadratic, max_trials=7)
    assert len(study.trials) == 7  # max_trials counts the study: rerunning resumes
    study.optimize(quadratic, timeout=0.2)
    assert len(study.trials) > 7

    grid = Study("grid", Space(n=Int(1, 3), opt=Categorical(["a", "b"])),
                 searcher="grid", store=url)
    grid.optimize(lambda c: c["n"], n_trials=100)
    assert len(grid.trials) == 6
    assert len({(t.config["n"], t.config["opt"]) for t in grid.trials}) == 6


def test_a_queued_baseline_runs_first_and_is_not_queued_twice(url):
    study = Study("baseline", SPACE, store=url, seed=0)
    baseline = {"x": 1.0, "n": 1, "opt": "a"}
    assert study.enqueue(baseline) is not None
    assert study.enqueue(baseline) is None  # already there
    study.optimize(quadratic, n_trials=3)
    assert study.trials[0].config == baseline and study.trials[0].value == 1.0
    assert study.best_trial.number == 0
    with pytest.raises(tunelab.InvalidConfigError, match="parameter 'x'"):
        study.enqueue({"x": 9.0, "n": 1, "opt": "a"})


def test_callbacks_and_user_attributes(url):
    seen = []
    study = Study("attrs", SPACE, store=url, seed=0)
    study.optimize(quadratic, n_trials=3, callbacks=[lambda s, t: seen.append(t.number)])
    assert seen == [0, 1, 2]
    study.set_user_attr("dataset", "digits")
    study.set_trial_user_attr(1, "note", {"k": [1, 2]})
    assert study.user_attrs == {"dataset": "digits"}
    assert study.trial(1).user_attrs == {"note": {"k": [1, 2]}}
    with pytest.raises(tunelab.InvalidArgumentError, match="user attribute 'bad'"):
        study.set_user_attr("bad", object())


def test_export_has_the_documented_shape(url):
    def objective(trial):
        trial.report(0, loss=2.0)
        return {"loss": 1.0}

    study = Study("export", SPACE, metric="loss", store=url, seed=0)
    study.optimize(objective, n_trials=2)
    data = study.export()
    assert data["study"]["name"] == "export" and data["study"]["metric"] == "loss"
    trial = data["trials"][0]
    assert {"number", "status", "config", "metrics", "reports"} <= set(trial)
    stamp = trial["reports"][0]["time"]
    assert trial["reports"] == [{"step": 0, "metrics": {"loss": 2.0}, "time": stamp}]


def test_the_trial_seed_is_stable_and_differs_between_trials():
    seeds = []

    def objective(trial):
        seeds.append(trial.seed)
        return 0.0

    Study("s1", SPACE, store="memory", seed=4).optimize(objective, n_trials=3)
    Study("s2", SPACE, store="memory", seed=4).optimize(objective, n_trials=3)
    assert seeds[:3] == seeds[3:] and len(set(seeds[:3])) == 3


def test_resuming_with_another_searcher_is_recorded(tmp_path):
    db = str(tmp_path / "s.db")
    Study("switch", SPACE, store=db, seed=1).optimize(quadratic, n_trials=2)
    switched = Study("switch", store=db, searcher="sobol", seed=5)
    switched.optimize(quadratic, n_trials=2)
    assert tunelab.load_study("switch", store=db).export()["study"]["searcher"] == {
        "name": "sobol", "seed": 5
    }
    assert Study("switch", store=db).searcher.spec() == {"name": "sobol", "seed": 5}

"""Warm start: copying finished trials of earlier studies into a study."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import tunelab
from tunelab import Float, GridSearcher, Int, Space, Study, Trial, TrialStatus
from tunelab.cli import cli

SPACE = Space(x=Int(0, 3), y=Int(0, 3))


def total(config):
    return config["x"] + config["y"]


def source(store, name="src", n=5, seed=0):
    study = Study(name, SPACE, store=store, seed=seed)
    study.optimize(total, n_trials=n)
    return study


def test_warm_started_trials_are_complete_with_their_origin():
    src = source("memory")
    src.tell(src.ask(), failed=True)  # failed trials are not copied
    dst = Study("dst", SPACE, store="memory", seed=1)
    added = dst.warm_start(src)
    assert [t.number for t in added] == [0, 1, 2, 3, 4]
    done = [t for t in src.trials if t.status is TrialStatus.COMPLETE]
    for new, old in zip(dst.trials, done, strict=True):
        assert new.status is TrialStatus.COMPLETE
        assert (new.config, new.metrics, new.value) == (old.config, old.metrics, old.value)
        assert new.system_attrs["warm_start"] == {"study": "src", "number": old.number}
    assert dst.warm_start(src) == []  # copied already: skipped


def test_the_searcher_sees_them_and_n_trials_counts_only_new_ones():
    dst = Study("dst", SPACE, store="memory", searcher=GridSearcher(), seed=0)
    dst.warm_start([{"config": {"x": 0, "y": 0}, "value": 0.0},
                    {"config": {"x": 0, "y": 1}, "metrics": {"value": 1.0, "extra": 2.0}}])
    dst.optimize(total, n_trials=3)
    trials = dst.trials
    assert len(trials) == 5
    new = [t.config for t in trials[2:]]
    assert {"x": 0, "y": 0} not in new and {"x": 0, "y": 1} not in new  # grid skipped them
    assert new == [{"x": 0, "y": 2}, {"x": 0, "y": 3}, {"x": 1, "y": 0}]
    assert trials[1].metrics == {"value": 1.0, "extra": 2.0}
    dst.optimize(total, max_trials=6)  # max_trials counts the whole study
    assert len(dst.trials) == 6


def test_best_trial_can_be_a_warm_started_one():
    dst = Study("dst", SPACE, store="memory", seed=0)
    dst.warm_start([Trial(number=7, status=TrialStatus.COMPLETE, config={"x": 1, "y": 1},
                          value=-5.0)])
    dst.optimize(total, n_trials=4)
    best = dst.best_trial
    assert best.number == 0 and best.value == -5.0
    assert best.system_attrs["warm_start"] == {"study": None, "number": 7}


def test_source_from_another_sqlite_store(tmp_path):
    other = str(tmp_path / "old.db")
    source(other, "earlier")
    dst = Study("dst", SPACE, store=str(tmp_path / "new.db"), seed=0)
    added = dst.warm_start("earlier", store=other)
    assert len(added) == 5
    origin = added[0].system_attrs["warm_start"]
    assert origin["study"] == "earlier" and origin["store"].endswith("old.db")
    assert dst.warm_start("earlier", store=other) == []
    reopened = tunelab.load_study("dst", store=str(tmp_path / "new.db"))
    assert len(reopened.trials) == 5 and reopened.best_value == min(t.value for t in added)
    with pytest.raises(tunelab.StudyNotFoundError, match="no study named 'ghost'"):
        dst.warm_start("ghost", store=other)


def test_a_study_name_in_the_same_store(tmp_path):
    db = str(tmp_path / "s.db")
    source(db, "a")
    dst = Study("b", SPACE, store=db, seed=0)
    assert len(dst.warm_start("a")) == 5
    with pytest.raises(tunelab.InvalidArgumentError, match="cannot warm-start from itself"):
        dst.warm_start("b")


def test_configs_outside_the_space_are_refused_or_skipped(caplog):
    src = Study("wide", Space(x=Int(0, 9), y=Int(0, 3), z=Float(0, 1)), store="memory")
    src.tell(src.ask({"x": 1, "y": 1, "z": 0.5}), 1.0)
    src.tell(src.ask({"x": 8, "y": 1, "z": 0.5}), 2.0)
    dst = Study("narrow", SPACE, store="memory")
    with pytest.raises(tunelab.InvalidConfigError) as info:
        dst.warm_start(src)
    message = str(info.value)
    assert "trial 0 of study 'wide'" in message and "['z']" in message
    assert "skip_invalid=True" in message
    assert dst.trials == []  # nothing was copied
    assert dst.warm_start(src, skip_invalid=True) == []
    assert "skipped 2 trial(s)" in caplog.text
    ok = Study("ok", Space(x=Int(0, 9), y=Int(0, 3)), store="memory")
    with pytest.raises(tunelab.InvalidConfigError, match=r"unknown parameter\(s\) \['z'\]"):
        ok.warm_start([{"config": {"x": 1, "y": 1, "z": 0.1}, "value": 1.0}])


def test_bad_records_and_missing_targets_are_named():
    dst = Study("dst", SPACE, metric="loss", store="memory")
    with pytest.raises(tunelab.InvalidArgumentError, match="has no value for \\['loss'\\]"):
        dst.warm_start([{"config": {"x": 1, "y": 1}, "metrics": {"acc": 0.5}}])
    with pytest.raises(tunelab.InvalidArgumentError, match="unknown key\\(s\\) \\['cfg'\\]"):
        dst.warm_start([{"cfg": {}, "config": {"x": 1, "y": 1}}])
    with pytest.raises(tunelab.InvalidArgumentError, match="record 0 must be"):
        dst.warm_start([[1, 2]])
    with pytest.raises(tunelab.InvalidArgumentError, match="must be finite"):
        dst.warm_start([{"config": {"x": 1, "y": 1}, "value": float("nan")}])
    with pytest.raises(tunelab.InvalidArgumentError, match="`source` must be"):
        dst.warm_start(42)
    with pytest.raises(tunelab.InvalidArgumentError, match="got 'FAILED'"):
        dst.warm_start([], statuses=["FAILED"])
    added = dst.warm_start([{"config": {"x": 1, "y": 1}, "metrics": {"loss": 0.5}},
                            {"config": {"x": 2, "y": 1}, "value": 0.25}])
    assert [t.value for t in added] == [0.5, 0.25]


def test_stopped_trials_on_request_and_multi_objective_targets():
    src = Study("src", SPACE, store="memory")
    src.tell(src.ask({"x": 1, "y": 0}), 1.0)
    stopped = src.store.create_trial(src._record.id, {"x": 2, "y": 0},
                                     status=TrialStatus.STOPPED, metrics={"value": 3.0},
                                     value=3.0)
    dst = Study("dst", SPACE, store="memory")
    assert [t.status for t in dst.warm_start(src, statuses=("COMPLETE", "STOPPED"))] == [
        TrialStatus.COMPLETE, TrialStatus.STOPPED]
    assert stopped.number == 1
    mo = Study("mo", SPACE, metric=["value", "cost"], direction=["min", "min"], store="memory")
    with pytest.raises(tunelab.InvalidArgumentError, match="no value for \\['cost'\\]"):
        mo.warm_start(src)
    mo.warm_start([{"config": {"x": 1, "y": 1}, "metrics": {"value": 1.0, "cost": 2.0}}])
    assert [t.number for t in mo.pareto_front()] == [0]


def test_schedulers_ignore_warm_started_trials():
    dst = Study("hb", SPACE, store="memory", seed=0,
                scheduler=tunelab.Hyperband(min_resource=1, max_resource=9, eta=3))
    dst.warm_start([{"config": {"x": 0, "y": 0}, "value": 0.0}])

    def objective(trial):
        for step in range(1, trial.resource + 1):
            if trial.report(step, value=total(trial) + 1 / step) != "CONTINUE":
                return

    dst.optimize(objective, n_trials=9)
    assert dst.budget().consumed == sum(t.system_attrs.get("consumed", 0) for t in dst.trials)
    assert dst.trials[0].system_attrs["consumed"] == 0.0
    assert dst.best_trial.number == 0


def test_cli_warm_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "space.json").write_text(SPACE.to_json())
    (tmp_path / "obj.py").write_text("def objective(c):\n    return c['x'] + c['y']\n")
    source(str(tmp_path / "old.db"), "earlier", n=4)
    runner = CliRunner()
    out = runner.invoke(cli, ["run", "obj.py:objective", "--space", "space.json",
                              "--trials", "3", "--study", "new", "--warm-start", "earlier",
                              "--warm-start-store", str(tmp_path / "old.db")])
    assert out.exit_code == 0, out.output
    assert "4 trial(s) copied from study 'earlier'" in out.output
    assert len(tunelab.load_study("new", store="tunelab.db").trials) == 7

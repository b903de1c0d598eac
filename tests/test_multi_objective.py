"""Multi-objective studies: objectives, Pareto front, ParEGO, the store migration, the CLI."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

import tunelab
from tunelab import Float, Int, Searcher, Space, Study, TrialStatus
from tunelab._pareto import hypervolume
from tunelab.cli import cli
from tunelab.searchers import SEARCHERS, ParEGOSearcher, make_searcher
from tunelab.store import SCHEMA_VERSION, SQLStore

SPACE = Space(x=Float(0, 1), y=Float(0, 1))
D = 5
ZDT_SPACE = Space({f"x{i}": Float(0, 1) for i in range(D)})


def two(config):
    return {"acc": config["x"], "latency": config["y"], "other": 1.0}


def zdt1(config):
    x = np.array([config[f"x{i}"] for i in range(D)])
    g = 1 + 9 * x[1:].sum() / (D - 1)
    return {"f1": float(x[0]), "f2": float(g * (1 - np.sqrt(x[0] / g)))}


def mo_study(name="mo", **kw):
    kw.setdefault("store", "memory")
    kw.setdefault("seed", 0)
    return Study(name, SPACE, metric=["acc", "latency"], direction=["max", "min"], **kw)


# ------------------------------------------------------------------------------ study


def test_objectives_primary_metric_and_flags():
    study = mo_study()
    assert study.objectives == (("acc", "max"), ("latency", "min"))
    assert (study.metric, study.direction) == ("acc", "max")
    assert study.is_multi_objective
    assert study.searcher.objectives == study.objectives
    single = Study("one", SPACE, metric="loss", store="memory")
    assert single.objectives == (("loss", "min"),) and not single.is_multi_objective
    assert single.searcher.objectives == (("loss", "min"),)
    listed = Study("listed", SPACE, metric=["loss"], direction=["max"], store="memory")
    assert listed.objectives == (("loss", "max"),) and not listed.is_multi_objective
    assert "metric=['acc', 'latency']" in repr(study)


@pytest.mark.parametrize(
    ("metric", "direction", "message"),
    [
        (["acc", "acc"], None, "['acc'] repeat in ['acc', 'acc']"),
        (["acc", "lat"], ["max"], "`metric` has 2 names ['acc', 'lat'] but `direction` has 1"),
        (["acc", "lat"], "max", "`direction` must be a list of 2 directions"),
        (["acc", "lat"], ["max", "fast"], "direction` of metric 'lat' must be 'min' or 'max'"),
        ("acc", ["max", "min"], "`direction` is a list ['max', 'min'] but `metric` is one"),
        ([], None, "at least one metric"),
        (["acc", ""], None, "non-empty string; got ''"),
    ],
)
def test_bad_objectives_are_named(metric, direction, message):
    with pytest.raises(tunelab.InvalidArgumentError) as info:
        Study("bad", SPACE, metric=metric, direction=direction, store="memory")
    assert message in str(info.value)


def test_resuming_keeps_the_objectives_and_refuses_others(tmp_path):
    db = str(tmp_path / "mo.db")
    mo_study(store=db).optimize(two, n_trials=3)
    again = Study("mo", store=db)
    assert again.objectives == (("acc", "max"), ("latency", "min"))
    assert again.searcher.objectives == again.objectives
    Study("mo", metric=["acc", "latency"], direction=["max", "min"], store=db)  # same: fine
    with pytest.raises(tunelab.StudyMismatchError, match="objectives"):
        Study("mo", metric=["acc", "latency"], direction=["max", "max"], store=db)


def test_a_complete_trial_must_report_every_objective():
    study = mo_study()
    study.optimize(lambda c: {"acc": c["x"]}, n_trials=1)
    trial = study.trials[0]
    assert trial.status is TrialStatus.FAILED
    assert "without the objective(s) ['latency']" in (trial.error or "")
    assert "max acc, min latency" in (trial.error or "")
    handle = study.ask()  # ask/tell too; reporting the objective per step counts
    handle.report(1, latency=0.5)
    assert study.tell(handle, {"acc": 0.3}).status is TrialStatus.COMPLETE
    handle = study.ask()
    assert study.tell(handle, 0.3).status is TrialStatus.FAILED  # a number is acc only


def test_pareto_front_and_best_trial():
    study = mo_study()
    points = [(0.9, 5.0), (0.5, 1.0), (0.4, 2.0), (0.9, 6.0), (0.2, 0.5), (0.5, 1.0)]
    for acc, latency in points:
        study.tell(study.ask(), {"acc": acc, "latency": latency})
    front = study.pareto_front()
    assert [t.number for t in front] == [0, 1, 5, 4]  # best acc first, ties by number
    with pytest.raises(tunelab.TunelabError, match=r"pareto_front\(\)"):
        _ = study.best_trial
    with pytest.raises(tunelab.TunelabError, match="2 objectives"):
        _ = study.best_value
    assert study.leaderboard(2)[0].number == 0  # by the primary metric
    exported = study.export()
    assert exported["study"]["objectives"] == [["acc", "max"], ["latency", "min"]]
    assert len(study.records()) == len(points)


def test_random_search_fills_the_front():
    study = mo_study(searcher="random")
    study.optimize(two, n_trials=30)
    front = study.pareto_front()
    assert front and all(t.status is TrialStatus.COMPLETE for t in front)
    accs = [t.metrics["acc"] for t in front]
    lats = [t.metrics["latency"] for t in front]
    assert accs == sorted(accs, reverse=True) and lats == sorted(lats, reverse=True)


def test_a_version_1_sqlite_file_opens_upgraded(tmp_path):
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
        conn.execute("INSERT INTO tunelab_meta VALUES ('schema_version', '1')")
        conn.execute(
            "INSERT INTO tunelab_studies VALUES (1, 'old', 'acc', 'max', ?, "
            "'{\"name\":\"random\",\"seed\":3}', '{\"name\":\"fifo\"}', '{}', 1.0)",
            (SPACE.to_json(),),
        )
        conn.execute(
            "INSERT INTO tunelab_trials (study_id, number, status, config, metrics, value, "
            "created_at, attempt, user_attrs, system_attrs) VALUES (1, 0, 'COMPLETE', "
            "'{\"x\":0.5,\"y\":0.5}', '{\"acc\":0.7}', 0.7, 1.0, 1, '{}', '{}')"
        )
    conn.close()
    with SQLStore(f"sqlite:///{path}") as store:
        assert store.schema_version == SCHEMA_VERSION == 3
        assert store.get_study("old").objectives == (("acc", "max"),)
        store.save_environment("abc", {"python": {"version": "3.11"}})  # v3's table
        assert store.get_environment("abc") == {"python": {"version": "3.11"}}
    study = tunelab.load_study("old", store=str(path))
    assert study.objectives == (("acc", "max"),) and study.best_value == 0.7
    study.optimize(lambda c: c["x"], n_trials=2)
    assert len(study.trials) == 3
    mo_study("new", store=str(path)).optimize(two, n_trials=2)
    assert Study("new", store=str(path)).is_multi_objective


# ------------------------------------------------------------------------------ ParEGO


class LocalSearch(Searcher):
    """A small model of the history for the tests: perturb the best trial by value."""

    name = "local-test"

    def suggest(self, space, history, number):
        rng = self.rng(number)
        done = [t for t in history if t.status is TrialStatus.COMPLETE and t.value is not None]
        if len(done) < 10 or rng.random() < 0.2:
            return space.sample(rng)
        best = min(done, key=lambda t: (t.value, t.number))
        x = space.encode(best.config) + rng.normal(0, 0.1, len(space))
        return space.decode(np.clip(x, 0, 1))


def zdt_hypervolume(searcher, seed, n=80):
    study = Study("zdt", ZDT_SPACE, metric=["f1", "f2"], direction=["min", "min"],
                  searcher=searcher, seed=seed, store="memory")
    study.optimize(zdt1, n_trials=n)
    front = np.array([[t.metrics["f1"], t.metrics["f2"]] for t in study.pareto_front()])
    return hypervolume(front, [1.1, 11.0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parego_beats_random_search_on_zdt1(seed):
    random = zdt_hypervolume("random", seed)
    parego = zdt_hypervolume(ParEGOSearcher(inner=LocalSearch(seed=seed), seed=seed), seed)
    assert parego > random + 0.3, (parego, random)


def test_parego_scalarises_the_history_for_its_inner_searcher():
    seen = {}

    class Spy(Searcher):
        name = "spy"

        def suggest(self, space, history, number):
            seen["history"] = list(history)
            seen["target"] = (self.metric, self.direction)
            return space.sample(self.rng(number))

    study = mo_study(searcher=ParEGOSearcher(inner=Spy(seed=0), seed=1))
    study.optimize(two, n_trials=6)
    history = seen["history"]
    assert seen["target"] == ("parego_loss", "min")
    assert len(history) == 5 and all(set(t.metrics) == {"parego_loss"} for t in history)
    values = [t.value for t in history]
    assert all(0 <= v <= 1.05 for v in values)
    assert [t.config for t in history] == [t.config for t in study.trials[:5]]


def test_parego_default_inner_spec_and_errors():
    searcher = make_searcher("parego", seed=4)
    assert searcher.inner.name == ("tpe" if "tpe" in SEARCHERS else "random")
    rebuilt = make_searcher(searcher.spec())
    assert rebuilt.spec() == searcher.spec()
    assert ParEGOSearcher(inner="random", seed=4).inner.seed != 4  # derived, not shared
    assert ParEGOSearcher(inner={"name": "random", "seed": 9}).inner.seed == 9
    with pytest.raises(tunelab.InvalidArgumentError, match="single-objective"):
        ParEGOSearcher(inner="parego")
    with pytest.raises(tunelab.InvalidArgumentError, match="`rho` must be"):
        ParEGOSearcher(rho=-1)
    with pytest.raises(tunelab.InvalidArgumentError, match="searcher must be one of"):
        ParEGOSearcher(inner="nope")


def test_parego_with_its_default_inner_runs_a_study(tmp_path):
    db = str(tmp_path / "p.db")
    study = mo_study("pe", searcher="parego", store=db)
    study.optimize(two, n_trials=14)
    assert {t.status for t in study.trials} == {TrialStatus.COMPLETE}
    resumed = Study("pe", store=db)
    assert resumed.searcher.spec() == study.searcher.spec()
    resumed.optimize(two, n_trials=2)
    assert len(resumed.pareto_front()) >= 1


# ------------------------------------------------------------------------------ CLI


OBJECTIVE = (
    "def objective(config):\n"
    "    return {'acc': config['x'], 'latency': config['y'] + config['n']}\n"
)


def test_cli_runs_a_multi_objective_study_and_prints_its_front(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "space.json").write_text(Space(x=Float(0, 1), y=Float(0, 1),
                                               n=Int(0, 2)).to_json())
    (tmp_path / "obj.py").write_text(OBJECTIVE)
    runner = CliRunner()
    out = runner.invoke(cli, ["run", "obj.py:objective", "--space", "space.json",
                              "--metric", "acc,latency", "--direction", "max,min",
                              "--trials", "12", "--seed", "0", "--study", "cli-mo"])
    assert out.exit_code == 0, out.output
    assert "Pareto front of study 'cli-mo'" in out.output
    assert "acc (max)" in out.output and "latency (min)" in out.output
    pareto = runner.invoke(cli, ["pareto", "cli-mo", "--json"])
    assert pareto.exit_code == 0, pareto.output
    front = json.loads(pareto.output)
    numbers = [t.number for t in tunelab.load_study("cli-mo").pareto_front()]
    assert [t["number"] for t in front] == numbers
    best = runner.invoke(cli, ["best", "cli-mo"])
    assert best.exit_code == 0 and "Pareto front" in best.output
    studies = runner.invoke(cli, ["studies"])
    assert "max acc, min latency" in studies.output and "(pareto)" in studies.output
    exported = runner.invoke(cli, ["export", "cli-mo", "--format", "csv"])
    assert exported.exit_code == 0
    bad = runner.invoke(cli, ["run", "obj.py:objective", "--space", "space.json",
                              "--metric", "acc,latency", "--direction", "max,up",
                              "--trials", "1", "--study", "cli-bad"])
    assert bad.exit_code != 0 and "'up'" in bad.output


V1_SCHEMA = """
CREATE TABLE tunelab_meta ("key" VARCHAR(64) NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY ("key"));
CREATE TABLE tunelab_studies (
    id INTEGER NOT NULL, name VARCHAR(255) NOT NULL, metric VARCHAR(255) NOT NULL,
    direction VARCHAR(8) NOT NULL, space TEXT NOT NULL, searcher TEXT NOT NULL,
    scheduler TEXT NOT NULL, user_attrs TEXT NOT NULL, created_at FLOAT NOT NULL,
    PRIMARY KEY (id), UNIQUE (name));
CREATE TABLE tunelab_trials (
    id INTEGER NOT NULL, study_id INTEGER NOT NULL, number INTEGER NOT NULL,
    status VARCHAR(16) NOT NULL, config TEXT NOT NULL, metrics TEXT, value FLOAT,
    created_at FLOAT NOT NULL, started_at FLOAT, finished_at FLOAT, heartbeat_at FLOAT,
    worker VARCHAR(255), attempt INTEGER NOT NULL, error TEXT, traceback TEXT,
    user_attrs TEXT NOT NULL, system_attrs TEXT NOT NULL, PRIMARY KEY (id),
    CONSTRAINT uq_tunelab_trials_study_number UNIQUE (study_id, number),
    FOREIGN KEY(study_id) REFERENCES tunelab_studies (id) ON DELETE CASCADE);
CREATE INDEX ix_tunelab_trials_study_status ON tunelab_trials (study_id, status);
CREATE TABLE tunelab_reports (
    id INTEGER NOT NULL, trial_id BIGINT NOT NULL, step INTEGER NOT NULL,
    metrics TEXT NOT NULL, time FLOAT NOT NULL, PRIMARY KEY (id),
    FOREIGN KEY(trial_id) REFERENCES tunelab_trials (id) ON DELETE CASCADE);
CREATE INDEX ix_tunelab_reports_trial ON tunelab_reports (trial_id, step);
"""

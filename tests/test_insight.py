"""Reruns outside the scheduler, reproduction with an environment difference, the
seed-noise verdict on objectives with known noise, and one-at-a-time sensitivity on
functions whose answer is known."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tunelab import (
    Categorical,
    Float,
    Hyperband,
    InvalidArgumentError,
    Space,
    Study,
    TrialStatus,
)
from tunelab.analysis import reproduce, seed_noise, sensitivity
from tunelab.study import RunRequest
from tunelab.tracking import current_environment


def noisy(trial: Any) -> float:
    """Deterministic given the trial's seed: quality of x plus seed noise of sd 0.01."""
    return (trial["x"] - 0.3) ** 2 + np.random.default_rng(trial.seed).normal(0, 0.01)


# ------------------------------------------------------------------------------ reruns


def test_run_requests_record_seed_resource_and_link() -> None:
    study = Study("rr", Space(x=Float(0, 1)), store="memory", seed=0)
    seen = []

    def objective(trial: Any) -> float:
        seen.append((trial.seed, trial.resource))
        return trial["x"]

    trials = study.run_requests(objective, [
        RunRequest({"x": 0.25}, seed=11, resource=3, attrs={"purpose": "p", "rerun_of": 5}),
        RunRequest({"x": 0.5}, seed=12),
    ])
    assert seen == [(11, 3), (12, None)]
    assert [t.value for t in trials] == [0.25, 0.5]
    assert trials[0].system_attrs["purpose"] == "p" and trials[0].system_attrs["rerun_of"] == 5
    assert all(t.system_attrs["scheduler"] == "rerun" for t in trials)
    assert study.seed_of(trials[0]) == 11
    with pytest.raises(InvalidArgumentError, match="seed"):
        RunRequest({"x": 0.5}, seed=-2)


def test_reruns_do_not_disturb_a_rung_scheduler(tmp_path: Path) -> None:
    def objective(trial: Any) -> dict[str, float]:
        for step in range(1, (trial.resource or 9) + 1):
            trial.report(step, loss=trial["x"] / step)
        return {"loss": trial["x"] / (trial.resource or 9)}

    path = str(tmp_path / "hb.db")
    study = Study("hb", Space(x=Float(0, 1)), metric="loss", store=path, seed=0,
                  scheduler=Hyperband(1, 9, 3))
    study.optimize(objective, n_trials=6)
    before = Study("hb", store=path).scheduler.rungs()
    # Reruns at every rung's resource, better than anything the search found.
    study.run_requests(objective, [RunRequest({"x": 0.0}, seed=1, resource=r)
                                   for r in (1, 3, 9)])
    again = Study("hb", store=path)  # restores the scheduler from the store, reruns too
    assert again.scheduler.rungs() == before
    assert again.best_trial.system_attrs.get("scheduler") != "rerun"
    again.optimize(objective, n_trials=2)
    assert all(t.status is not TrialStatus.RUNNING for t in again.trials)


def test_an_interrupted_rerun_fails_and_is_never_run_by_the_search() -> None:
    study = Study("intr", Space(x=Float(0, 1)), store="memory", seed=0)
    calls = []

    def objective(trial: Any) -> float:
        calls.append(trial.seed)
        if trial.seed == 1234:
            raise KeyboardInterrupt
        return trial["x"]

    with pytest.raises(KeyboardInterrupt):
        study.run_requests(objective, [RunRequest({"x": 0.5}, seed=1234)])
    [rerun] = study.trials
    assert rerun.status is TrialStatus.FAILED and "interrupted rerun" in (rerun.error or "")
    study.optimize(objective, n_trials=1)
    assert len(study.trials) == 2 and calls[-1] != 1234  # a new search trial ran


def test_reruns_stay_out_of_best_trial_search_history_and_max_trials() -> None:
    study = Study("out", Space(x=Float(0, 1)), store="memory", seed=0)
    study.optimize(lambda c: 1 + c["x"], n_trials=3)
    study.run_requests(lambda c: -100.0, [RunRequest({"x": 0.5}, seed=s) for s in range(3)])
    assert study.best_value >= 1 and all(not t.is_rerun for t in study.leaderboard(None))
    assert len(study.completed()) == 3
    seen = []


    original = study.searcher.suggest

    def spy(space: Any, history: Any, number: int) -> Any:
        seen.append(sorted(t.number for t in history))
        return original(space, history, number)

    study.searcher.suggest = spy  # type: ignore[method-assign]
    study.optimize(lambda c: 1 + c["x"], max_trials=4)  # 3 search trials + 1, reruns aside
    assert seen == [[0, 1, 2]]
    assert sum(not t.is_rerun for t in study.trials) == 4


def test_repro_of_a_stopped_trial_stops_where_it_stopped() -> None:
    from tunelab import MedianStopping

    def objective(trial: Any) -> dict[str, float]:
        loss = 0.0
        for step in range(1, 11):
            loss = trial["x"] + 1.0 / step
            if trial.report(step, loss=loss).value != "CONTINUE":
                break
        return {"loss": loss}

    study = Study("stop", Space(x=Float(0, 1)), metric="loss", store="memory", seed=0,
                  scheduler=MedianStopping(grace_period=1, min_samples=2))
    study.optimize(objective, n_trials=8)
    stopped = [t for t in study.trials if t.status is TrialStatus.STOPPED]
    assert stopped
    result = reproduce(study, objective, stopped[0].number)
    assert result.reproduced, result.text()
    assert result.rerun.system_attrs["step"] == stopped[0].system_attrs["step"]


def test_sensitivity_on_a_conditional_space() -> None:
    space = Space(opt=Categorical(["adam", "sgd"]), lr=Float(1e-3, 1.0, log=True),
                  momentum=Float(0.0, 0.99, when={"opt": "sgd"}))

    def objective(trial: Any) -> float:
        return trial["lr"] + (1 - trial.get("momentum", 0.5)) * (trial["opt"] == "sgd")

    study = Study("cond", space, store="memory", seed=0)
    result = sensitivity(study, objective, baseline={"opt": "adam", "lr": 0.01},
                         params=["opt", "lr"], points=3, repeats=2)
    opt = result.curve("opt")
    assert opt.values == ("adam", "sgd") and all(k == 2 for k in opt.n)
    sgd_runs = [t for t in study.trials if t.config["opt"] == "sgd"]
    assert sgd_runs and all("momentum" in t.config for t in sgd_runs)  # filled in
    with pytest.raises(InvalidArgumentError, match="inactive at the baseline"):
        sensitivity(study, objective, baseline={"opt": "adam", "lr": 0.01},
                    params=["momentum"])


def test_reruns_in_worker_processes() -> None:
    study = Study("rrp", Space(x=Float(0, 1)), store="memory")
    requests = [RunRequest({"x": 0.1 * i}, seed=i) for i in range(4)]
    trials = study.run_requests(noisy, requests, workers=2)
    assert [t.config["x"] for t in trials] == [0.1 * i for i in range(4)]
    assert all(t.status is TrialStatus.COMPLETE for t in trials)


# ------------------------------------------------------------------------------ repro


def test_a_seeded_trial_reproduces_exactly() -> None:
    study = Study("repro", Space(x=Float(0, 1)), store="memory", seed=4)
    study.optimize(noisy, n_trials=3)
    result = reproduce(study, noisy, 2)
    assert result.reproduced
    assert result.rerun.value == study.trial(2).value
    assert result.rerun.system_attrs["seed"] == study.trial(2).system_attrs["seed"]
    assert result.environment == ()
    assert "REPRODUCED" in result.text()


def test_a_changed_objective_and_a_package_upgrade_are_reported() -> None:
    study = Study("repro2", Space(x=Float(0, 1)), store="memory", seed=4)
    study.optimize(noisy, n_trials=2)
    card = current_environment()[0]
    upgraded = {**card, "packages": {**card["packages"], "numpy": "99.0.0",
                                     "brand-new": "1.0"}}
    result = reproduce(study, lambda t: noisy(t) + 0.5, 1, environment=upgraded)
    assert not result.reproduced
    [check] = result.metrics
    assert check.name == "value" and not check.same
    assert check.difference == pytest.approx(0.5)
    whats = {d.what: (d.before, d.after) for d in result.environment}
    assert whats == {"package numpy": (np.__version__, "99.0.0"),
                     "package brand-new": (None, "1.0")}
    text = result.text()
    assert "NOT reproduced" in text and "package numpy" in text


def test_repro_refuses_a_running_trial_and_bad_tolerances() -> None:
    study = Study("repro3", Space(x=Float(0, 1)), store="memory")
    handle = study.ask()
    with pytest.raises(InvalidArgumentError, match="RUNNING"):
        reproduce(study, noisy, handle.number)
    with pytest.raises(InvalidArgumentError, match="rtol"):
        reproduce(study, noisy, handle.number, rtol=-1)


# ------------------------------------------------------------------------------ seeds


def _grid_study(name: str, values: dict[str, float], sd: dict[str, float]) -> tuple[Study, Any]:
    def objective(trial: Any) -> float:
        k = trial["k"]
        return values[k] + np.random.default_rng(trial.seed).normal(0, sd[k])

    space = Space(k=Categorical(list(values)))
    study = Study(name, space, store="memory", searcher="grid", seed=0)
    study.optimize(objective, n_trials=len(values))
    return study, objective


def test_gaps_far_above_the_noise_are_a_real_ranking() -> None:
    study, f = _grid_study("s1", {"a": 0.0, "b": 1.0, "c": 2.0}, {"a": .05, "b": .05, "c": .05})
    result = seed_noise(study, f, top=3, repeats=6)
    assert [c.config["k"] for c in result.configs] == ["a", "b", "c"]
    assert result.ranking_is_real and all(result.separated)
    assert all(c.n == 6 and c.ci[0] < c.mean < c.ci[1] for c in result.configs)
    assert all(0.02 < c.std < 0.1 for c in result.configs)  # the known sd, 0.05
    assert not any(c.unstable for c in result.configs)
    reruns = [t for t in study.trials if t.system_attrs.get("purpose") == "seeds"]
    assert len(reruns) == 18 and {t.system_attrs["rerun_of"] for t in reruns} == {0, 1, 2}
    assert "better than" in result.verdict()


def test_gaps_below_the_noise_are_not_a_ranking_and_a_wild_config_is_flagged() -> None:
    # b, c, d are equally good: any order among them is seed noise.
    study, f = _grid_study("s2", {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0},
                           {"a": 1.0, "b": 0.05, "c": 0.05, "d": 0.05})
    result = seed_noise(study, f, top=4, repeats=8)
    assert not result.ranking_is_real and not any(result.separated)
    assert "less than the seed noise" in result.verdict()
    flagged = [c.config["k"] for c in result.configs if c.unstable]
    assert flagged == ["a"]
    assert "UNSTABLE" in result.text()


def test_seed_noise_reuses_finished_reruns() -> None:
    study, f = _grid_study("s3", {"a": 0.0, "b": 1.0}, {"a": .1, "b": .1})
    first = seed_noise(study, f, top=2, repeats=3)
    n = len(study.trials)
    again = seed_noise(study, f, top=2, repeats=4)  # one more repeat each
    assert len(study.trials) == n + 2
    assert again.configs[0].values[:3] == first.configs[0].values
    with pytest.raises(InvalidArgumentError, match="repeats"):
        seed_noise(study, f, repeats=1)


# ------------------------------------------------------------------------------ sensitivity


def test_sensitivity_finds_the_parameter_that_matters_and_ignores_the_other() -> None:
    space = Space(lr=Float(1e-4, 1.0, log=True), wd=Float(0.0, 1.0),
                  act=Categorical(["relu", "tanh"]))

    def objective(trial: Any) -> float:
        noise = np.random.default_rng(trial.seed).normal(0, 0.02)
        return (math.log10(trial["lr"]) + 2) ** 2 + noise  # wd and act ignored

    study = Study("sens", space, store="memory", seed=1)
    result = sensitivity(study, objective, baseline={"lr": 1e-3, "wd": 0.5, "act": "relu"},
                         points=5, repeats=3)
    assert result.curves[0].name == "lr"  # the most sensitive first
    lr, wd, act = result.curve("lr"), result.curve("wd"), result.curve("act")
    assert lr.log and not wd.log and act.categorical
    assert lr.values[0] == pytest.approx(1e-4) and lr.values[-1] == pytest.approx(1.0)
    assert lr.best == pytest.approx(1e-2) and lr.matters and lr.spread > 3
    assert not wd.matters and not act.matters
    assert wd.spread < 0.1 and 0.005 < wd.noise < 0.05
    assert len(lr.good) == 1
    assert all(k == 3 for c in result.curves for k in c.n)  # every point ran 3 times
    runs = [t for t in study.trials if t.system_attrs.get("purpose") == "sensitivity"]
    # baseline x3, then 4 + 4 + 1 other values x3 (the baseline's own values are shared)
    assert len(runs) == 3 + (4 + 4 + 1) * 3
    n = len(study.trials)
    sensitivity(study, objective, baseline={"lr": 1e-3, "wd": 0.5, "act": "relu"},
                points=5, repeats=3)
    assert len(study.trials) == n  # everything reused
    data = result.plot_data()
    assert data["log"]["lr"] is True and len(data["lr"]) == 5


def test_sensitivity_rejects_unknown_parameters() -> None:
    study = Study("sens2", Space(x=Float(0, 1)), store="memory")
    with pytest.raises(InvalidArgumentError, match="unknown parameter"):
        sensitivity(study, noisy, params=["nope"])

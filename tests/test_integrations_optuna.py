"""Objectives written for Optuna, exactly as its users write them, run unchanged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import sklearn.datasets
import sklearn.ensemble
import sklearn.linear_model
import sklearn.model_selection
import sklearn.svm

from tunelab import (
    ASHA,
    Categorical,
    Float,
    InvalidArgumentError,
    InvalidSpaceError,
    MedianStopping,
    Space,
    TrialStatus,
    load_study,
)
from tunelab.integrations import OptunaTrial, TrialPruned, optimize_optuna


def quadratic(trial: Any) -> float:
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


def classifier_choice(trial: Any) -> float:
    """Optuna's README example: the classifier is chosen, then its own parameters."""
    iris = sklearn.datasets.load_iris()
    x, y = iris.data, iris.target

    classifier_name = trial.suggest_categorical("classifier", ["SVC", "RandomForest"])
    if classifier_name == "SVC":
        svc_c = trial.suggest_float("svc_c", 1e-10, 1e10, log=True)
        classifier_obj = sklearn.svm.SVC(C=svc_c, gamma="auto")
    else:
        rf_max_depth = trial.suggest_int("rf_max_depth", 2, 32, log=True)
        classifier_obj = sklearn.ensemble.RandomForestClassifier(
            max_depth=rf_max_depth, n_estimators=5
        )
    score = sklearn.model_selection.cross_val_score(classifier_obj, x, y, n_jobs=1, cv=3)
    accuracy = score.mean()
    return float(accuracy)


X, Y = sklearn.datasets.load_iris(return_X_y=True)
TRAIN_X, VALID_X, TRAIN_Y, VALID_Y = sklearn.model_selection.train_test_split(
    X, Y, random_state=0)
CLASSES = np.unique(Y)


def pruned_sgd(trial: Any) -> float:
    """Optuna's pruning tutorial: report every step, ask whether to prune."""
    alpha = trial.suggest_float("alpha", 1e-5, 1e-1, log=True)
    clf = sklearn.linear_model.SGDClassifier(alpha=alpha, random_state=0)
    for step in range(12):
        clf.partial_fit(TRAIN_X, TRAIN_Y, classes=CLASSES)
        intermediate_value = 1.0 - clf.score(VALID_X, VALID_Y)
        trial.report(intermediate_value, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return 1.0 - clf.score(VALID_X, VALID_Y)


def test_quadratic_from_optuna_docs() -> None:
    study = optimize_optuna(quadratic, n_trials=40, seed=0)
    assert study.space == Space(x=Float(-10, 10))
    assert len(study.trials) == 40 and study.direction == "min"
    assert abs(study.best_trial.config["x"] - 2) < 0.5
    # the first 5 ran to discover the space, and were copied in
    assert all("warm_start" in t.system_attrs for t in study.trials[:5])
    assert not any("warm_start" in t.system_attrs for t in study.trials[5:])


def test_classifier_choice_infers_conditional_params() -> None:
    study = optimize_optuna(classifier_choice, n_trials=10, direction="maximize", seed=1)
    space = study.space
    assert space["svc_c"].when == {"classifier": ("SVC",)}
    assert space["rf_max_depth"].when == {"classifier": ("RandomForest",)}
    assert space["svc_c"].log and isinstance(space["classifier"], Categorical)
    for trial in study.trials:
        assert trial.status is TrialStatus.COMPLETE
        expected = {"classifier", "svc_c" if trial.config["classifier"] == "SVC"
                    else "rf_max_depth"}
        assert set(trial.config) == expected
    assert study.best_value > 0.9


@pytest.mark.parametrize("pruned", [optuna.TrialPruned, TrialPruned])
def test_pruned_iterative_objective(pruned: type[Exception]) -> None:
    def objective(trial: Any) -> float:
        alpha = trial.suggest_float("alpha", 1e-5, 1e-1, log=True)
        loss = 1.0
        for step in range(10):
            loss *= 0.5 + alpha * 5  # larger alpha learns slower
            trial.report(loss, step)
            if trial.should_prune():
                raise pruned()
        return loss

    study = optimize_optuna(objective, n_trials=16, seed=0, n_startup_trials=4,
                            scheduler=MedianStopping(grace_period=2, min_samples=3))
    statuses = [t.status for t in study.trials]
    assert TrialStatus.STOPPED in statuses and TrialStatus.COMPLETE in statuses
    stopped = next(t for t in study.trials[4:] if t.status is TrialStatus.STOPPED)
    reports = study.store.get_trial(study._record.id, stopped.number, with_reports=True).reports
    assert reports[0].step == 1 and len(reports) < 10  # Optuna's step 0 is tunelab's 1
    assert stopped.value == reports[-1].metrics["value"]


def test_sgd_tutorial_under_asha_resumes_without_double_reports() -> None:
    study = optimize_optuna(pruned_sgd, n_trials=9, seed=0, n_startup_trials=3,
                            scheduler=ASHA(min_resource=1, max_resource=12, eta=3))
    trials = study.store.get_trials(study._record.id, with_reports=True)
    promoted = [t for t in trials if t.system_attrs.get("resumes")]
    assert promoted, "ASHA promoted no trial"
    for trial in promoted:
        steps = [r.step for r in trial.reports]
        assert steps == sorted(set(steps)), steps  # rerun from the start, old steps dropped
    assert max(r.step for t in trials for r in t.reports) == 12


def test_old_suggest_names_steps_and_user_attrs() -> None:
    def objective(trial: Any) -> float:
        a = trial.suggest_uniform("a", 0, 1)
        b = trial.suggest_loguniform("b", 1e-3, 1)
        c = trial.suggest_discrete_uniform("c", 0, 1, 0.25)
        n = trial.suggest_int("n", 2, 10, step=2)
        m = trial.suggest_int("m", 1, 64, log=True)
        trial.set_user_attr("note", f"n={n}")
        assert trial.suggest_int("n", 2, 10, step=2) == n  # asked twice: same value
        return a + b + c + n + m

    study = optimize_optuna(objective, n_trials=8, seed=3, n_startup_trials=3)
    space = study.space
    assert space["b"].log and space["c"].step == 0.25 and space["n"].step == 2
    assert space["m"].log
    for trial in study.trials:
        assert trial.config["c"] in (0.0, 0.25, 0.5, 0.75, 1.0)
        assert trial.config["n"] in (2, 4, 6, 8, 10)
        assert trial.user_attrs["note"] == f"n={trial.config['n']}"


def test_a_branch_missed_at_start_up_is_drawn_and_recorded() -> None:
    def objective(trial: Any) -> float:
        kind = trial.suggest_categorical("kind", ["a", "b", "c"])
        if kind == "c":
            return trial.suggest_float("c_only", 0, 1)
        return 1.0

    study = optimize_optuna(objective, n_trials=12, seed=0, n_startup_trials=2,
                            searcher="random")
    assert "c_only" not in study.space  # start-up runs took "a" and "b" only
    later = [t for t in study.trials if t.config["kind"] == "c"]
    assert later and all(0 <= t.user_attrs["undiscovered"]["c_only"] <= 1 for t in later)


def test_given_space_and_resumed_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/optuna.db"
    optimize_optuna(quadratic, n_trials=3, space=Space(x=Float(-10, 10)), study_name="q",
                    store=url, seed=0)
    assert [t.system_attrs.get("warm_start") for t in load_study("q", url).trials] == [None] * 3
    study = optimize_optuna(quadratic, n_trials=2, study_name="q", store=url)
    assert len(study.trials) == 5 and study.space == Space(x=Float(-10, 10))


def test_outside_a_study_and_bad_input() -> None:
    trial = OptunaTrial(None, seed=0)
    trial.report(0.5, 0)
    assert not trial.should_prune() and trial.intermediate_values == {0: 0.5}
    with pytest.raises(InvalidSpaceError, match="low"):
        trial.suggest_float("bad", 1, 0)
    with pytest.raises(InvalidArgumentError, match="`step` must be an integer >= 0"):
        trial.report(0.1, -1)
    with pytest.raises(InvalidArgumentError, match="`direction` must be one of"):
        optimize_optuna(quadratic, n_trials=2, direction="up")
    with pytest.raises(InvalidArgumentError, match="`n_trials` must be an integer >= 1"):
        optimize_optuna(quadratic, n_trials=0)

    def broken(trial: Any) -> float:
        trial.suggest_float("x", 0, 1)
        raise RuntimeError("no data")

    with pytest.raises(InvalidArgumentError, match=r"all 2 start-up runs .* RuntimeError: no data"):
        optimize_optuna(broken, n_trials=4, n_startup_trials=2)


def test_optuna_is_not_imported() -> None:
    code = ("import sys, tunelab.integrations as i; i.optimize_optuna; i.TrialPruned; "
            "assert 'optuna' not in sys.modules, 'optuna was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_multi_objective_directions() -> None:
    def objective(trial: Any) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 5)
        y = trial.suggest_float("y", 0, 3)
        return 4 * x**2 + 4 * y**2, (x - 5) ** 2 + (y - 5) ** 2  # Optuna's BNH example

    study = optimize_optuna(objective, n_trials=12, direction=["minimize", "minimize"],
                            seed=0, n_startup_trials=4)
    assert study.objectives == (("value_0", "min"), ("value_1", "min"))
    assert len(study.trials) == 12 and all(t.status is TrialStatus.COMPLETE
                                           for t in study.trials)
    front = study.pareto_front()
    assert front and all({"value_0", "value_1"} <= set(t.metrics) for t in front)

    def one_value(trial: Any) -> float:
        return trial.suggest_float("x", 0, 1)

    with pytest.raises(InvalidArgumentError, match=r"all 2 start-up runs .* needs the objective"):
        optimize_optuna(one_value, n_trials=3, direction=["minimize", "maximize"],
                        n_startup_trials=2)

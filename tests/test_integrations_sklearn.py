"""TuneSearchCV keeps scikit-learn's search contract, records every trial, and drives
multi-fidelity searches with tunelab's schedulers."""

from __future__ import annotations

import pickle
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import check_estimator

from tunelab import (
    ASHA,
    Categorical,
    Float,
    InvalidArgumentError,
    MissingExtraError,
    Space,
    TrialStatus,
    load_study,
)
from tunelab.integrations import TuneSearchCV

ALPHA = Space(alpha=Float(1e-3, 1e2, log=True))


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(x), y


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    x, y = make_classification(n_samples=300, n_features=8, n_informative=5, random_state=0)
    return x, y


def test_grid_search_contract(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    search = TuneSearchCV(RidgeClassifier(), ALPHA, n_trials=6, cv=3, random_state=0)
    assert search.fit(x, y) is search
    results = search.cv_results_
    for key in ("params", "param_alpha", "mean_test_score", "std_test_score",
                "rank_test_score", "split0_test_score", "split2_test_score",
                "mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time",
                "trial"):
        assert len(results[key]) == 6, key
    assert "split3_test_score" not in results and "mean_train_score" not in results
    assert results["trial"].tolist() == list(range(6))
    best = int(np.argmax(results["mean_test_score"]))
    assert search.best_index_ == best and results["rank_test_score"][best] == 1
    assert search.best_params_ == results["params"][best]
    assert search.best_score_ == pytest.approx(results["mean_test_score"][best])
    # predict/score go to the refitted best estimator
    assert search.best_estimator_.alpha == search.best_params_["alpha"]
    assert (search.predict(x) == search.best_estimator_.predict(x)).all()
    assert search.score(x, y) == pytest.approx(search.best_estimator_.score(x, y))
    assert search.n_splits_ == 3 and search.classes_.tolist() == [0, 1, 2]
    # every trial is in the study, with the cv_results_ columns as metrics
    trials = search.study_.trials
    assert [t.status for t in trials] == [TrialStatus.COMPLETE] * 6
    assert search.study_.metric == "mean_test_score" and search.study_.direction == "max"
    assert [t.config for t in trials] == results["params"]
    assert trials[best].value == pytest.approx(search.best_score_)
    assert set(trials[0].metrics) >= {"mean_test_score", "std_test_score", "mean_fit_time"}


def test_same_scores_as_grid_search_cv(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    space = Space(alpha=Categorical([0.01, 1.0, 100.0]))
    ours = TuneSearchCV(RidgeClassifier(), space, searcher="grid", n_trials=10, cv=4,
                        return_train_score=True).fit(x, y)
    theirs = GridSearchCV(RidgeClassifier(), {"alpha": [0.01, 1.0, 100.0]}, cv=4,
                          return_train_score=True).fit(x, y)
    assert len(ours.cv_results_["params"]) == 3  # the grid ran out before n_trials
    order = np.argsort([p["alpha"] for p in ours.cv_results_["params"]])
    for key in ("mean_test_score", "split3_test_score", "mean_train_score", "rank_test_score"):
        np.testing.assert_allclose(np.asarray(ours.cv_results_[key])[order],
                                   theirs.cv_results_[key])
    assert ours.best_params_ == theirs.best_params_


def test_pipeline_multimetric_and_refit_options(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=200))])
    space = Space({"clf__C": Float(1e-2, 1e2, log=True)})
    search = TuneSearchCV(pipe, space, n_trials=4, cv=3, scoring=["accuracy", "f1_macro"],
                          refit="f1_macro", random_state=0).fit(x, y)
    assert {"mean_test_accuracy", "rank_test_f1_macro", "split1_test_f1_macro"} <= set(
        search.cv_results_)
    assert search.study_.metric == "mean_test_f1_macro"
    assert search.best_score_ == pytest.approx(max(search.cv_results_["mean_test_f1_macro"]))
    assert set(search.best_params_) == {"clf__C"}
    assert search.best_params_["clf__C"] == search.best_estimator_.named_steps["clf"].C
    assert set(search.study_.trials[0].metrics) >= {"mean_test_accuracy", "mean_test_f1_macro"}

    def pick_worst(results: dict[str, Any]) -> int:
        return int(np.argmin(results["mean_test_acc"]))

    scoring = {"acc": "accuracy", "bal": "balanced_accuracy"}
    by_callable = TuneSearchCV(pipe, space, n_trials=3, cv=3, scoring=scoring,
                               refit=pick_worst, random_state=0).fit(x, y)
    assert by_callable.study_.metric == "mean_test_acc"  # the first scorer
    assert by_callable.best_index_ == int(np.argmin(by_callable.cv_results_["mean_test_acc"]))
    assert not hasattr(by_callable, "best_score_")  # as in GridSearchCV
    def two_scores(estimator: Any, x_val: np.ndarray, y_val: np.ndarray) -> dict[str, float]:
        hits = estimator.predict(x_val) == y_val
        return {"hits": float(hits.mean()), "misses": float(1 - hits.mean())}

    by_function = TuneSearchCV(pipe, space, n_trials=2, cv=3, scoring=two_scores,
                               refit="hits", random_state=0).fit(x, y)
    assert by_function.study_.metric == "mean_test_hits" and by_function.multimetric_
    assert by_function.best_score_ == pytest.approx(max(by_function.cv_results_[
        "mean_test_hits"]))
    no_refit = TuneSearchCV(pipe, space, n_trials=2, cv=3, scoring=scoring, refit=False,
                            random_state=0).fit(x, y)
    assert not hasattr(no_refit, "best_estimator_")
    with pytest.raises(ValueError, match="refit"):
        TuneSearchCV(pipe, space, n_trials=2, scoring=scoring, refit=True).fit(x, y)


def test_clone_params_pickle_and_estimator_checks() -> None:
    search = TuneSearchCV(Ridge(), ALPHA, n_trials=2, cv=2, random_state=0)
    copy = clone(search)
    assert copy.get_params()["space"] == ALPHA and copy.get_params()["n_trials"] == 2
    copy.set_params(n_trials=3, estimator__fit_intercept=False)
    assert copy.n_trials == 3 and not copy.estimator.fit_intercept
    x, y = make_classification(n_samples=40, n_features=4, random_state=0)
    fitted = TuneSearchCV(Ridge(), ALPHA, n_trials=2, cv=2, random_state=0).fit(x, y)
    again = pickle.loads(pickle.dumps(fitted))  # sklearn contract
    assert not hasattr(again, "study_") and again.study_name_ == fitted.study_name_
    np.testing.assert_allclose(again.predict(x), fitted.predict(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(search, expected_failed_checks={
            "check_supervised_y_2d": "GridSearchCV(Ridge()) fails it the same way: the "
                                     "search's tags do not say multi-output",
        })


def test_n_samples_fidelity_with_asha(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = blobs
    search = TuneSearchCV(RidgeClassifier(), ALPHA, resource="n_samples", min_resources=10,
                          factor=3, n_trials=9, cv=2, random_state=0).fit(x, y)
    results = search.cv_results_
    budgets = results["n_resources"]
    # rungs at 150 (the smaller training fold) / 3**k, down to min_resources
    assert sorted(set(budgets.tolist())) == [17, 50, 150]
    assert (budgets == 17).sum() == 9 and (budgets == 150).sum() >= 1
    top = budgets == budgets.max()
    assert top[search.best_index_]
    assert search.best_score_ == pytest.approx(results["mean_test_score"][top].max())
    full = RidgeClassifier(**search.best_params_).fit(x, y)  # refitted on all the data
    np.testing.assert_allclose(search.best_estimator_.coef_, full.coef_)
    study = search.study_
    assert study.scheduler.max_resource == 150 and len(study.trials) == 9
    # every evaluation is a report at its budget
    reported = sorted((t.number, r.step) for t in study.store.get_trials(
        study._record.id, with_reports=True) for r in t.reports)
    assert reported == sorted(zip(results["trial"].tolist(), budgets.tolist(), strict=True))


def test_iteration_parameter_fidelity_in_pipeline(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = blobs
    pipe = Pipeline([("clf", ExtraTreesClassifier(n_estimators=9, max_depth=4,
                                                  random_state=0))])
    space = Space({"clf__max_features": Float(0.2, 1.0)})
    search = TuneSearchCV(pipe, space, resource="clf__n_estimators", scheduler="hyperband",
                          min_resources=1, n_trials=6, cv=2, random_state=0).fit(x, y)
    results = search.cv_results_
    assert [p["clf__n_estimators"] for p in results["params"]] == results["n_resources"].tolist()
    assert set(results["n_resources"].tolist()) <= {1, 3, 9}
    assert search.best_params_["clf__n_estimators"] == 9
    assert search.best_estimator_.named_steps["clf"].n_estimators == 9
    assert "clf__n_estimators" not in search.study_.space


def test_stopping_mode_passes_rungs_in_one_run(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = blobs
    search = TuneSearchCV(RidgeClassifier(), ALPHA, resource="n_samples",
                          scheduler=ASHA(30, 120, 2, mode="stopping"), n_trials=5, cv=2,
                          random_state=0).fit(x, y)
    first = [b for t, b in zip(search.cv_results_["trial"], search.cv_results_["n_resources"],
                               strict=True) if t == 0]
    assert first == [30, 60, 120]  # the first trial always goes on, one rung after another


def test_store_and_study_name(tmp_path: Path, iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    url = f"sqlite:///{tmp_path}/search.db"
    search = TuneSearchCV(RidgeClassifier(), ALPHA, n_trials=3, cv=2, store=url,
                          study_name="ridge", random_state=0).fit(x, y)
    assert search.study_name_ == "ridge"
    study = load_study("ridge", url)
    assert [t.config for t in study.trials] == search.cv_results_["params"]
    # a second fit continues the study; cv_results_ shows that fit's evaluations
    search.set_params(n_trials=2).fit(x, y)
    assert len(search.cv_results_["params"]) == 2
    assert len(load_study("ridge", url).trials) == 5


def test_failures_follow_error_score(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    space = Space(penalty=Categorical(["l2", "bogus"]))
    kwargs: dict[str, Any] = {"searcher": "grid", "n_trials": 2, "cv": 2}
    search = TuneSearchCV(LinearSVC(), space, **kwargs).fit(x, y)
    assert search.best_params_ == {"penalty": "l2"}
    statuses = {t.config["penalty"]: t.status for t in search.study_.trials}
    assert statuses == {"l2": TrialStatus.COMPLETE, "bogus": TrialStatus.FAILED}
    assert "All the 2 fits failed" in str(search.study_.trials[1].error)
    with pytest.raises(ValueError, match="penalty"):
        TuneSearchCV(LinearSVC(), space, error_score="raise", **kwargs).fit(x, y)
    with pytest.raises(ValueError, match="All the 2 fits"):
        TuneSearchCV(LinearSVC(), Space(penalty=Categorical(["bogus"])), **kwargs).fit(x, y)


def test_parallel_folds(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    serial = TuneSearchCV(RidgeClassifier(), ALPHA, n_trials=3, cv=3, random_state=1).fit(x, y)
    with parallel_config(backend="threading"):  # process start-up is too slow for a test
        parallel = TuneSearchCV(RidgeClassifier(), ALPHA, n_trials=3, cv=3, random_state=1,
                                n_jobs=2).fit(x, y)
    np.testing.assert_allclose(serial.cv_results_["mean_test_score"],
                               parallel.cv_results_["mean_test_score"])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"space": Space(gamma=Float(0.1, 1))}, r"names \['gamma'\].*allowed: \['alpha'"),
    ({"n_trials": 0}, "`n_trials` must be an integer >= 1; got 0"),
    ({"resource": "depth"}, "'depth' is neither 'n_samples' nor a parameter"),
    ({"resource": "alpha"}, "also in the space"),
    ({"resource": "max_iter", "max_resources": "auto"}, "`max_resources` must be an integer"),
    ({"resource": "n_samples", "scheduler": "median"}, "cannot be built from"),
    ({"scheduler": ASHA(1, 9)}, "`resource` is None"),
    ({"resource": "n_samples", "factor": 1}, "`factor` must be a number > 1"),
    ({"space": [1, 2]}, "`space` must be a tunelab.Space"),
])
def test_bad_arguments_are_named(kwargs: dict[str, Any], match: str,
                                 iris: tuple[np.ndarray, np.ndarray]) -> None:
    args: dict[str, Any] = {"space": ALPHA, "n_trials": 2, "cv": 2, **kwargs}
    with pytest.raises(InvalidArgumentError, match=match):
        TuneSearchCV(RidgeClassifier(), **args).fit(*iris)


def test_missing_scikit_learn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]
    monkeypatch.delitem(sys.modules, "tunelab.integrations._sklearn")
    with pytest.raises(MissingExtraError, match=r"pip install 'tunelab\[sklearn\]'"):
        import tunelab.integrations._sklearn  # noqa: F401


def test_space_as_mapping(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    for space in ({"alpha": Float(1e-3, 1e2, log=True)},
                  {"alpha": {"type": "float", "low": 1e-3, "high": 1e2, "log": True}}):
        search = TuneSearchCV(RidgeClassifier(), space, n_trials=2, cv=2, random_state=0)
        assert search.fit(x, y).study_.space == ALPHA

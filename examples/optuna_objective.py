"""Optuna objectives, unchanged, in tunelab.

Two objectives written exactly as Optuna's documentation writes them:

* ``classifier_choice`` picks a classifier, then asks for that classifier's own
  parameters (define-by-run). tunelab discovers the space by running the first trials and
  infers the conditions: ``svc_c`` only when ``classifier == "SVC"``, ``rf_max_depth``
  only for the random forest.
* ``sgd_with_pruning`` reports the validation error after every epoch and raises
  ``TrialPruned`` when ``trial.should_prune()``; tunelab's median stopping rule (Optuna's
  ``MedianPruner``) decides.

Every trial is recorded (``optuna-objective.db``): ``tunelab trials optuna-sgd --store
optuna-objective.db``.

    python examples/optuna_objective.py            # 40 trials each
    python examples/optuna_objective.py --quick    # 8 and 12
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import sklearn.datasets
import sklearn.ensemble
import sklearn.linear_model
import sklearn.model_selection
import sklearn.svm

from tunelab import MedianStopping, Study
from tunelab.integrations import TrialPruned, optimize_optuna


def classifier_choice(trial: Any) -> float:
    iris = sklearn.datasets.load_iris()
    x, y = iris.data, iris.target

    classifier_name = trial.suggest_categorical("classifier", ["SVC", "RandomForest"])
    if classifier_name == "SVC":
        svc_c = trial.suggest_float("svc_c", 1e-10, 1e10, log=True)
        classifier_obj = sklearn.svm.SVC(C=svc_c, gamma="auto")
    else:
        rf_max_depth = trial.suggest_int("rf_max_depth", 2, 32, log=True)
        classifier_obj = sklearn.ensemble.RandomForestClassifier(
            max_depth=rf_max_depth, n_estimators=10
        )

    score = sklearn.model_selection.cross_val_score(classifier_obj, x, y, n_jobs=1, cv=3)
    accuracy = score.mean()
    return float(accuracy)


def sgd_with_pruning(trial: Any) -> float:
    x, y = sklearn.datasets.load_digits(return_X_y=True)
    classes = list(set(y))
    train_x, valid_x, train_y, valid_y = sklearn.model_selection.train_test_split(
        x, y, random_state=0)

    alpha = trial.suggest_float("alpha", 1e-5, 1e-1, log=True)
    clf = sklearn.linear_model.SGDClassifier(alpha=alpha, random_state=0)

    for step in range(20):
        clf.partial_fit(train_x, train_y, classes=classes)

        # Report intermediate objective value.
        intermediate_value = 1.0 - clf.score(valid_x, valid_y)
        trial.report(intermediate_value, step)

        # Handle pruning based on the intermediate value.
        if trial.should_prune():
            raise TrialPruned()

    return 1.0 - clf.score(valid_x, valid_y)


def main(argv: list[str] | None = None) -> dict[str, Study]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (for CI)")
    parser.add_argument("--store", default="optuna-objective.db", help="where trials go")
    args = parser.parse_args(argv)
    n_choice, n_sgd = (8, 12) if args.quick else (40, 40)

    choice = optimize_optuna(classifier_choice, n_trials=n_choice, direction="maximize",
                             study_name="optuna-classifier", store=args.store, seed=0)
    print("inferred space:", choice.space)
    print(f"best accuracy {choice.best_value:.3f} with {choice.best_trial.config}")

    sgd = optimize_optuna(sgd_with_pruning, n_trials=n_sgd, study_name="optuna-sgd",
                          store=args.store, seed=0, n_startup_trials=3,
                          scheduler=MedianStopping(grace_period=2, min_samples=3))
    statuses = [t.status.value for t in sgd.trials]
    print(f"SGD: best error {sgd.best_value:.3f} at alpha={sgd.best_trial.config['alpha']:.2g}; "
          f"{statuses.count('STOPPED')} of {len(statuses)} trials pruned, epochs run: "
          f"{int(np.sum([t.system_attrs.get('step', 20) for t in sgd.trials]))} "
          f"of {20 * len(statuses)}")
    return {"classifier": choice, "sgd": sgd}


if __name__ == "__main__":
    main()

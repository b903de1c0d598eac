"""TuneSearchCV: GridSearchCV's contract, tunelab's searchers and schedulers.

A scaled logistic regression on scikit-learn's digits (no download), searched twice:

1. like RandomizedSearchCV, but with TPE choosing each next ``C`` from the scores so far;
2. multi-fidelity, like HalvingRandomSearchCV: ASHA trains every candidate on a small
   stratified subsample of each training fold first, and only the best third go on to
   three times more data, up to the whole fold.

Both are ordinary scikit-learn estimators (``best_params_``, ``cv_results_``,
``predict``...) and every trial is recorded in ``sklearn-search.db``.

    python examples/sklearn_search.py            # 30 candidates each (~30 s)
    python examples/sklearn_search.py --quick    # 6 candidates, 2 folds
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tunelab import Float, Space
from tunelab.integrations import TuneSearchCV

SPACE = Space({"clf__C": Float(1e-4, 1e2, log=True)})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (for CI)")
    parser.add_argument("--store", default="sklearn-search.db", help="where trials go")
    args = parser.parse_args(argv)
    n_trials, cv = (6, 2) if args.quick else (30, 5)

    x, y = load_digits(return_X_y=True)
    if args.quick:
        x, y = x[:500], y[:500]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("clf", LogisticRegression(max_iter=50 if args.quick else 300))])
    searches = {
        "tpe": TuneSearchCV(pipe, SPACE, n_trials=n_trials, cv=cv, random_state=0,
                            store=args.store, study_name="digits-tpe"),
        "asha-n_samples": TuneSearchCV(pipe, SPACE, n_trials=n_trials, cv=cv, random_state=0,
                                       resource="n_samples", scheduler="asha", factor=3,
                                       store=args.store, study_name="digits-asha"),
    }
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, search in searches.items():
            search.fit(x_train, y_train)
            fits = len(search.cv_results_["params"])
            print(f"{name:15s} best C={search.best_params_['clf__C']:.3g}  "
                  f"cv={search.best_score_:.3f}  test={search.score(x_test, y_test):.3f}  "
                  f"({fits} evaluations)")
            out[name] = search
    return out


if __name__ == "__main__":
    main()

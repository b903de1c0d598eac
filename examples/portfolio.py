"""Portfolios: try configurations that were good on many past datasets first.

tunelab ships portfolios learned on dozens of PMLB datasets (``tunelab.portfolio``). Here
the logistic-regression one seeds a search on a dataset it never saw (scikit-learn's
breast cancer data): ``PortfolioSearcher`` proposes its configurations best first, then
hands over to TPE, which learns from them. Compared with TPE from scratch, after the same
few trials. The search runs through ``TuneSearchCV`` in a pipeline, so the portfolio's
parameter names get the step's prefix (``clf__C``...).

    python examples/portfolio.py            # 12 trials each, 5 folds
    python examples/portfolio.py --quick    # 4 trials each, 3 folds
"""

from __future__ import annotations

import argparse
import warnings

from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tunelab import PortfolioSearcher, Space
from tunelab.integrations import TuneSearchCV
from tunelab.portfolio import builtin, builtin_space


def prefixed(prefix: str) -> tuple[Space, list[dict[str, object]]]:
    """The built-in logistic-regression space and portfolio, names prefixed."""
    space = builtin_space("logistic_regression")
    assert space is not None
    configs = [{prefix + k: v for k, v in c.items()} for c in builtin("logistic_regression")]
    return Space({prefix + name: space[name] for name in space.names}), configs


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (for CI)")
    args = parser.parse_args(argv)
    n_trials, cv = (4, 3) if args.quick else (12, 5)
    x, y = load_breast_cancer(return_X_y=True)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    space, configs = prefixed("clf__")
    searchers = {"tpe from scratch": "tpe",
                 "portfolio, then tpe": PortfolioSearcher(configs, then="tpe", seed=0)}
    curves = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, searcher in searchers.items():
            search = TuneSearchCV(pipe, space, searcher=searcher, n_trials=n_trials, cv=cv,
                                  scoring="balanced_accuracy", random_state=0).fit(x, y)
            scores = search.cv_results_["mean_test_score"]
            curves[name] = [float(max(scores[: i + 1])) for i in range(len(scores))]
            print(f"{name:20s} best so far: "
                  + " ".join(f"{s:.3f}" for s in curves[name]))
    return curves


if __name__ == "__main__":
    main()

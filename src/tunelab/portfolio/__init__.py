"""Portfolios: configurations that were good on many past datasets, tried first.

* :func:`build_portfolio` -- greedy choice of k configurations from a
  :class:`ResultsTable` (:func:`table_from_records`, :func:`table_from_studies`);
  :func:`cross_validate` -- how well portfolios built one way carry over to unseen
  datasets (choose ``k``, the normalization or the candidates with it);
* :class:`Portfolio` -- the result, saved as YAML/JSON for
  :class:`tunelab.searchers.PortfolioSearcher` (``searcher=PortfolioSearcher(path=...)``);
* :func:`builtin` -- portfolios shipped with tunelab, read from files in the package (no
  network, no scikit-learn needed to load them); :func:`builtin_space` -- the space each
  was learned in (go on searching it after the portfolio); :func:`builtin_info` -- the whole
  file (metric, datasets, provenance). :data:`BUILTIN` lists them:

  - ``"xgboost"``: learned on YAHPO rbv2_xgboost by ``benchmarks/portfolio_xgboost.py``
    (held-out evaluation: docs/benchmarks/portfolio-xgboost.md);
  - ``"hist_gradient_boosting"``, ``"random_forest"``, ``"mlp"``, ``"svc"``,
    ``"logistic_regression"``: scikit-learn classifiers, learned from real training runs
    on PMLB datasets by ``benchmarks/portfolio_sklearn.py`` (held-out evaluation:
    docs/benchmarks/portfolio-sklearn.md).

>>> from tunelab import PortfolioSearcher
>>> searcher = PortfolioSearcher(builtin("svc"), then="tpe")
>>> space = builtin_space("svc")   # C, gamma, class_weight of sklearn.svm.SVC
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tunelab.portfolio._build import (
    NORMALIZATIONS,
    Portfolio,
    ResultsTable,
    build_portfolio,
    cross_validate,
    judged_regret,
    table_from_records,
    table_from_studies,
)
from tunelab.searchers.portfolio import PortfolioSearcher, read_portfolio
from tunelab.space import Space

_BUILTIN = Path(__file__).with_name("builtin")

#: The built-in portfolios: name -> what they are for.
BUILTIN: dict[str, str] = {
    "xgboost": "XGBoost (YAHPO rbv2_xgboost surrogate space)",
    "hist_gradient_boosting": "sklearn.ensemble.HistGradientBoostingClassifier",
    "random_forest": "sklearn.ensemble.RandomForestClassifier",
    "mlp": "sklearn.neural_network.MLPClassifier (hidden_layer_sizes = (width,) * layers)",
    "svc": "sklearn.svm.SVC (RBF kernel)",
    "logistic_regression": "sklearn.linear_model.LogisticRegression",
}
#: Other accepted spellings.
ALIASES: dict[str, str] = {
    "hgb": "hist_gradient_boosting",
    "histgradientboostingclassifier": "hist_gradient_boosting",
    "rf": "random_forest",
    "randomforestclassifier": "random_forest",
    "mlpclassifier": "mlp",
    "logreg": "logistic_regression",
    "logisticregression": "logistic_regression",
}


def _path(name: str) -> Path:
    from tunelab._errors import InvalidArgumentError

    key = name.lower().replace("-", "_") if isinstance(name, str) else name
    key = ALIASES.get(key, key)
    path = _BUILTIN / f"{key}.yaml"
    if key not in BUILTIN or not path.is_file():
        known = ", ".join(sorted(BUILTIN))
        raise InvalidArgumentError(
            f"no built-in portfolio {name!r}; known: {known} (aliases: "
            f"{', '.join(sorted(ALIASES))})")
    return path


def builtin(name: str) -> list[dict[str, Any]]:
    """The configurations of a portfolio shipped with tunelab (no network), best first.

    >>> len(builtin("xgboost")) > 0
    True
    """
    return read_portfolio(_path(name))


def builtin_info(name: str) -> dict[str, Any]:
    """The whole file of a built-in portfolio: ``configs``, ``direction``, ``metric``,
    ``datasets`` (where it was learned), ``space`` (when stated), ``regret`` and ``meta``
    (provenance: model, candidates, held-out datasets, the command that rebuilds it)."""
    from tunelab._errors import InvalidArgumentError

    path = _path(name)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, Mapping):
        raise InvalidArgumentError(f"built-in portfolio {str(path)!r} is not a mapping")
    return dict(data)


def builtin_space(name: str) -> Space | None:
    """The search space a built-in portfolio was learned in (None if its file states
    none): every configuration of the portfolio lies in it."""
    spec = builtin_info(name).get("space")
    return None if spec is None else Space.from_dict(spec)


__all__ = [
    "ALIASES",
    "BUILTIN",
    "NORMALIZATIONS",
    "Portfolio",
    "PortfolioSearcher",
    "ResultsTable",
    "build_portfolio",
    "builtin",
    "builtin_info",
    "builtin_space",
    "cross_validate",
    "judged_regret",
    "read_portfolio",
    "table_from_records",
    "table_from_studies",
]

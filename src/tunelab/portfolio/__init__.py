"""Portfolios: configurations that were good on many past datasets, tried first.

* :func:`build_portfolio` -- greedy choice of k configurations from a
  :class:`ResultsTable` (:func:`table_from_records`, :func:`table_from_studies`);
* :class:`Portfolio` -- the result, saved as YAML/JSON for
  :class:`tunelab.searchers.PortfolioSearcher` (``searcher=PortfolioSearcher(path=...)``);
* :func:`builtin` -- portfolios shipped with tunelab (``"xgboost"``: learned on YAHPO
  rbv2_xgboost by ``benchmarks/portfolio_xgboost.py``; evaluation on held-out tasks in
  docs/benchmarks/portfolio-xgboost.md).
"""

from pathlib import Path

from tunelab.portfolio._build import (
    Portfolio,
    ResultsTable,
    build_portfolio,
    table_from_records,
    table_from_studies,
)
from tunelab.searchers.portfolio import PortfolioSearcher, read_portfolio

_BUILTIN = Path(__file__).with_name("builtin")


def builtin(name: str) -> list[dict[str, object]]:
    """The configurations of a portfolio shipped with tunelab (no network), best first.

    >>> len(builtin("xgboost")) > 0
    True
    """
    from tunelab._errors import InvalidArgumentError

    known = sorted(p.stem for p in _BUILTIN.glob("*.yaml"))
    if name not in known:
        raise InvalidArgumentError(f"no built-in portfolio {name!r}; known: {known}")
    return read_portfolio(_BUILTIN / f"{name}.yaml")


__all__ = [
    "Portfolio",
    "PortfolioSearcher",
    "ResultsTable",
    "build_portfolio",
    "builtin",
    "read_portfolio",
    "table_from_records",
    "table_from_studies",
]

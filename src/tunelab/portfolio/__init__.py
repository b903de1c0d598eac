"""Portfolios: configurations that were good on many past datasets, tried first.

* :func:`build_portfolio` -- greedy choice of k configurations from a
  :class:`ResultsTable` (:func:`table_from_records`, :func:`table_from_studies`);
* :class:`Portfolio` -- the result, saved as YAML/JSON for
  :class:`tunelab.searchers.PortfolioSearcher` (``searcher=PortfolioSearcher(path=...)``).
"""

from tunelab.portfolio._build import (
    Portfolio,
    ResultsTable,
    build_portfolio,
    table_from_records,
    table_from_studies,
)
from tunelab.searchers.portfolio import PortfolioSearcher, read_portfolio

__all__ = [
    "Portfolio",
    "PortfolioSearcher",
    "ResultsTable",
    "build_portfolio",
    "read_portfolio",
    "table_from_records",
    "table_from_studies",
]

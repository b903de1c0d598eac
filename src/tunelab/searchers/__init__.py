"""Searchers decide WHAT to try next: one class per algorithm."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab._errors import InvalidArgumentError
from tunelab.searchers._base import Searcher, fresh_seed
from tunelab.searchers.evolution import RegularizedEvolution
from tunelab.searchers.gp import GPSearcher
from tunelab.searchers.grid import GridSearcher
from tunelab.searchers.parego import ParEGOSearcher
from tunelab.searchers.portfolio import PortfolioSearcher
from tunelab.searchers.random import RandomSearcher
from tunelab.searchers.sobol import SobolSearcher
from tunelab.searchers.tpe import TPESearcher

__all__ = [
    "SEARCHERS",
    "GPSearcher",
    "GridSearcher",
    "ParEGOSearcher",
    "PortfolioSearcher",
    "RandomSearcher",
    "RegularizedEvolution",
    "Searcher",
    "SobolSearcher",
    "TPESearcher",
    "fresh_seed",
    "make_searcher",
]

#: Registered searchers by name.
SEARCHERS: dict[str, type[Searcher]] = {
    cls.name: cls for cls in (RandomSearcher, SobolSearcher, GridSearcher, RegularizedEvolution,
                     TPESearcher, ParEGOSearcher, GPSearcher, PortfolioSearcher)
}


def make_searcher(
    spec: str | Mapping[str, Any] | Searcher | None, seed: int | None = None
) -> Searcher:
    """Build a searcher from an instance, a name (``"random"``) or a spec dict
    (``{"name": "grid", "points": 3}``).

    >>> make_searcher("sobol", seed=1)
    SobolSearcher(seed=1)
    """
    if spec is None:
        return RandomSearcher(seed=seed)
    if isinstance(spec, Searcher):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if (
        not isinstance(spec, Mapping)
        or not isinstance(spec.get("name"), str)
        or spec["name"] not in SEARCHERS
    ):
        raise InvalidArgumentError(
            f"searcher must be one of {sorted(SEARCHERS)} or a Searcher instance; got {spec!r}"
        )
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    if seed is not None and kwargs.get("seed") is None:
        kwargs["seed"] = seed
    try:
        return SEARCHERS[spec["name"]](**kwargs)
    except TypeError as exc:
        raise InvalidArgumentError(f"bad options for searcher {spec['name']!r}: {exc}") from None

"""Quasi-random search with a scrambled Sobol sequence (scipy.stats.qmc)."""

from __future__ import annotations

import warnings
from collections.abc import Collection
from typing import Any

import numpy as np

from tunelab.searchers._base import Searcher
from tunelab.space import Config, Space
from tunelab.trial import Trial

__all__ = ["SobolSearcher"]


class SobolSearcher(Searcher):
    """Trial ``n`` takes point ``n`` of a scrambled Sobol sequence, decoded from the unit cube.

    Sobol points cover the space more evenly than independent draws; the sequence's
    balance holds best at power-of-two numbers of trials.

    >>> from tunelab import Float, SobolSearcher, Space
    >>> space = Space(x=Float(0, 1), y=Float(0, 1))
    >>> s = SobolSearcher(seed=0)
    >>> xs = sorted(s.suggest(space, [], n)["x"] for n in range(4))
    >>> [int(x * 4) for x in xs]  # one point in each quarter
    [0, 1, 2, 3]
    """

    name = "sobol"

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self._points: np.ndarray | None = None
        self._engine: Any = None  # scipy.stats.qmc.Sobol, imported on first use
        self._dim = -1

    def _point(self, dim: int, index: int) -> np.ndarray:
        if self._engine is None or dim != self._dim:
            from scipy.stats import qmc  # slow to import: only when Sobol is used

            self._engine = qmc.Sobol(d=dim, scramble=True, seed=self.seed)
            self._points = np.empty((0, dim))
            self._dim = dim
        assert self._points is not None
        while index >= len(self._points):
            n = max(64, len(self._points))  # keep the total a power of two
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._points = np.vstack([self._points, self._engine.random(n)])
        return self._points[index]

    def suggest(self, space: Space, history: Collection[Trial], number: int) -> Config:
        return space.decode(self._point(len(space), number))

"""Grid search: every combination once, in order (or shuffled with a seed)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from tunelab._errors import InvalidArgumentError, SearchExhausted
from tunelab.searchers._base import Searcher
from tunelab.space import Config, Space, config_key
from tunelab.trial import Trial

__all__ = ["GridSearcher"]

MAX_GRID = 1_000_000


class GridSearcher(Searcher):
    """Tries each grid point once; configurations already in the study are skipped.

    Continuous Floats take ``points`` values each; Int, PowerOfTwo, Categorical and
    stepped Floats take all of theirs. ``shuffle=True`` visits the grid in a seeded
    random order. Raises :class:`~tunelab.SearchExhausted` when the grid is done.

    >>> from tunelab import Categorical, GridSearcher, Int, Space
    >>> space = Space(a=Int(1, 2), b=Categorical(["x", "y"]))
    >>> g = GridSearcher()
    >>> [g.suggest(space, [], n) for n in range(2)]
    [{'a': 1, 'b': 'x'}, {'a': 1, 'b': 'y'}]
    """

    name = "grid"

    def __init__(self, points: int = 5, shuffle: bool = False, seed: int | None = None) -> None:
        super().__init__(seed)
        if isinstance(points, bool) or not isinstance(points, int) or points < 1:
            raise InvalidArgumentError(f"`points` must be an integer >= 1; got {points!r}")
        self.points = points
        self.shuffle = shuffle
        self._grid: list[Config] = []
        self._grid_space: dict[str, Any] | None = None
        self._tried: set[str] = set()
        self._proposed: set[str] = set()
        self._expected_history = 0
        self._cursor = 0

    def _prepare(self, space: Space) -> None:
        spec = space.to_dict()
        if spec == self._grid_space:
            return
        grid: list[Config] = []
        for config in space.iter_grid(self.points):
            grid.append(config)
            if len(grid) > MAX_GRID:
                raise InvalidArgumentError(
                    f"the grid has more than {MAX_GRID:,} points; use fewer `points` "
                    f"(got {self.points}), steps, or a random or Sobol searcher"
                )
        if self.shuffle:
            order = np.random.default_rng(self.seed).permutation(len(grid))
            grid = [grid[i] for i in order]
        self._grid, self._grid_space = grid, spec
        self._tried, self._expected_history, self._cursor = set(), -1, 0
        self._proposed = set()

    def suggest(self, space: Space, history: Collection[Trial], number: int) -> Config:
        self._prepare(space)
        # Rebuild the tried set only when the history holds trials this searcher did not
        # propose (enqueued, other drivers, a resumed study); the common path is O(1).
        # What this searcher proposed stays tried even if the history does not show it.
        if len(history) != self._expected_history:
            self._tried = {config_key(t.config) for t in history} | self._proposed
            self._cursor = 0
        while self._cursor < len(self._grid):
            config = self._grid[self._cursor]
            self._cursor += 1
            key = config_key(config)
            if key not in self._tried:
                self._tried.add(key)
                self._proposed.add(key)
                self._expected_history = len(history) + 1
                return dict(config)
        raise SearchExhausted(f"the grid of {len(self._grid)} configurations is exhausted")

    def size(self, space: Space) -> int:
        """The number of grid points for ``space``."""
        self._prepare(space)
        return len(self._grid)

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seed": self.seed,
            "points": self.points,
            "shuffle": self.shuffle,
        }

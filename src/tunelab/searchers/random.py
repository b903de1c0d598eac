"""Random search: every trial an independent draw from the space's prior."""

from __future__ import annotations

from collections.abc import Collection

from tunelab.searchers._base import Searcher
from tunelab.space import Config, Space
from tunelab.trial import Trial

__all__ = ["RandomSearcher"]


class RandomSearcher(Searcher):
    """Independent draws; trial ``n`` uses its own generator seeded by ``(seed, n)``.

    >>> from tunelab import Float, RandomSearcher, Space
    >>> space = Space(x=Float(0, 1))
    >>> RandomSearcher(seed=7).suggest(space, [], 0) == RandomSearcher(seed=7).suggest(space, [], 0)
    True
    """

    name = "random"

    def suggest(self, space: Space, history: Collection[Trial], number: int) -> Config:
        return space.sample(self.rng(number))

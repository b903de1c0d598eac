"""The searcher interface: decide WHAT configuration to try next."""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from typing import Any, ClassVar

import numpy as np

from tunelab._errors import InvalidArgumentError
from tunelab.space import Config, Space
from tunelab.trial import Trial

__all__ = ["Searcher", "fresh_seed"]


def fresh_seed() -> int:
    """A random 63-bit seed from the operating system's entropy."""
    return secrets.randbits(63)


class Searcher(ABC):
    """Proposes configurations. Subclasses implement :meth:`suggest`.

    A searcher's proposals are a function of its seed, the space, the trial history and the
    trial number, so a study can be resumed after a crash and gives the same trials for
    the same seed, in any process. Searchers never write to the store.
    """

    #: The name under which the searcher is registered (``random``, ``grid``, ``sobol``...).
    name: ClassVar[str]
    #: Whether :meth:`suggest` needs each trial's intermediate reports in ``history``
    #: (multi-fidelity models such as BOHB's); the study then loads them.
    needs_reports: bool = False
    #: The target metric and its direction, set by the study through :meth:`setup`.
    metric: str = "value"
    direction: str = "min"
    #: Every objective of the study as ``(metric, direction)`` pairs, the target first;
    #: one pair unless the study is multi-objective (a trial's other objectives are in
    #: ``trial.metrics[name]``). Set by :meth:`setup`.
    objectives: tuple[tuple[str, str], ...] = (("value", "min"),)

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise InvalidArgumentError(f"`seed` must be an integer >= 0 or None; got {seed!r}")
        self.seed = fresh_seed() if seed is None else int(seed)

    def setup(
        self,
        metric: str,
        direction: str,
        *,
        objectives: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        """Learn the study's target: ``metric`` and ``direction`` (``"min"`` or ``"max"``),
        and, for a multi-objective study, every objective (``objectives``, the target
        first; default ``((metric, direction),)``).

        Model-based searchers rank trials by the target; a searcher that is never set up
        minimizes each trial's ``value``. A subclass that overrides this takes
        ``objectives`` too and calls ``super().setup``.
        """
        if direction not in ("min", "max"):
            raise InvalidArgumentError(f"`direction` must be 'min' or 'max'; got {direction!r}")
        pairs = ((metric, direction),) if not objectives else tuple(
            (str(m), str(d)) for m, d in objectives
        )
        if pairs[0] != (metric, direction):
            raise InvalidArgumentError(
                f"the first objective must be ({metric!r}, {direction!r}); got {pairs[0]!r}"
            )
        for m, d in pairs:
            if d not in ("min", "max"):
                raise InvalidArgumentError(
                    f"the direction of objective {m!r} must be 'min' or 'max'; got {d!r}"
                )
        self.metric = metric
        self.direction = direction
        self.objectives = pairs

    @abstractmethod
    def suggest(self, space: Space, history: Collection[Trial], number: int) -> Config:
        """Return the configuration for trial ``number``.

        ``history`` holds every trial of the study known so far (any status).
        Raise :class:`tunelab.SearchExhausted` when nothing is left to try.
        """

    def rng(self, number: int) -> np.random.Generator:
        """The generator for trial ``number``: independent of every other trial's."""
        # what default_rng([seed, number]) gives, without its argument checks
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, number])))

    def spec(self) -> dict[str, Any]:
        """The JSON-ready description from which :func:`make_searcher` rebuilds this one."""
        return {"name": self.name, "seed": self.seed}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "name")
        return f"{type(self).__name__}({args})"

"""Regularized (aging) evolution: tournament selection over the most recent trials.

Real, Aggarwal, Huang and Le (2019), "Regularized Evolution for Image Classifier
Architecture Search", AAAI. The population is a queue: each new trial joins it and the
oldest leaves, whatever its value, so a lucky early trial cannot dominate for ever.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from tunelab._errors import InvalidArgumentError
from tunelab.searchers._base import Searcher
from tunelab.searchers._observations import observe
from tunelab.space import (
    Categorical,
    Config,
    Float,
    Int,
    Param,
    PowerOfTwo,
    Space,
    Value,
    config_key,
)
from tunelab.trial import Trial

__all__ = ["RegularizedEvolution"]

#: Proposals drawn before giving up on finding one that is not already in the study.
RETRIES = 16


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InvalidArgumentError(f"`{name}` must be an integer >= {low}; got {value!r}")
    return int(value)


def _reflect(u: float) -> float:
    """Fold ``u`` back into [0, 1] by reflection at the bounds."""
    u = abs(u) % 2.0
    return 2.0 - u if u > 1.0 else u


class RegularizedEvolution(Searcher):
    """Regularized (aging) evolution (Real et al., AAAI 2019).

    Until ``population_size`` trials have a value, trials are random draws from the prior
    (the same as :class:`~tunelab.RandomSearcher`'s for the same seed). After that, the
    population is the ``population_size`` most recent trials with a value (by trial
    number: the oldest ages out, however good). A tournament draws ``sample_size`` of them
    uniformly without replacement; the best (by the study's metric and direction, a value
    measured after more training ranking first) is the parent, and the child is the
    parent with ``mutations`` parameters changed by :meth:`mutate`. A child that is already
    in the study (finished, running or queued) is redrawn a few times (new tournaments,
    then draws from the prior); if all are taken, the first child is proposed anyway.

    Mutation keeps each parameter's type: numeric parameters move by a Gaussian step of
    standard deviation ``sigma`` on the unit interval of their encoding (log scale for log
    ranges), reflected at the bounds; discrete ones that would land on the same value move
    to a neighbouring value instead; a Categorical takes another choice uniformly.
    Conditional parameters that become active are drawn from the prior, those that become
    inactive are dropped.

    Defaults suit budgets of one to a few hundred trials: ``population_size=25``,
    ``sample_size=10`` (strong selection pressure; the paper's runs of 20,000 models used
    100 and 25), one mutated parameter per child and ``sigma=0.2``. On Hartmann-6 these beat
    smaller (10/3) and larger (50/10) populations at both 100 and 300 trials. For long runs
    (thousands of trials), larger populations explore more.

    >>> from tunelab import Float, Space, Trial, TrialStatus
    >>> from tunelab.searchers.evolution import RegularizedEvolution
    >>> space = Space(x=Float(0, 1), y=Float(0, 1))
    >>> searcher = RegularizedEvolution(population_size=5, sample_size=2, seed=0)
    >>> history = []
    >>> for n in range(60):
    ...     config = searcher.suggest(space, history, n)
    ...     loss = (config["x"] - 0.3) ** 2 + (config["y"] - 0.7) ** 2
    ...     history.append(Trial(n, TrialStatus.COMPLETE, config, value=loss))
    >>> min(t.value for t in history) < 1e-3
    True
    """

    name = "evolution"

    def __init__(
        self,
        population_size: int = 25,
        sample_size: int = 10,
        mutations: int = 1,
        sigma: float = 0.2,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.population_size = _check_int("population_size", population_size, 1)
        self.sample_size = _check_int("sample_size", sample_size, 1)
        if self.sample_size > self.population_size:
            raise InvalidArgumentError(
                f"`sample_size` must be <= `population_size` ({self.population_size}); "
                f"got {sample_size!r}"
            )
        self.mutations = _check_int("mutations", mutations, 1)
        if (
            isinstance(sigma, bool)
            or not isinstance(sigma, (int, float, np.integer, np.floating))
            or not math.isfinite(sigma)
            or not 0 < sigma <= 1
        ):
            raise InvalidArgumentError(f"`sigma` must be a number in (0, 1]; got {sigma!r}")
        self.sigma = float(sigma)

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "population_size": self.population_size,
            "sample_size": self.sample_size,
            "mutations": self.mutations,
            "sigma": self.sigma,
            "seed": self.seed,
        }

    # ------------------------------------------------------------------ proposals

    def suggest(self, space: Space, history: Collection[Trial], number: int) -> Config:
        rng = self.rng(number)
        seen = {config_key(t.config) for t in history}
        obs = observe(space, history, self.direction)
        child: Config = {}
        if len(obs) < self.population_size:
            for _ in range(RETRIES):
                child = space.sample(rng)
                if config_key(child) not in seen:
                    break
            return child
        configs = {t.number: t.config for t in history}
        population = np.argsort(obs.numbers, kind="stable")[-self.population_size :]
        rank = np.empty(len(obs), dtype=np.int64)
        rank[obs.ranked()] = np.arange(len(obs))
        first: Config | None = None
        for attempt in range(RETRIES):
            if attempt < RETRIES // 2:
                contestants = rng.choice(population, size=self.sample_size, replace=False)
                parent = contestants[np.argmin(rank[contestants])]
                child = self.mutate(space, dict(configs[int(obs.numbers[parent])]), rng)
                first = child if first is None else first
            else:  # the parents' neighbourhoods are used up: explore
                child = space.sample(rng)
            if config_key(child) not in seen:
                return child
        assert first is not None
        return first

    # ------------------------------------------------------------------ mutation

    def mutate(self, space: Space, config: Config, rng: np.random.Generator) -> Config:
        """A copy of ``config`` with ``mutations`` of its active parameters changed.

        Each changed parameter takes a different value (see the class docstring);
        conditional parameters that become active are drawn from the prior and those that
        become inactive are removed. ``config`` itself is left as it is. When no parameter
        can change (every active one is a one-choice Categorical), a prior draw is returned.
        Subclasses (architecture search, say) override this to change how children differ.
        """
        parent = space.validate(config)
        order = _topological(space)
        mutable = [n for n in order if n in parent and _can_change(space[n])]
        if not mutable:
            return space.sample(rng)
        k = min(self.mutations, len(mutable))
        picked = set(rng.choice(len(mutable), size=k, replace=False).tolist())
        child = dict(parent)
        for i, name in enumerate(mutable):
            if i not in picked or name not in child:  # dropped by an earlier mutation
                continue
            child[name] = self.mutate_value(space[name], child[name], rng)
            for other in order:  # parents come first: one pass settles every condition
                active = space.is_active(other, child)
                if active and other not in child:
                    child[other] = space[other].sample(rng)
                elif not active and other in child:
                    del child[other]
        return space.validate(child)

    def mutate_value(self, param: Param, value: Value, rng: np.random.Generator) -> Value:
        """A value of ``param`` different from ``value`` (which must not be the only one)."""
        if isinstance(param, Categorical):
            others = [c for c in param.choices if not _same(c, value)]
            return others[int(rng.integers(len(others)))]
        u = param.to_unit(value)
        for _ in range(8):
            z = float(rng.standard_normal())
            new = param.from_unit(_reflect(u + self.sigma * z))
            if not _same(new, value):
                return new
            if param.is_discrete:  # the step was too small to leave the value's bin
                return _neighbour(param, value, 1 if z >= 0 else -1)
        return param.from_unit(float(rng.random()))  # sigma far below float resolution


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def _can_change(param: Param) -> bool:
    return not (isinstance(param, Categorical) and len(param.choices) < 2)


def _neighbour(param: Param, value: Value, direction: int) -> Value:
    """The next value of an ordered discrete parameter in ``direction`` (or the other way
    at a bound)."""
    assert isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(param, PowerOfTwo):
        up, down = int(value) * 2, int(value) // 2
        if direction > 0:
            return up if up <= param.high else down
        return down if down >= param.low else up
    if isinstance(param, Int):
        nxt = int(value) + direction * param.step
        return nxt if param.low <= nxt <= param.high else int(value) - direction * param.step
    assert isinstance(param, Float) and param.step is not None
    n = round((param.high - param.low) / param.step) + 1
    i = round((float(value) - param.low) / param.step)
    j = i + direction if 0 <= i + direction < n else i - direction
    return param.from_unit((j + 0.5) / n)


def _topological(space: Space) -> Sequence[str]:
    """Parameter names with every condition's parent before its children."""
    depth: dict[str, int] = {}

    def of(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((of(p) for p in space[name].when), default=-1)
        return depth[name]

    return sorted(space.names, key=of)  # stable: declaration order within a depth

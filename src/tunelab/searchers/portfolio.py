"""Portfolio searcher: try known-good configurations first, best first, then search."""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tunelab._errors import InvalidArgumentError, InvalidConfigError
from tunelab._log import logger
from tunelab.searchers._base import Searcher
from tunelab.space import Config, Space, config_key
from tunelab.trial import Trial

__all__ = ["PortfolioSearcher", "read_portfolio"]


def read_portfolio(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The configurations of a portfolio file (YAML or JSON, read safely): a mapping with
    a ``configs`` list (as ``tunelab portfolio build`` writes) or a plain list."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read portfolio {str(path)!r}: {exc}") from None
    try:
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidArgumentError(f"portfolio {str(path)!r} is not valid YAML/JSON: {exc}"
                                   ) from None
    configs = data.get("configs") if isinstance(data, Mapping) else data
    if not isinstance(configs, list) or not all(isinstance(c, Mapping) for c in configs):
        raise InvalidArgumentError(
            f"portfolio {str(path)!r} must hold a list of configurations (or a mapping with "
            "one under `configs`)")
    return [dict(c) for c in configs]


class PortfolioSearcher(Searcher):
    """Propose the configurations of a portfolio in order (those that fit the space and
    are not in the study yet), then hand over to the ``then`` searcher (TPE by default),
    which learns from every trial so far, portfolio ones included (a warm start).

    ``configs`` is the portfolio (a list of configurations, best first); ``path`` reads
    one written by ``tunelab portfolio build`` (YAML or JSON). Configurations that do not
    fit the space are skipped with one warning. Proposals follow from the history alone,
    so a resumed study goes on where it stopped.

    >>> from tunelab import Float, Space, Trial, TrialStatus
    >>> space = Space(x=Float(0, 1))
    >>> s = PortfolioSearcher([{"x": 0.25}, {"x": 0.75}], then="random", seed=0)
    >>> first = s.suggest(space, [], 0)
    >>> done = [Trial(0, TrialStatus.COMPLETE, first, value=1.0)]
    >>> first, s.suggest(space, done, 1)
    ({'x': 0.25}, {'x': 0.75})
    """

    name = "portfolio"

    def __init__(
        self,
        configs: Sequence[Mapping[str, Any]] | None = None,
        *,
        path: str | None = None,
        then: str | Mapping[str, Any] | Searcher | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        from tunelab.searchers import make_searcher  # the registry imports this module

        if configs is not None and path is not None:
            raise InvalidArgumentError("give a portfolio's `configs` or its `path`, not both")
        if path is not None:
            configs = read_portfolio(path)
        configs = list(configs or [])
        for c in configs:
            if not isinstance(c, Mapping):
                raise InvalidArgumentError(
                    f"a portfolio holds configurations (mappings); got {c!r}")
        self.configs: list[dict[str, Any]] = [dict(c) for c in configs]
        if then is None:
            then = "tpe"
        name = then if isinstance(then, str) else (
            then.get("name") if isinstance(then, Mapping) else getattr(then, "name", None))
        if name == self.name:
            raise InvalidArgumentError("`then` must be another searcher, not a portfolio")
        derived = None if self.seed is None else self.seed + 1
        self.then = make_searcher(then, seed=derived)
        self.needs_reports = self.then.needs_reports
        self._fitting: tuple[Space, list[Config]] | None = None

    def setup(self, metric: str, direction: str, *,
              objectives: Sequence[tuple[str, str]] | None = None) -> None:
        super().setup(metric, direction, objectives=objectives)
        if objectives is not None:
            self.then.setup(metric, direction, objectives=objectives)
        else:
            self.then.setup(metric, direction)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "configs": self.configs,
                "then": self.then.spec()}

    def portfolio_for(self, space: Space) -> list[Config]:
        """The portfolio's configurations that fit ``space``, in order."""
        if self._fitting is None or self._fitting[0] != space:
            fitting, skipped = [], 0
            for c in self.configs:
                try:
                    fitting.append(space.validate(c))
                except (InvalidConfigError, InvalidArgumentError):
                    skipped += 1
            if skipped:
                logger.warning("portfolio: %d of %d configuration(s) do not fit the space "
                               "and are skipped", skipped, len(self.configs))
            self._fitting = (space, fitting)
        return self._fitting[1]

    def suggest(self, space: Space, history: Collection[Trial], number: int) -> Config:
        seen = {config_key(t.config) for t in history}  # tried, failed ones included
        for config in self.portfolio_for(space):
            if config_key(config) not in seen:
                return dict(config)
        return self.then.suggest(space, history, number)

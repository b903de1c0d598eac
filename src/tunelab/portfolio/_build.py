"""Choosing a portfolio: the k configurations whose best is as good as possible across
many datasets (greedy forward selection).

Criterion (documented, and what every score here means): the **mean normalized regret**
of the portfolio over the datasets. On a dataset, a configuration's normalized regret is
``(value - best) / (worst - best)`` for a minimised metric (mirrored for a maximised one),
where best and worst are over every configuration evaluated on that dataset; a
configuration not evaluated there counts as the worst (1). A portfolio's regret on a
dataset is the smallest regret of its members (the user runs them all and keeps the best);
its score is the mean over datasets. Greedy selection adds, k times, the configuration
that lowers that mean most (ties: the configuration listed first in the table). The
regret *reduction* (1 - regret) of a portfolio is monotone submodular, so the greedy
portfolio reduces regret by at least (1 - 1/e) of what the best k-portfolio achieves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tunelab._errors import InvalidArgumentError
from tunelab.space import config_key
from tunelab.store import Store, open_store
from tunelab.store._base import check_direction
from tunelab.trial import TrialStatus

__all__ = ["NORMALIZATIONS", "Portfolio", "ResultsTable", "build_portfolio",
           "cross_validate", "judged_regret", "table_from_records", "table_from_studies"]

#: How regret is normalized per dataset (see :meth:`ResultsTable.regrets`).
NORMALIZATIONS = ("range", "median")


@dataclass
class ResultsTable:
    """Results of configurations (rows) on datasets (columns): ``values[i, j]`` is the
    metric of ``configs[i]`` on ``datasets[j]`` (NaN: not evaluated there)."""

    configs: list[dict[str, Any]]
    datasets: list[str]
    values: np.ndarray
    direction: str = "min"

    def regrets(self, normalize: str = "range") -> np.ndarray:
        """Normalized regret per configuration and dataset, in [0, 1] (1: not run).

        ``normalize="range"``: ``(value - best) / (worst - best)`` (the module's
        criterion). ``"median"``: ``(value - best) / (median - best)``, clipped to 1: the
        scale is set by a typical configuration rather than by the single worst one, so a
        few catastrophic configurations (a diverged fit, a model at chance level) do not
        squash the differences among the good ones; every configuration worse than the
        median counts as 1 ("no better than a typical one")."""
        if normalize not in NORMALIZATIONS:
            raise InvalidArgumentError(
                f"`normalize` must be one of {list(NORMALIZATIONS)}; got {normalize!r}")
        v = self.values if self.direction == "min" else -self.values
        best = np.nanmin(np.where(np.isnan(v), np.inf, v), axis=0)
        worst = np.nanmax(np.where(np.isnan(v), -np.inf, v), axis=0)
        if normalize == "median":
            # Missing ones count as the worst; where the median is no worse than the best
            # (or is missing) the range is used.
            median = np.median(np.where(np.isnan(v), np.inf, v), axis=0)
            worst = np.where(np.isfinite(median) & (median > best), median, worst)
        span = np.where(worst > best, worst - best, 1.0)
        r = (v - best[None, :]) / span[None, :]
        return np.where(np.isnan(r), 1.0, np.clip(r, 0.0, 1.0))

    def subset(self, columns: Sequence[int]) -> ResultsTable:
        """The table restricted to some datasets (by column index)."""
        cols = list(columns)
        return ResultsTable(self.configs, [self.datasets[j] for j in cols],
                            self.values[:, cols], self.direction)


def table_from_records(records: Iterable[Mapping[str, Any]], *, direction: str = "min",
                       metric: str = "value") -> ResultsTable:
    """A table from records ``{"dataset": ..., "config": {...}, metric: ...}``; a
    configuration evaluated several times on a dataset gets the mean."""
    direction = check_direction(direction)
    keys: dict[str, dict[str, Any]] = {}
    sums: dict[tuple[str, str], list[float]] = {}
    datasets: list[str] = []
    column: dict[str, int] = {}
    for i, rec in enumerate(records):
        try:
            dataset, config, value = str(rec["dataset"]), rec["config"], float(rec[metric])
            if not isinstance(config, Mapping):
                raise TypeError
            key = config_key(config)
        except (KeyError, TypeError, ValueError):
            raise InvalidArgumentError(
                f"record {i} must have 'dataset', 'config' (a mapping of JSON values) and a "
                f"numeric {metric!r}; got {dict(rec)!r:.200}") from None
        keys.setdefault(key, dict(config))
        if dataset not in column:
            column[dataset] = len(datasets)
            datasets.append(dataset)
        if np.isfinite(value):
            sums.setdefault((key, dataset), []).append(value)
    row = {key: i for i, key in enumerate(keys)}
    values = np.full((len(row), len(datasets)), np.nan)
    for (key, dataset), vals in sums.items():
        values[row[key], column[dataset]] = float(np.mean(vals))
    return ResultsTable(list(keys.values()), datasets, values, direction)


def table_from_studies(names: Sequence[str], store: Store | str | os.PathLike[str] | None = None
                       ) -> ResultsTable:
    """A table from past studies, one dataset per study: their complete trials (reruns
    left out). The studies must share a target metric and direction; configurations are
    matched exactly across studies (run the same candidates on every dataset, e.g. a
    shared random sample, for a meaningful table)."""
    opened = open_store(store)
    records, direction, metric = [], None, None
    for name in names:
        rec = opened.get_study(name)
        if direction is None:
            direction, metric = rec.direction, rec.metric
        elif (rec.direction, rec.metric) != (direction, metric):
            raise InvalidArgumentError(
                f"study {name!r} targets {rec.metric!r} ({rec.direction}); the others "
                f"{metric!r} ({direction}): a portfolio needs one metric")
        for t in opened.get_trials(rec.id, statuses=[TrialStatus.COMPLETE]):
            if t.value is not None and not t.is_rerun:
                records.append({"dataset": name, "config": t.config, "value": t.value})
    if not records:
        raise InvalidArgumentError(f"studies {list(names)} hold no complete trial")
    return table_from_records(records, direction=direction or "min")


@dataclass
class Portfolio:
    """``configs`` best first; ``regret[i]``: the mean normalized regret over the
    datasets of the first ``i + 1`` configurations (see the module docstring).

    >>> table = table_from_records([
    ...     {"dataset": "a", "config": {"x": 1}, "value": 0.0},
    ...     {"dataset": "a", "config": {"x": 2}, "value": 1.0},
    ...     {"dataset": "b", "config": {"x": 1}, "value": 1.0},
    ...     {"dataset": "b", "config": {"x": 2}, "value": 0.0}])
    >>> build_portfolio(table, 2).regret
    [0.5, 0.0]
    """

    configs: list[dict[str, Any]]
    regret: list[float]
    datasets: list[str]
    direction: str
    criterion: str = "mean normalized regret (greedy)"
    meta: dict[str, Any] = field(default_factory=dict)
    #: The search space the configurations come from (``Space.to_dict()``), so that a
    #: user can go on searching the same space after the portfolio; optional.
    space: dict[str, Any] | None = None
    #: What the value is (e.g. "balanced accuracy on a fixed 1/3 holdout"); optional.
    metric: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"criterion": self.criterion, "direction": self.direction}
        if self.metric is not None:
            data["metric"] = self.metric
        data.update({"datasets": list(self.datasets),
                     "regret": [round(r, 6) for r in self.regret]})
        if self.space is not None:
            data["space"] = self.space
        data.update({"configs": self.configs, "meta": dict(self.meta)})
        return data

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write as YAML (or JSON for a ``.json`` path): what PortfolioSearcher reads."""
        out = Path(path)
        data = self.to_dict()
        text = (json.dumps(data, indent=2) if out.suffix == ".json"
                else yaml.safe_dump(data, sort_keys=False))
        out.write_text(text, encoding="utf-8")
        return out


def build_portfolio(table: ResultsTable, k: int, *, normalize: str = "range",
                    judge: ResultsTable | None = None) -> Portfolio:
    """Greedily choose ``k`` configurations of ``table`` (fewer if the table has fewer
    rows, or once the portfolio is optimal on every dataset). Deterministic.

    ``normalize`` is how regret is scaled per dataset while choosing (``"range"``, the
    default, or ``"median"``: see :meth:`ResultsTable.regrets`); ``Portfolio.regret`` is
    always reported with ``"range"`` so that portfolios are comparable.

    ``judge`` is a second, independent measurement of the same configurations on the
    same datasets (another validation split or seed; rows and columns are matched by
    configuration and dataset). With it, a portfolio's regret on a dataset is what a user
    of the portfolio gets: the member that looks best on one measurement, judged by the
    other (both ways round, averaged; see :func:`judged_regret`). A configuration that won
    one measurement by luck then stops paying, so members are chosen for wins that repeat."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidArgumentError(f"`k` must be an integer >= 1; got {k!r}")
    if not table.configs or not table.datasets:
        raise InvalidArgumentError("the results table is empty: no configuration or dataset")
    if judge is not None:
        judge = _aligned(table, judge)
    chosen, scores = _greedy(_views(table, judge, normalize), k)
    if normalize != "range":
        views = _views(table, judge, "range")
        scores = [float(_regret_of(views, chosen[: i + 1]).mean()) for i in range(len(chosen))]
    how = "" if normalize == "range" else f", {normalize}-normalized"
    if judge is not None:
        how += ", chosen on one measurement and judged on another"
    return Portfolio([table.configs[i] for i in chosen], scores, list(table.datasets),
                     table.direction, criterion=f"mean normalized regret (greedy{how})")


def judged_regret(table: ResultsTable, judge: ResultsTable, rows: Sequence[int]
                  ) -> np.ndarray:
    """Per dataset: the range-normalized regret, read from ``judge``, of the member of
    ``rows`` that is best on ``table`` (the first of equals), averaged with the same
    read the other way round -- how a portfolio fares when its user keeps the member
    with the best validation score and is judged on independent data.

    >>> a = table_from_records([{"dataset": "d", "config": {"x": x}, "value": v}
    ...                         for x, v in [(1, 0.0), (2, 0.1), (3, 1.0)]])
    >>> b = table_from_records([{"dataset": "d", "config": {"x": x}, "value": v}
    ...                         for x, v in [(1, 0.5), (2, 0.0), (3, 1.0)]])
    >>> judged_regret(a, b, [0, 1]).tolist()  # x=1 wins on a (0.5 on b), x=2 on b (0.1 on a)
    [0.3]
    """
    return _regret_of(_views(table, _aligned(table, judge), "range"), list(rows))


def _aligned(table: ResultsTable, judge: ResultsTable) -> ResultsTable:
    """``judge`` with its rows and columns in ``table``'s order; an error unless it holds
    the same configurations and datasets, with the same direction."""
    row = {config_key(c): i for i, c in enumerate(judge.configs)}
    col = {d: j for j, d in enumerate(judge.datasets)}
    rows = [row.get(config_key(c), -1) for c in table.configs]  # -1: not in judge
    cols = [col.get(d, -1) for d in table.datasets]
    if (judge.direction != table.direction or len(row) != len(judge.configs)
            or len(judge.configs) != len(table.configs)
            or len(judge.datasets) != len(table.datasets)
            or -1 in rows or -1 in cols):
        raise InvalidArgumentError(
            "`judge` must be a second measurement of the table: the same configurations and "
            f"datasets (in any order) and the same direction; got {len(judge.configs)} "
            f"configurations x {len(judge.datasets)} datasets ({judge.direction}) for "
            f"{len(table.configs)} x {len(table.datasets)} ({table.direction})")
    if rows == list(range(len(rows))) and cols == list(range(len(cols))):
        return judge
    return ResultsTable(table.configs, table.datasets, judge.values[np.ix_(rows, cols)],
                        table.direction)


#: (regrets a member is chosen by, regrets it is then judged by), one pair per reading.
_Views = list[tuple[np.ndarray, np.ndarray]]


def _views(table: ResultsTable, judge: ResultsTable | None, normalize: str) -> _Views:
    mine = table.regrets(normalize)
    if judge is None:
        return [(mine, mine)]  # chosen and judged on the same measurement: the best member
    theirs = judge.regrets(normalize)
    return [(mine, theirs), (theirs, mine)]


def _regret_of(views: _Views, rows: Sequence[int]) -> np.ndarray:
    """Per dataset: the judged regret of the portfolio ``rows``, averaged over views."""
    idx = np.asarray(rows, dtype=np.int64)
    out = np.zeros(views[0][0].shape[1])
    for chosen_by, judged_by in views:
        pick = idx[np.argmin(chosen_by[idx], axis=0)]  # the first of equals
        out += judged_by[pick, np.arange(len(pick))]
    return out / len(views)


def _greedy(views: _Views, k: int) -> tuple[list[int], list[float]]:
    """Forward selection: add, up to ``k`` times, the row that lowers the mean judged
    regret most (the first of equals); stop when nothing lowers it or it reaches 0."""
    n, d = views[0][0].shape
    # per view: the chosen member's regret on the choosing side and on the judged side
    state = [(np.full(d, np.inf), np.ones(d)) for _ in views]
    chosen: list[int] = []
    scores: list[float] = []
    for _ in range(min(k, n)):
        means = np.zeros(n)
        for (chosen_by, judged_by), (by, judged) in zip(views, state, strict=True):
            # a row takes over a dataset where it looks strictly better than the member
            means += np.where(chosen_by < by[None, :], judged_by, judged[None, :]).mean(axis=1)
        means /= len(views)
        means[chosen] = np.inf
        best = int(np.argmin(means))  # the first of equals: the table's order
        if chosen and means[best] >= scores[-1]:
            break  # nothing improves any more
        chosen.append(best)
        for i, ((chosen_by, judged_by), (by, judged)) in enumerate(zip(views, state,
                                                                        strict=True)):
            takes = chosen_by[best] < by
            state[i] = (np.where(takes, chosen_by[best], by),
                        np.where(takes, judged_by[best], judged))
        scores.append(float(means[best]))
        if scores[-1] == 0.0:
            break
    return chosen, scores


def cross_validate(table: ResultsTable, k: int, *, folds: int = 5,
                   normalize: str = "range", candidates: Sequence[int] | None = None,
                   judge: ResultsTable | None = None, build: str = "table") -> float:
    """How well portfolios built this way carry over to unseen datasets: the datasets are
    dealt into ``folds`` groups (round robin in table order); for each group, a portfolio
    of ``k`` is built on the other datasets and scored on the group (mean range-normalized
    regret of its best member). Returns the mean over all datasets. Use it to choose ``k``,
    ``normalize`` or the candidate pool from the building datasets alone: ``candidates``
    (row indices) restricts the choice to some configurations, while regret is still
    measured against the whole table, so pools of different sizes compare fairly.

    With ``judge`` (a second measurement, see :func:`build_portfolio`) the unseen datasets
    are scored as a portfolio's user meets them -- the member best on one measurement,
    judged on the other (:func:`judged_regret`) -- and ``build`` says how the portfolios
    are built: ``"table"`` (from ``table`` alone), ``"mean"`` (from the mean of both
    measurements) or ``"judged"`` (``build_portfolio(..., judge=...)``).

    >>> table = table_from_records([
    ...     {"dataset": d, "config": {"x": x}, "value": abs(x - t)}
    ...     for d, t in [("a", 1), ("b", 1), ("c", 2), ("d", 2)] for x in (1, 2, 3)])
    >>> cross_validate(table, 2, folds=2)
    0.0
    """
    n = len(table.datasets)
    if isinstance(folds, bool) or not isinstance(folds, int) or not 2 <= folds <= n:
        raise InvalidArgumentError(
            f"`folds` must be an integer from 2 to the number of datasets ({n}); "
            f"got {folds!r}")
    if build not in _BUILDS:
        raise InvalidArgumentError(f"`build` must be one of {list(_BUILDS)}; got {build!r}")
    if judge is None and build != "table":
        raise InvalidArgumentError(f"`build={build!r}` needs a second measurement (`judge`)")
    if judge is not None:
        judge = _aligned(table, judge)
    rows = list(range(len(table.configs))) if candidates is None else list(candidates)
    if not rows or not all(isinstance(i, (int, np.integer)) and 0 <= i < len(table.configs)
                           for i in rows):
        raise InvalidArgumentError(
            f"`candidates` must be row indices of the table (0 to {len(table.configs) - 1}); "
            f"got {candidates!r:.200}")

    def restrict(source: ResultsTable, values: np.ndarray | None = None) -> ResultsTable:
        v = source.values if values is None else values
        return ResultsTable([source.configs[i] for i in rows], source.datasets, v[rows],
                            source.direction)

    pool = restrict(table, (table.values + judge.values) / 2 if build == "mean"
                    and judge is not None else None)
    pool_judge = restrict(judge) if build == "judged" and judge is not None else None
    views = _views(table, judge, "range")
    row_of = {config_key(table.configs[i]): i for i in reversed(rows)}  # first of equals
    total = 0.0
    for f in range(folds):
        test = list(range(f, n, folds))
        train = [j for j in range(n) if j % folds != f]
        portfolio = build_portfolio(pool.subset(train), k, normalize=normalize,
                                    judge=None if pool_judge is None
                                    else pool_judge.subset(train))
        chosen = [row_of[config_key(c)] for c in portfolio.configs]  # in portfolio order
        scored = [(by[:, test], judged[:, test]) for by, judged in views]
        total += float(_regret_of(scored, chosen).sum())
    return total / n


#: How :func:`cross_validate` builds its portfolios when it has a second measurement.
_BUILDS = ("table", "mean", "judged")

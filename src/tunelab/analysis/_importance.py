"""Which parameters matter, and where the good configurations lie.

* :func:`importance` -- fANOVA-style importance: a random forest (scikit-learn) learns the
  metric from the configurations, and for each parameter the share of the variance of
  the forest's prediction that the parameter explains on its own (its main effect). The
  variance is taken over the prior of the space (uniform on the unit cube the space
  encodes to: log-uniform for log ranges, uniform over the values of discrete ones) and
  computed exactly on every tree's partition of the cube, not by sampling.
* :func:`good_ranges` -- for each parameter, the range (or the choices) of the best
  configurations, and how narrow that range is compared with the whole domain.

Both work on any study, finished or not, or on a list of trials with their space.

How the forest sees a configuration: each parameter is one coordinate of the unit cube
(:meth:`Space.encode`). A categorical parameter is one coordinate too, its choices
ordered by their mean metric over the trials (each keeps a bin of width 1/k): trees
split it into runs of neighbouring choices, and in that order one split separates the
good choices from the bad (one-hot columns would split one parameter over several
coordinates, which the decomposition per parameter cannot add back up). An inactive
conditional parameter is the sentinel -1, below every active value, so that trees can
split on whether it is active. Split points of discrete parameters are moved to the
nearest boundary between two of their values (this does not change how the trials are
split), so that each value's bin is constant and weighs as the prior says.

How the variance is taken: over the prior as :meth:`Space.sample` draws it, every
coordinate uniform on [0, 1], those of inactive parameters ignored. A conditional
parameter therefore only matters where it is active: its main effect is the variation
it causes there, averaged with the (flat) rest; whether it is active at all is its
parents' effect, not its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunelab._errors import InvalidArgumentError, require_extra
from tunelab.space import Categorical, Float, Int, Param, PowerOfTwo, Space
from tunelab.space._params import Value
from tunelab.store._base import check_direction
from tunelab.study import Study
from tunelab.trial import Trial, TrialStatus

__all__ = [
    "GoodRange",
    "Importance",
    "good_ranges",
    "good_ranges_table",
    "importance",
]

_MIN_TRIALS = 4  # below this a forest learns nothing worth splitting into shares
_MAX_BINS = 4096  # discrete parameters with more values are treated as continuous
_INACTIVE = -1.0  # the coordinate of an inactive conditional parameter


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Importance:
    """fANOVA main-effect importance of each parameter for ``metric``.

    ``scores[name]`` is the share of the variance of the forest's prediction (over the
    space's prior) explained by parameter ``name`` alone, in [0, 1], averaged over the
    trees (trees whose prediction is constant are left out); ``std[name]`` is its
    standard deviation over the trees. ``scores`` is ordered from the most important
    parameter down. The shares add up to at most 1; the rest (:attr:`interactions`) is
    explained only by parameters acting together. A parameter the metric ignores scores
    about 0.

    >>> from tunelab import Float, Space, Study
    >>> from tunelab.analysis import importance
    >>> space = Space(x=Float(0, 1), y=Float(0, 1), z=Float(0, 1))
    >>> study = Study("doc-importance", space, store="memory", seed=0, searcher="random")
    >>> study.optimize(lambda c: 10 * (c["x"] - 0.3) ** 2 + 0.1 * c["y"], n_trials=30)
    >>> result = importance(study)
    >>> list(result.scores)[0], result.n_trials
    ('x', 30)
    >>> result.scores["x"] > 0.8 and result.scores["z"] < 0.05
    True
    """

    study: str
    metric: str
    n_trials: int
    scores: dict[str, float]
    std: dict[str, float]

    @property
    def interactions(self) -> float:
        """The share of the variance no single parameter explains (1 - sum of scores)."""
        return max(0.0, 1.0 - sum(self.scores.values()))

    def table(self) -> str:
        """A plain-text table, one line per parameter, the most important first."""
        where = f" in study {self.study!r}" if self.study else ""
        lines = [
            f"importance of {self.metric!r}{where} over {self.n_trials} trials "
            "(fANOVA main effects: share of variance)"
        ]
        width = max([len("(interactions)"), *(len(n) for n in self.scores)])
        lines.append(f"{'parameter':<{width}}  {'importance':>10}  {'std':>6}")
        for name, score in self.scores.items():
            lines.append(f"{name:<{width}}  {score:>10.3f}  {self.std[name]:>6.3f}")
        lines.append(f"{'(interactions)':<{width}}  {self.interactions:>10.3f}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "study": self.study,
            "metric": self.metric,
            "n_trials": self.n_trials,
            "scores": dict(self.scores),
            "std": dict(self.std),
            "interactions": self.interactions,
        }


@dataclass(frozen=True)
class GoodRange:
    """Where parameter ``name`` lies in the ``n_top`` best trials in which it is active.

    Numeric parameters (``kind == "numeric"``: Float, Int, PowerOfTwo): ``low`` and
    ``high`` are the smallest and largest value among the best trials, ``q10`` and
    ``q90`` their 10% and 90% quantiles (observed values), ``observed_low`` and
    ``observed_high`` the range over every trial considered, all in the parameter's own
    units. Categorical parameters (``kind == "categorical"``): ``values`` counts the
    choices among the best trials (keyed by ``str(choice)``, most frequent first); the
    numeric fields are None. ``best`` is the value in the single best trial (None when
    the parameter is inactive there).

    ``share_of_range`` is how much of the domain the good range covers, in [0, 1]:
    the width of [low, high] on the unit scale the space samples from (log scale for
    log ranges, whole bins for discrete parameters), or for categoricals the share of
    choices seen. Small means the best trials agree. None (with ``n_top == 0``) when
    the parameter is inactive in every best trial.

    >>> from tunelab import Categorical, Float, Space, Study
    >>> from tunelab.analysis import good_ranges
    >>> space = Space(x=Float(-5, 5), opt=Categorical(["sgd", "adam"]))
    >>> study = Study("doc-ranges", space, store="memory", seed=0, searcher="random")
    >>> study.optimize(lambda c: (c["x"] - 1) ** 2 + 9 * (c["opt"] == "sgd"), n_trials=30)
    >>> ranges = good_ranges(study, top=5)
    >>> x = ranges["x"]
    >>> x.low <= 1 <= x.high and x.share_of_range < 0.5  # about a third of [-5, 5]
    True
    >>> ranges["opt"].values
    {'adam': 5}
    """

    name: str
    kind: str
    low: float | int | None
    high: float | int | None
    values: dict[str, int]
    n_top: int
    share_of_range: float | None
    q10: float | int | None = None
    q90: float | int | None = None
    observed_low: float | int | None = None
    observed_high: float | int | None = None
    best: Value = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "name": self.name,
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "q10": self.q10,
            "q90": self.q90,
            "observed_low": self.observed_low,
            "observed_high": self.observed_high,
            "values": dict(self.values),
            "n_top": self.n_top,
            "share_of_range": self.share_of_range,
            "best": self.best,
        }


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _Source:
    name: str
    space: Space
    metric: str
    direction: str
    trials: list[Trial]
    values: np.ndarray  # the metric of each trial, finite
    known: tuple[str, ...] = ()  # every metric the trials of the right status reported


def _statuses(statuses: object) -> set[TrialStatus]:
    items = [statuses] if isinstance(statuses, (str, TrialStatus)) else statuses
    if not isinstance(items, Iterable):
        raise InvalidArgumentError(
            f"`statuses` must be a list of trial statuses such as ('COMPLETE', 'STOPPED'); "
            f"got {statuses!r}"
        )
    out: set[TrialStatus] = set()
    allowed = [s.value for s in TrialStatus]
    for item in items:
        name = item.value if isinstance(item, TrialStatus) else item
        if not isinstance(name, str) or name.upper() not in allowed:
            raise InvalidArgumentError(
                f"`statuses` holds {item!r}, which is not a trial status; allowed: {allowed}"
            )
        out.add(TrialStatus(name.upper()))
    if not out:
        raise InvalidArgumentError(
            f"`statuses` must name at least one trial status of {allowed}; got {statuses!r}"
        )
    return out


def _source(
    study_or_trials: object,
    space: Space | None,
    metric: str | None,
    direction: str | None,
    statuses: set[TrialStatus],
    *,
    need_direction: bool,
) -> _Source:
    if metric is not None and (not isinstance(metric, str) or not metric):
        raise InvalidArgumentError(f"`metric` must be a non-empty string; got {metric!r}")
    if direction is not None:
        direction = check_direction(str(direction))
    primary: str | None = None
    if isinstance(study_or_trials, Study):
        study = study_or_trials
        if space is not None and space != study.space:
            raise InvalidArgumentError(
                f"`space` is read from study {study.name!r}; give it only with a list of "
                f"trials (got space={space!r})"
            )
        name, space, primary = study.name, study.space, study.metric
        metric = metric or study.metric
        if direction is None:
            objectives = dict(study.objectives) or {study.metric: study.direction}
            if metric in objectives:
                direction = objectives[metric]
            elif need_direction:
                raise InvalidArgumentError(
                    f"metric {metric!r} is not an objective of study {study.name!r} "
                    f"(objectives: {objectives}), so its direction is unknown; give "
                    "direction='min' or direction='max'"
                )
            else:
                direction = "min"
        trials = [t for t in study.trials if not t.is_rerun]  # the search's own trials
    else:
        if isinstance(study_or_trials, (str, bytes, Mapping)) or not isinstance(
            study_or_trials, Iterable
        ):
            raise InvalidArgumentError(
                f"expected a Study or a list of Trial objects; got {study_or_trials!r}"
            )
        trials = list(study_or_trials)
        bad = [t for t in trials if not isinstance(t, Trial)]
        if bad:
            raise InvalidArgumentError(
                f"expected a Study or a list of Trial objects; the list holds {bad[0]!r}"
            )
        if not isinstance(space, Space):
            raise InvalidArgumentError(
                f"with a list of trials give the `space` they were drawn from (a Space); "
                f"got space={space!r}"
            )
        if metric is None:
            raise InvalidArgumentError(
                "with a list of trials give the `metric` to analyse, e.g. metric='loss'"
            )
        name = ""
        direction = direction or "min"
    kept: list[Trial] = []
    values: list[float] = []
    reported: set[str] = set()
    for trial in trials:
        if trial.status not in statuses:
            continue
        reported.update(trial.metrics)
        value = trial.metrics.get(metric)
        if value is None and metric == primary:
            value = trial.value
        if value is None or not math.isfinite(value):
            continue
        kept.append(trial)
        values.append(float(value))
    return _Source(name, space, metric, direction, kept, np.asarray(values, dtype=float),
                   tuple(sorted(reported)))


def _too_few(src: _Source, statuses: set[TrialStatus], needed: int) -> InvalidArgumentError:
    where = f"study {src.name!r} has" if src.name else "the trials given hold"
    wanted = "/".join(sorted(s.value for s in statuses))
    known = "" if src.trials else f" (metrics reported: {list(src.known)})"
    return InvalidArgumentError(
        f"{where} {len(src.trials)} {wanted} trial(s) with a finite value of metric "
        f"{src.metric!r}{known}; at least {needed} are needed"
    )


# --------------------------------------------------------------------------- fANOVA


@dataclass(frozen=True)
class _Domain:
    """What the decomposition needs to know of the space, coordinate by coordinate (in
    ``Space.names`` order): ``edges``, the bin boundaries on [0, 1] of a discrete
    parameter (None: continuous); ``order``, parents before children; ``conditions``,
    for a conditional parameter its parents' coordinates with the unit intervals of the
    values that activate it; ``cuts``, for a parent, the points of [0, 1] where a
    child's activity may change."""

    edges: tuple[np.ndarray | None, ...]
    order: tuple[int, ...]
    conditions: tuple[tuple[tuple[int, np.ndarray], ...], ...]
    cuts: tuple[np.ndarray | None, ...]

    @classmethod
    def of(cls, space: Space, ranks: Mapping[str, np.ndarray] | None = None) -> _Domain:
        """The domain of ``space``, whose categorical parameters ``ranks`` re-orders
        (choice index -> position; see :func:`_encode`)."""
        ranks = ranks or {}
        names = space.names
        index = {name: i for i, name in enumerate(names)}
        conditions: list[tuple[tuple[int, np.ndarray], ...]] = []
        cuts: list[list[float]] = [[] for _ in names]
        for name in names:
            conds = []
            for parent, allowed in space[name].when.items():
                p = index[parent]
                bins = np.array([_value_bin(space[parent], v, ranks.get(parent))
                                 for v in allowed], dtype=float)
                conds.append((p, bins))
                cuts[p].extend(float(c) for c in bins.ravel() if 0.0 < c < 1.0)
            conditions.append(tuple(conds))
        order: list[int] = []
        while len(order) < len(names):  # parents first (conditions have no cycle)
            for i in range(len(names)):
                if i not in order and all(p in order for p, _ in conditions[i]):
                    order.append(i)
        return cls(
            edges=tuple(_bin_edges(space[name]) for name in names),
            order=tuple(order),
            conditions=tuple(conditions),
            cuts=tuple(np.unique(c) if c else None for c in cuts),
        )


def _bin_edges(param: Param) -> np.ndarray | None:
    """Boundaries on [0, 1] between the unit-cube bins of a discrete parameter's values."""
    if isinstance(param, Float):
        if param.step is None:
            return None
        n = round((param.high - param.low) / param.step) + 1
    elif isinstance(param, Int):
        if param.log:
            n = param.high - param.low + 1
            if n > _MAX_BINS:
                return None
            lo, hi = math.log(param.low - 0.5), math.log(param.high + 0.5)
            v = np.arange(param.low, param.high + 1, dtype=float)
            inner = (np.log(v[:-1] + 0.5) - lo) / (hi - lo)
            return np.concatenate([[0.0], inner, [1.0]])
        n = (param.high - param.low) // param.step + 1
    elif isinstance(param, PowerOfTwo):
        n = param.high.bit_length() - param.low.bit_length() + 1
    elif isinstance(param, Categorical):
        n = len(param.choices)
    else:  # an unknown kind of parameter: no snapping
        return None
    if n > _MAX_BINS:
        return None
    return np.arange(n + 1, dtype=float) / n


def _value_bin(
    param: Param, value: Value, rank: np.ndarray | None = None
) -> tuple[float, float]:
    """The interval of [0, 1] that a (discrete) parameter maps to ``value`` (for a
    categorical re-ordered by ``rank``, its position in that order)."""
    if isinstance(param, Categorical) and rank is not None:
        i, n = int(rank[param.index(value)]), len(param.choices)
        return i / n, (i + 1) / n
    if isinstance(param, Int) and param.log:
        lo, hi = math.log(param.low - 0.5), math.log(param.high + 0.5)
        v = int(value)  # type: ignore[arg-type]
        return (math.log(v - 0.5) - lo) / (hi - lo), (math.log(v + 0.5) - lo) / (hi - lo)
    edges = _bin_edges(param)
    if edges is not None:
        i = int(np.searchsorted(edges, param.to_unit(value))) - 1
        return float(edges[i]), float(edges[i + 1])
    # a discrete parameter with very many values: its bin, computed without edges
    assert isinstance(param, Int)
    n = (param.high - param.low) // param.step + 1
    i = (int(value) - param.low) // param.step  # type: ignore[arg-type]
    return i / n, (i + 1) / n


def _snap(thresholds: np.ndarray, features: np.ndarray, domain: _Domain) -> np.ndarray:
    """Split points moved to a bin boundary: below 0 (active vs inactive) to 0, and on
    discrete parameters to the nearest boundary between two values."""
    t = np.where(thresholds < 0.0, 0.0, thresholds)
    for j, edges in enumerate(domain.edges):
        if edges is None:
            continue
        on = features == j
        if not on.any():
            continue
        tj = t[on]
        k = np.clip(np.searchsorted(edges, tj), 1, len(edges) - 1)
        below, above = edges[k - 1], edges[k]
        t[on] = np.where(tj - below <= above - tj, below, above)
    return t


def _split(
    lo: np.ndarray, hi: np.ndarray, j: int, cuts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Cut every box at the points ``cuts`` of coordinate j: the pieces' bounds along j
    and the box each comes from (None when no cut falls inside a box)."""
    a, b = lo[:, j], hi[:, j]
    first = np.searchsorted(cuts, a, side="right")  # the first cut above a
    extra = np.maximum(np.searchsorted(cuts, b, side="left") - first, 0)  # cuts inside
    if not extra.any():
        return None
    source = np.repeat(np.arange(a.size), extra + 1)
    k = np.arange(source.size) - np.repeat(np.cumsum(extra + 1) - (extra + 1), extra + 1)
    top = cuts.size - 1
    new_lo = np.where(k > 0, cuts[np.clip(first[source] + k - 1, 0, top)], a[source])
    new_hi = np.where(k < extra[source], cuts[np.clip(first[source] + k, 0, top)], b[source])
    return new_lo, new_hi, source


def _prior_boxes(
    lo: np.ndarray, hi: np.ndarray, value: np.ndarray, domain: _Domain
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The leaves of a tree as boxes of the prior's cube [0, 1]^D.

    The tree sees an inactive parameter as -1; the prior draws every coordinate in
    [0, 1] and ignores those of inactive parameters (as :meth:`Space.sample` does). So a
    leaf covers, where parameter j is active, its own range of j, and where j is
    inactive, all of [0, 1] if the leaf admits -1 (else nothing). Parents are cut where
    a child's activity changes, so that activity is constant on every box.
    """
    if not any(domain.conditions):
        return np.maximum(lo, 0.0), hi, value
    lo, hi = lo.copy(), hi.copy()
    active = np.ones(lo.shape, dtype=bool)
    for j in domain.order:
        if domain.conditions[j]:
            on = np.ones(value.size, dtype=bool)
            for p, bins in domain.conditions[j]:
                u = (lo[:, p] + hi[:, p]) / 2.0  # any point: the parent's box is in one bin
                inside = (u[:, None] >= bins[:, 0]) & (u[:, None] < bins[:, 1])
                on &= active[:, p] & inside.any(axis=1)
            keep = on | (lo[:, j] < 0.0)
            lo, hi, value, active, on = lo[keep], hi[keep], value[keep], active[keep], on[keep]
            lo[:, j] = np.where(on, np.maximum(lo[:, j], 0.0), 0.0)
            hi[:, j] = np.where(on, hi[:, j], 1.0)
            active[:, j] = on
        else:
            lo[:, j] = np.maximum(lo[:, j], 0.0)
        keep = hi[:, j] > lo[:, j]
        lo, hi, value, active = lo[keep], hi[keep], value[keep], active[keep]
        cuts = domain.cuts[j]
        if cuts is not None:
            pieces = _split(lo, hi, j, cuts)
            if pieces is not None:
                low, high, source = pieces
                lo, hi, value, active = lo[source], hi[source], value[source], active[source]
                lo[:, j], hi[:, j] = low, high
    return lo, hi, value


def _tree_main_effects(tree: Any, domain: _Domain) -> tuple[np.ndarray, float]:
    """Per-coordinate main-effect variance and total variance of one fitted tree's
    prediction over the space's prior (uniform on the unit cube).

    Each leaf is a box of the cube with a constant value (see :func:`_prior_boxes`). The
    marginal of coordinate j at ``v`` (the mean prediction with j fixed at ``v``) is the
    sum, over the boxes that contain ``v`` along j, of the box's value times the volume
    of its other sides; it is constant between consecutive box boundaries along j, so
    its variance is an exact finite sum.
    """
    d = len(domain.edges)
    left, right = tree.children_left, tree.children_right
    feature = tree.feature
    inner_nodes = left != -1
    threshold = np.array(tree.threshold, dtype=float)
    threshold[inner_nodes] = _snap(threshold[inner_nodes], feature[inner_nodes], domain)
    n = tree.node_count
    lo = np.full((n, d), _INACTIVE)
    hi = np.full((n, d), 1.0)
    frontier = np.array([0])
    while frontier.size:  # parents before children, one depth at a time
        inner = frontier[left[frontier] != -1]
        if not inner.size:
            break
        f, t = feature[inner], threshold[inner]
        lchild, rchild = left[inner], right[inner]
        lo[lchild], hi[lchild] = lo[inner], hi[inner]
        lo[rchild], hi[rchild] = lo[inner], hi[inner]
        hi[lchild, f] = np.minimum(hi[inner, f], t)
        lo[rchild, f] = np.maximum(lo[inner, f], t)
        frontier = np.concatenate([lchild, rchild])
    leaves = ~inner_nodes
    lo, hi, value = _prior_boxes(
        lo[leaves], hi[leaves], tree.value[leaves, 0, 0].astype(float), domain
    )
    side = np.maximum(hi - lo, 0.0)
    weight = side.prod(axis=1)
    total = weight.sum()
    effects = np.zeros(d)
    if total <= 0.0:
        return effects, 0.0
    weight = weight / total  # 1 up to rounding: the boxes tile the cube
    mean = float(weight @ value)
    variance = float(weight @ (value - mean) ** 2)
    if variance <= 0.0:
        return effects, 0.0
    for j in range(d):
        cuts = np.unique(np.concatenate([lo[:, j], hi[:, j]]))
        if cuts.size < 3:  # never split on j: its marginal is flat
            continue
        start = np.searchsorted(cuts, lo[:, j])
        stop = np.searchsorted(cuts, hi[:, j])
        with np.errstate(divide="ignore", invalid="ignore"):
            other = np.where(side[:, j] > 0.0, weight / side[:, j], 0.0)
        share = value * other
        diff = np.bincount(start, share, cuts.size) - np.bincount(stop, share, cuts.size)
        marginal = np.cumsum(diff)[:-1]
        effects[j] = float(np.diff(cuts) @ (marginal - mean) ** 2)
    return effects, variance


def _encode(
    space: Space, trials: Sequence[Trial], y: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The trials as points of the unit cube (inactive parameters at -1), with the
    choices of every categorical parameter re-ordered by their mean metric.

    Ordered so, a single split can separate the choices that do well from those that do
    not (for a regression tree, the best split of a categorical is one of these;
    Breiman et al., 1984), where in declaration order a good choice in the middle takes
    two splits, which greedy trees rarely make. Each choice keeps a bin of width 1/k,
    so the prior does not change. Returns the points and, per categorical parameter,
    the position of each choice (by index) in the new order.
    """
    x = np.vstack([space.encode(t.config) for t in trials])
    ranks: dict[str, np.ndarray] = {}
    for j, name in enumerate(space.names):
        param = space[name]
        if not isinstance(param, Categorical):
            continue
        k = len(param.choices)
        active = ~np.isnan(x[:, j])
        index = np.floor(x[active, j] * k).astype(int)
        sums = np.bincount(index, y[active], k)
        counts = np.bincount(index, minlength=k)
        means = np.where(counts > 0, sums / np.maximum(counts, 1), y.mean())
        rank = np.empty(k, dtype=int)
        rank[np.argsort(means, kind="stable")] = np.arange(k)
        x[active, j] = (rank[index] + 0.5) / k
        ranks[name] = rank
    x[np.isnan(x)] = _INACTIVE
    return x, ranks


def importance(
    study_or_trials: Study | Iterable[Trial],
    *,
    space: Space | None = None,
    metric: str | None = None,
    direction: str | None = None,
    n_trees: int = 64,
    seed: int | None = 0,
    statuses: Iterable[str | TrialStatus] = ("COMPLETE",),
) -> Importance:
    """fANOVA main-effect importance of each parameter for ``metric``.

    Give a :class:`Study` (``metric`` defaults to its target metric; on a
    multi-objective study name the objective), or a list of trials with the ``space``
    they come from and the ``metric``. The trials used are those with a status in
    ``statuses`` and a finite value of the metric; at least 4 are needed, and a few
    dozen for the scores to mean much. A random forest of ``n_trees`` trees
    (scikit-learn, ``pip install 'tunelab[demo]'``), seeded by ``seed``, learns the
    metric from the encoded configurations; each tree's prediction is decomposed
    exactly (see :class:`Importance`). ``direction`` plays no part (variance does not
    care which way is better) and is only checked.

    The metric is used as reported: a few huge values (divergent runs) dominate the
    variance, so pass trials on a sensible scale (e.g. a log loss) when that happens.
    """
    wanted = _statuses(statuses)
    if isinstance(n_trees, bool) or not isinstance(n_trees, int) or n_trees < 1:
        raise InvalidArgumentError(f"`n_trees` must be an integer >= 1; got {n_trees!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InvalidArgumentError(f"`seed` must be an integer or None; got {seed!r}")
    src = _source(study_or_trials, space, metric, direction, wanted, need_direction=False)
    if len(src.trials) < _MIN_TRIALS:
        raise _too_few(src, wanted, _MIN_TRIALS)
    ensemble: Any = require_extra("sklearn.ensemble", "demo", "importance()")
    x, ranks = _encode(src.space, src.trials, src.values)
    domain = _Domain.of(src.space, ranks)
    y = src.values - src.values.mean()
    scale = float(np.abs(y).max())
    names = src.space.names
    effects: list[np.ndarray] = []
    if scale > 0.0:
        forest = ensemble.RandomForestRegressor(
            n_estimators=n_trees,
            min_samples_leaf=1,
            max_features=1.0,
            bootstrap=True,
            random_state=seed,
        )
        forest.fit(x, y / scale)
        for estimator in forest.estimators_:
            main, total = _tree_main_effects(estimator.tree_, domain)
            if total > 1e-12:
                effects.append(np.clip(main / total, 0.0, 1.0))
    shares = np.array(effects) if effects else np.zeros((1, len(names)))
    mean, std = shares.mean(axis=0), shares.std(axis=0)
    order = sorted(range(len(names)), key=lambda j: (-mean[j], j))
    return Importance(
        study=src.name,
        metric=src.metric,
        n_trials=len(src.trials),
        scores={names[j]: float(mean[j]) for j in order},
        std={names[j]: float(std[j]) for j in order},
    )


# --------------------------------------------------------------------------- good ranges


def _top_count(top: object, n: int) -> int:
    """How many of ``n`` trials ``top`` asks for (checked)."""
    if isinstance(top, (bool, np.bool_)) or not isinstance(
        top, (int, float, np.integer, np.floating)
    ):
        raise InvalidArgumentError(
            f"`top` must be a fraction in (0, 1] or a number of trials >= 1; got {top!r}"
        )
    if isinstance(top, (int, np.integer)):
        if top < 1:
            raise InvalidArgumentError(
                f"`top` as a number of trials must be >= 1; got {top!r}"
            )
        return int(min(top, n))
    if not (math.isfinite(top) and 0.0 < top <= 1.0):
        raise InvalidArgumentError(
            f"`top` as a fraction of the trials must be in (0, 1] (or give a whole "
            f"number of trials, e.g. top=10); got {top!r}"
        )
    return max(1, math.ceil(top * n - 1e-9))


def _unit_span(param: Param, low: Any, high: Any) -> float:
    """The share of the unit interval that values ``low``..``high`` cover (whole bins
    for discrete parameters)."""
    a, b = param.to_unit(low), param.to_unit(high)
    if isinstance(param, Int) and param.log:
        lo, hi = math.log(param.low - 0.5), math.log(param.high + 0.5)
        a = (math.log(low - 0.5) - lo) / (hi - lo)
        b = (math.log(high + 0.5) - lo) / (hi - lo)
    elif param.is_discrete:
        edges = _bin_edges(param)
        half = 0.0 if edges is None else 0.5 / (len(edges) - 1)
        a, b = a - half, b + half
    return float(min(max(b - a, 0.0), 1.0))


def _keys(choices: Sequence[Value]) -> dict[int, str]:
    """``str(choice)`` by choice index, ``repr`` where two choices print alike."""
    plain = [str(c) for c in choices]
    return {i: s if plain.count(s) == 1 else repr(c)
            for i, (s, c) in enumerate(zip(plain, choices, strict=True))}


def _numeric(param: Param, values: Iterable[Any]) -> list[float | int]:
    """Values of a numeric parameter as its Python type (float for Float, else int)."""
    return [float(v) if isinstance(param, Float) else int(v) for v in values]


def good_ranges(
    study_or_trials: Study | Iterable[Trial],
    *,
    space: Space | None = None,
    metric: str | None = None,
    direction: str | None = None,
    top: float | int = 0.2,
) -> dict[str, GoodRange]:
    """For each parameter, where it lies in the best complete trials (see
    :class:`GoodRange`), in the space's order.

    ``top`` is the share of the complete trials with a finite ``metric`` to call the
    best (a float in (0, 1]: 0.2 is the best fifth, at least one trial), or their number
    (an int >= 1; note ``top=1`` is the single best trial, ``top=1.0`` all of them).
    ``direction`` ('min' or 'max') defaults to the study's direction for ``metric``, or
    to 'min' for a list of trials.
    """
    _top_count(top, 1)  # check it before reading the trials
    src = _source(study_or_trials, space, metric, direction,
                  {TrialStatus.COMPLETE}, need_direction=True)
    if not src.trials:
        raise _too_few(src, {TrialStatus.COMPLETE}, 1)
    n_top = _top_count(top, len(src.trials))
    sign = 1.0 if src.direction == "min" else -1.0
    order = sorted(range(len(src.trials)),
                   key=lambda i: (sign * src.values[i], src.trials[i].number))
    best = [src.trials[i] for i in order[:n_top]]
    out: dict[str, GoodRange] = {}
    for name in src.space.names:
        param = src.space[name]
        chosen = [t.config[name] for t in best if name in t.config]
        seen = [t.config[name] for t in src.trials if name in t.config]
        best_value = best[0].config.get(name)
        if isinstance(param, Categorical):
            keys = _keys(param.choices)
            counts: dict[int, int] = {}
            for v in chosen:
                i = param.index(v)
                counts[i] = counts.get(i, 0) + 1
            ranked = sorted(counts, key=lambda i: (-counts[i], i))
            out[name] = GoodRange(
                name=name, kind="categorical", low=None, high=None,
                values={keys[i]: counts[i] for i in ranked},
                n_top=len(chosen),
                share_of_range=len(counts) / len(param.choices) if chosen else None,
                best=best_value,
            )
            continue
        numbers, observed = _numeric(param, chosen), _numeric(param, seen)
        if not numbers:
            out[name] = GoodRange(
                name=name, kind="numeric", low=None, high=None, values={}, n_top=0,
                share_of_range=None,
                observed_low=min(observed, default=None),
                observed_high=max(observed, default=None),
                best=best_value,
            )
            continue
        low, high = min(numbers), max(numbers)
        q10, q90 = _numeric(
            param, np.quantile(np.asarray(numbers, dtype=float), [0.1, 0.9], method="nearest")
        )
        out[name] = GoodRange(
            name=name, kind="numeric", low=low, high=high, values={},
            n_top=len(numbers),
            share_of_range=_unit_span(param, low, high),
            q10=q10, q90=q90,
            observed_low=min(observed), observed_high=max(observed),
            best=best_value,
        )
    return out


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def good_ranges_table(ranges: Mapping[str, GoodRange]) -> str:
    """A plain-text table of :func:`good_ranges`, one line per parameter.

    >>> print(good_ranges_table({"x": GoodRange("x", "numeric", 0.5, 1.25, {}, 4, 0.25,
    ...                                          0.5, 1.0, 0.0, 3.0, 0.75)}))
    parameter  top  good range   10%..90%  best  share
    x            4  0.5 .. 1.25  0.5 .. 1  0.75    25%
    """
    rows = []
    for r in ranges.values():
        if r.kind == "categorical":
            good = ", ".join(f"{k} {n}" for k, n in r.values.items()) or "-"
            middle = "-"
        else:
            good = "-" if r.low is None else f"{_fmt(r.low)} .. {_fmt(r.high)}"
            middle = "-" if r.q10 is None else f"{_fmt(r.q10)} .. {_fmt(r.q90)}"
        share = "-" if r.share_of_range is None else f"{100 * r.share_of_range:.0f}%"
        rows.append((r.name, str(r.n_top), good, middle, _fmt(r.best), share))
    header = ("parameter", "top", "good range", "10%..90%", "best", "share")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right = {1, 5}
    lines = []
    for row in [header, *rows]:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)

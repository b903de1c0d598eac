"""One-at-a-time sensitivity: from a baseline, vary each hyperparameter alone.

For each parameter, its grid (log-spaced for log-scale parameters, every choice of a
categorical) is run with the other parameters at the baseline, ``repeats`` times with
different seeds. The same seeds are used at every point (common random numbers), so a
curve's shape is not blurred by which seed landed where. Each parameter gets a curve
(mean and seed standard deviation per value), a score (the spread of its mean curve, in
the metric's units), the seed noise, and the values whose mean is within the noise of
the best (its good range).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab._errors import InvalidArgumentError
from tunelab.executors import Executor, Objective
from tunelab.space import Categorical, Config, Float, PowerOfTwo, Space, config_key
from tunelab.study import RunRequest, Study
from tunelab.trial import Trial, TrialStatus

__all__ = ["ParamCurve", "Sensitivity", "sensitivity"]

PURPOSE = "sensitivity"
#: The study attribute holding the settings of the last sensitivity analysis (baseline,
#: params, points, repeats), so that its curves can be gathered again without reruns.
SETTINGS_ATTR = "tunelab.sensitivity"
#: A parameter "matters" when its mean curve spreads over more than this many standard
#: errors of a mean (seed std / sqrt(repeats)): about the 95th percentile of the range of
#: seven means of pure noise.
MATTERS_SE = 4.0


@dataclass(frozen=True)
class ParamCurve:
    """The curve of one parameter: its ``values`` (in order), the mean and seed standard
    deviation of the metric at each, how many runs finished there (``n``), and the
    baseline's value. ``log`` and ``categorical`` say how to draw the x axis."""

    name: str
    values: tuple[Any, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]
    n: tuple[int, ...]
    baseline: Any
    log: bool
    categorical: bool
    direction: str
    repeats: int

    @property
    def spread(self) -> float:
        """The sensitivity score: max - min of the mean curve (metric units)."""
        finite = [m for m in self.means if math.isfinite(m)]
        return max(finite) - min(finite) if finite else 0.0

    @property
    def noise(self) -> float:
        """The seed noise: the median of the points' seed standard deviations (a median,
        so that a few points where training diverges do not set the noise level)."""
        stds = [s for s, k in zip(self.stds, self.n, strict=True) if k > 1]
        return float(np.median(stds)) if stds else 0.0

    @property
    def matters(self) -> bool | None:
        """Whether the spread is beyond what seed noise alone gives (see MATTERS_SE);
        None when the noise is unknown (fewer than 2 seeds per point)."""
        if self.repeats < 2 or not any(k > 1 for k in self.n):
            return None
        se = self.noise / math.sqrt(self.repeats)
        return self.spread > MATTERS_SE * se

    @property
    def best(self) -> Any:
        """The value with the best mean."""
        sign = 1.0 if self.direction == "min" else -1.0
        i = min(range(len(self.values)), key=lambda j: sign * self.means[j]
                if math.isfinite(self.means[j]) else math.inf)
        return self.values[i]

    @property
    def good(self) -> tuple[Any, ...]:
        """The values whose mean is within one noise standard deviation of the best."""
        sign = 1.0 if self.direction == "min" else -1.0
        finite = [sign * m for m in self.means if math.isfinite(m)]
        if not finite:
            return ()
        top = min(finite)
        return tuple(v for v, m in zip(self.values, self.means, strict=True)
                     if math.isfinite(m) and sign * m <= top + self.noise)


@dataclass(frozen=True)
class Sensitivity:
    """The outcome of :func:`sensitivity`: the baseline and one :class:`ParamCurve` per
    parameter, most sensitive first.

    >>> import numpy as np
    >>> from tunelab import Float, Space, Study
    >>> space = Space(lr=Float(1e-4, 1.0, log=True), unused=Float(0, 1))
    >>> def f(c):
    ...     noise = np.random.default_rng(c.seed).normal(0, 0.01)
    ...     return (np.log10(c["lr"]) + 2) ** 2 + noise
    >>> study = Study("doc-sens", space, store="memory")
    >>> result = sensitivity(study, f, baseline={"lr": 1e-3, "unused": 0.5}, points=5)
    >>> lr = result.curve("lr")
    >>> [c.name for c in result.curves], round(lr.best, 6), result.curve("unused").matters
    (['lr', 'unused'], 0.01, False)
    >>> len(lr.values), lr.matters
    (5, True)
    """

    study: str
    metric: str
    direction: str
    baseline: dict[str, Any]
    repeats: int
    curves: tuple[ParamCurve, ...]

    def curve(self, name: str) -> ParamCurve:
        for c in self.curves:
            if c.name == name:
                return c
        raise InvalidArgumentError(
            f"no curve for parameter {name!r}; have {[c.name for c in self.curves]}")

    @property
    def scores(self) -> dict[str, float]:
        """Parameter -> spread of its mean curve, most sensitive first."""
        return {c.name: c.spread for c in self.curves}

    def plot_data(self) -> dict[str, Any]:
        """``{param: [(value, mean, std), ...], "log": {...}, "baseline": {...}}`` for
        :func:`tunelab.analysis.plot` with ``kind="sensitivity"``."""
        data: dict[str, Any] = {
            c.name: [(v, m, s) for v, m, s in zip(c.values, c.means, c.stds, strict=True)
                     if math.isfinite(m)]  # a point where every run failed has no mean
            for c in self.curves}
        data["log"] = {c.name: c.log for c in self.curves}
        data["baseline"] = dict(self.baseline)
        return data

    def text(self) -> str:
        """A plain-text table for the command line."""
        head = (f"one-at-a-time sensitivity of {self.metric} ({self.direction}) in study "
                f"{self.study!r}, {self.repeats} seed(s) per point\nbaseline: {self.baseline}")
        rows = [f"{'parameter':<20} {'spread':>10} {'seed std':>10} {'matters':>8}  "
                f"{'best':>12}  good values"]
        for c in self.curves:
            good = ", ".join(_fmt(v) for v in c.good)
            matters = {True: "yes", False: "no", None: "?"}[c.matters]
            rows.append(f"{c.name:<20} {c.spread:>10.4g} {c.noise:>10.3g} "
                        f"{matters:>8}  {_fmt(c.best):>12}  {good}")
        lines = [head, *rows]
        for c in self.curves:
            lines.append(f"\n{c.name}:")
            for v, m, s, k in zip(c.values, c.means, c.stds, c.n, strict=True):
                mark = "  <- baseline" if _same(v, c.baseline) else ""
                lines.append(f"  {_fmt(v):>12}  {m:>10.4g} +- {s:<9.3g} (n={k}){mark}")
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return type(a) is type(b) and a == b


def _center(space: Space) -> Config:
    """The middle of every range (geometric middle on log scales) and the first choice of
    every categorical, for every parameter (active or not): the values a baseline takes
    when nothing else is known."""
    out: Config = {}
    for name, param in space.params.items():
        out[name] = param.from_unit(0.0 if isinstance(param, Categorical) else 0.5)
    return out


def _complete(space: Space, config: Mapping[str, Any], fill: Mapping[str, Any]) -> Config:
    """``config`` with inactive parameters dropped and newly active ones from ``fill``."""
    order = list(space.names)
    center = _center(space)
    # Iterate until nothing changes: a parent's new value may (de)activate children,
    # which may be parents themselves.
    out = dict(config)
    for _ in range(len(order) + 1):
        changed = False
        for name in order:
            active = space.is_active(name, out)
            if active and name not in out:
                out[name] = fill[name] if name in fill else center[name]
                changed = True
            elif not active and name in out:
                del out[name]
                changed = True
        if not changed:
            break
    return space.validate(out)


def _grid(space: Space, name: str, points: int, baseline: Any) -> list[Any]:
    values = list(space.params[name].grid(points))
    if baseline is not None:
        # The baseline's own value, exactly (a grid value equal up to rounding would be a
        # different configuration): its runs are shared by every parameter's curve.
        values = [baseline if _same(v, baseline) else v for v in values]
        if not any(_same(v, baseline) for v in values):
            values.append(baseline)
    if isinstance(space.params[name], Categorical):
        return values
    return sorted(values)


def _seed(base: int, repeat: int) -> int:
    return int(np.random.SeedSequence([base, repeat, 104729]).generate_state(1)[0])


def sensitivity(
    study: Study,
    objective: Objective,
    *,
    baseline: Mapping[str, Any] | None = None,
    params: Sequence[str] | None = None,
    points: int = 7,
    repeats: int = 3,
    workers: int = 1,
    executor: str | Executor | None = None,
    progress: Callable[[Trial], None] | None = None,
    run_missing: bool = True,
) -> Sensitivity:
    """Vary each of ``params`` (default: every parameter) alone over ``points`` values of
    its range (log grid on log scales, every choice of a categorical; the baseline's own
    value is added), the others at ``baseline`` (default: the study's best configuration,
    else the middle of the space), ``repeats`` seeds per point, in ``workers`` processes.

    Every run is a trial of ``study`` (``system_attrs`` ``{"purpose": "sensitivity",
    "param": name, "repeat": r}``); calling this again reuses the complete runs with the
    same configuration and repeat (failed ones run again). ``run_missing=False`` runs
    nothing: the curves are gathered from what is stored (missing points are NaN).
    Single-objective studies only.
    """
    space = study.space
    if study.is_multi_objective:
        raise InvalidArgumentError(
            f"study {study.name!r} has several objectives; sensitivity follows one metric")
    for label, value, low in (("points", points, 2), ("repeats", repeats, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgumentError(f"`{label}` must be an integer >= {low}; got {value!r}")
    names = list(space.names) if params is None else list(params)
    unknown = [n for n in names if n not in space.params]
    if unknown or not names:
        raise InvalidArgumentError(
            f"unknown parameter(s) {unknown or names} for sensitivity; the space has "
            f"{list(space.names)}")
    if baseline is None:  # the best trial the search found (leaderboard: no reruns)
        found = study.leaderboard(1)
        baseline = found[0].config if found else _center(space)
    base = _complete(space, baseline, _center(space))
    seed_base = study.searcher.seed
    plan: list[tuple[str | None, Config]] = [(None, base)]
    skipped = []
    for name in names:
        if name not in base:
            skipped.append(name)
            continue
        for value in _grid(space, name, points, base[name]):
            if not _same(value, base[name]):
                plan.append((name, _complete(space, {**base, name: value}, base)))
    if skipped:
        raise InvalidArgumentError(
            f"parameter(s) {skipped} are inactive at the baseline {base}; choose a baseline "
            "where they are active, or leave them out of `params`")
    finished: dict[tuple[str, int], Trial] = {}
    for t in study.trials:
        if t.system_attrs.get("purpose") == PURPOSE and t.status is TrialStatus.COMPLETE:
            finished[(config_key(t.config), int(t.system_attrs.get("repeat", -1)))] = t
    requests = []
    queued = set()
    for varied, config in plan:
        for r in range(repeats):
            key = (config_key(config), r)
            if key in finished or key in queued:
                continue
            queued.add(key)
            requests.append(RunRequest(config, _seed(seed_base, r), None,
                                       {"purpose": PURPOSE, "param": varied, "repeat": r}))
    settings = {"baseline": dict(base), "params": names, "points": points, "repeats": repeats}
    if study.user_attrs.get(SETTINGS_ATTR) != settings:
        study.set_user_attr(SETTINGS_ATTR, settings)
    if not run_missing:
        requests = []
    for trial in study.run_requests(objective, requests, workers=workers, executor=executor,
                                    progress=progress):
        finished[(config_key(trial.config), int(trial.system_attrs["repeat"]))] = trial

    def stats(config: Config) -> tuple[float, float, int]:
        vals = []
        for r in range(repeats):
            t = finished.get((config_key(config), r))
            if (t is not None and t.status is TrialStatus.COMPLETE and t.value is not None
                    and math.isfinite(t.value)):
                vals.append(float(t.value))
        if not vals:
            return (math.nan, math.nan, 0)
        std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
        return (float(np.mean(vals)), std, len(vals))

    curves = []
    for name in names:
        param = space.params[name]
        values = _grid(space, name, points, base[name])
        rows = [stats(_complete(space, {**base, name: v}, base)) for v in values]
        curves.append(ParamCurve(
            name, tuple(values), tuple(r[0] for r in rows), tuple(r[1] for r in rows),
            tuple(r[2] for r in rows), base[name],
            log=(isinstance(param, Float) and bool(param.log))
            or isinstance(param, PowerOfTwo),
            categorical=isinstance(param, Categorical), direction=study.direction,
            repeats=repeats))
    curves.sort(key=lambda c: -c.spread)
    return Sensitivity(study.name, study.metric, study.direction, dict(base), repeats,
                       tuple(curves))

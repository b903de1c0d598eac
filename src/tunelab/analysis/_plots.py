"""PNG plots of a study with matplotlib: optimisation history, learning curves, parallel
coordinates, Pareto front, parameter importance and sensitivity.

Figures are built as :class:`matplotlib.figure.Figure` objects on an Agg canvas, never
through ``pyplot``: plotting changes no global matplotlib state (backend, open figures).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tunelab._errors import InvalidArgumentError, require_extra
from tunelab.space import Categorical, Param
from tunelab.study import Study
from tunelab.trial import Trial, TrialStatus

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["KINDS", "figure", "plot"]

#: The kinds of plot :func:`plot` draws.
KINDS = ("history", "curves", "importance", "sensitivity", "parallel", "pareto")
_DPI = 100
_MAX_LABELS = 12  # category labels drawn on one parallel-coordinates axis


def _require_matplotlib() -> None:
    require_extra("matplotlib", "plot", "tunelab's plots")


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


# ---------------------------------------------------------------------------- study data


def _check_metric(study: Study, metric: object) -> str:
    if metric is None:
        return study.metric
    if not isinstance(metric, str) or not metric:
        raise InvalidArgumentError(f"`metric` must be a non-empty metric name; got {metric!r}")
    return metric


def _direction(study: Study, metric: str) -> str | None:
    """The direction of ``metric`` when it is an objective of the study."""
    return dict(study.objectives).get(metric)


def _value(study: Study, trial: Trial, metric: str) -> float | None:
    value = trial.value if metric == study.metric else None
    if value is None:
        value = trial.metrics.get(metric)
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _complete(study: Study, metric: str) -> list[tuple[Trial, float]]:
    """Complete trials with a finite value of ``metric``, by number."""
    out = []
    for trial in study.trials:
        if trial.status is TrialStatus.COMPLETE:
            value = _value(study, trial, metric)
            if value is not None:
                out.append((trial, value))
    if not out:
        raise InvalidArgumentError(
            f"study {study.name!r} has no complete trial with metric {metric!r} to plot; "
            "run some trials first (or pass another `metric`)"
        )
    return out


def _history(study: Study, metric: str, data: object) -> Figure:
    done = _complete(study, metric)
    xs = np.array([t.number for t, _ in done], dtype=float)
    ys = np.array([v for _, v in done])
    fig = _new_figure(7, 4.5)
    ax = fig.add_subplot()
    ax.plot(xs, ys, "o", color="C0", alpha=0.75, label="complete trial", gid="trials")
    direction = _direction(study, metric)
    if direction is not None:
        best = (np.minimum if direction == "min" else np.maximum).accumulate(ys)
        ax.plot(xs, best, drawstyle="steps-post", color="C3", lw=2,
                label=f"best so far ({direction})", gid="best")
    if ys.min() > 0 and ys.max() / ys.min() > 1e3:
        ax.set_yscale("log")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"{study.name}: {metric} of {len(done)} complete trials")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


#: How each status's learning curve is drawn: line style, colour (None: by trial),
#: marker at the curve's end.
_CURVE_STYLE: dict[TrialStatus, tuple[str, str | None, str | None]] = {
    TrialStatus.COMPLETE: ("-", None, None),
    TrialStatus.RUNNING: ("-.", None, ">"),
    TrialStatus.STOPPED: ("--", "0.55", "x"),
    TrialStatus.PAUSED: (":", "0.4", "o"),
    TrialStatus.FAILED: (":", "C3", "X"),
}


def _curves(study: Study, metric: str, data: object) -> Figure:
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    record = study.store.get_study(study.name)
    series = []
    for trial in study.store.get_trials(record.id, with_reports=True):
        points = [(r.step, r.metrics[metric]) for r in trial.reports if metric in r.metrics]
        if points and trial.status in _CURVE_STYLE:
            series.append((trial, points))
    if not series:
        raise InvalidArgumentError(
            f"no trial of study {study.name!r} reported {metric!r} per step; learning "
            f"curves need `trial.report(step, {metric}=...)` in the objective"
        )
    cmap = colormaps["viridis"]
    fig = _new_figure(7.5, 4.8)
    ax = fig.add_subplot()
    shown: list[TrialStatus] = []
    for i, (trial, points) in enumerate(series):
        style, fixed, marker = _CURVE_STYLE[trial.status]
        color = fixed if fixed is not None else cmap(0.9 * i / max(1, len(series) - 1))
        steps = [s for s, _ in points]
        values = [v for _, v in points]
        ax.plot(steps, values, ls=style, color=color, lw=1.2, alpha=0.85,
                gid=f"trial-{trial.number}")
        if marker is not None:
            ax.plot(steps[-1:], values[-1:], ls="", marker=marker, color=color,
                    mfc="none" if trial.status is TrialStatus.PAUSED else color,
                    gid=f"end-{trial.number}")
        if trial.status not in shown:
            shown.append(trial.status)
    handles = []
    for status in sorted(shown, key=list(_CURVE_STYLE).index):
        style, fixed, marker = _CURVE_STYLE[status]
        handles.append(Line2D([], [], ls=style, color=fixed or cmap(0.5), marker=marker,
                              mfc="none" if status is TrialStatus.PAUSED else None,
                              label=status.value.lower()))
    ax.legend(handles=handles)
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(f"{study.name}: learning curves of {len(series)} trials")
    ax.grid(alpha=0.3)
    return fig


def _axis_labels(param: Param) -> list[tuple[float, str]]:
    """(position in the unit cube, label) of a few values of one parameter."""
    if isinstance(param, Categorical):
        values = list(param.choices)
    elif param.is_discrete and len(param.grid(_MAX_LABELS + 1)) <= _MAX_LABELS:
        values = param.grid(_MAX_LABELS)
    else:
        values = list(dict.fromkeys(param.from_unit(u) for u in (0.0, 0.25, 0.5, 0.75, 1.0)))
    if len(values) > _MAX_LABELS:
        keep = np.linspace(0, len(values) - 1, _MAX_LABELS).round().astype(int)
        values = [values[i] for i in sorted(set(keep.tolist()))]
    return [(param.to_unit(v), _fmt(v)) for v in values]


_INACTIVE = -0.12  # where an inactive parameter's line passes on its axis


def _parallel(study: Study, metric: str, data: object) -> Figure:
    from matplotlib.collections import LineCollection

    done = _complete(study, metric)
    space = study.space
    names = list(space.names)
    values = np.array([v for _, v in done])
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.full(len(values), 0.5)
    rows = np.array([space.encode(t.config) for t, _ in done]).reshape(len(done), len(names))
    inactive = np.isnan(rows)
    rows[inactive] = _INACTIVE
    direction = _direction(study, metric) or "min"
    # Worst first, so the best trials are drawn on top.
    order = np.argsort(-values if direction == "min" else values, kind="stable")
    segments = [
        np.column_stack([np.arange(len(names) + 1), np.append(rows[i], scaled[i])])
        for i in order
    ]
    lines = LineCollection(segments, array=values[order],
                           cmap="viridis_r" if direction == "min" else "viridis",
                           linewidths=1.2, alpha=0.8)
    lines.set_gid("configs")
    fig = _new_figure(max(6.0, 1.3 * (len(names) + 1) + 2), 4.8)
    ax = fig.add_subplot()
    ax.add_collection(lines)
    for i, name in enumerate(names):
        ax.plot([i, i], [0, 1], color="0.3", lw=0.8)
        labels = _axis_labels(space[name])
        if inactive[:, i].any():
            labels.append((_INACTIVE, "inactive"))
        for y, label in labels:
            ax.text(i + 0.04, y, label, fontsize=7, va="center", ha="left", color="0.15")
    last = len(names)
    ax.plot([last, last], [0, 1], color="0.3", lw=0.8)
    for y in (0.0, 0.5, 1.0):
        ax.text(last + 0.04, y, _fmt(low + y * (high - low)), fontsize=7, va="center",
                ha="left", color="0.15")
    ax.set_xlim(-0.2, last + 0.6)
    ax.set_ylim(_INACTIVE - 0.05 if inactive.any() else -0.05, 1.05)
    ax.set_yticks([])
    ax.set_xticks(range(last + 1), [*names, metric],
                  rotation=30 if last > 5 else 0, ha="right" if last > 5 else "center")
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.colorbar(lines, ax=ax, label=metric)
    ax.set_title(f"{study.name}: {len(done)} complete trials")
    return fig


def _pareto(study: Study, metric: str, data: object) -> Figure:
    if not study.is_multi_objective:
        raise InvalidArgumentError(
            f"a 'pareto' plot needs a multi-objective study; study {study.name!r} has one "
            f"objective {study.metric!r} (create it with metric=[...], direction=[...])"
        )
    (m1, d1), (m2, d2) = study.objectives[:2]
    points = []
    for trial in study.trials:
        if trial.status is TrialStatus.COMPLETE:
            a, b = _value(study, trial, m1), _value(study, trial, m2)
            if a is not None and b is not None:
                points.append((trial.number, a, b))
    if not points:
        raise InvalidArgumentError(
            f"study {study.name!r} has no complete trial with {m1!r} and {m2!r} to plot"
        )
    front = {t.number for t in study.pareto_front()}
    rest = np.array([(a, b) for n, a, b in points if n not in front]).reshape(-1, 2)
    best = np.array(sorted((a, b) for n, a, b in points if n in front)).reshape(-1, 2)
    fig = _new_figure(6.5, 5)
    ax = fig.add_subplot()
    ax.scatter(rest[:, 0], rest[:, 1], color="0.6", s=18, label="dominated", gid="trials")
    ax.scatter(best[:, 0], best[:, 1], color="C3", s=30, zorder=3, label="Pareto front",
               gid="front")
    if len(study.objectives) == 2 and len(best) > 1:
        ax.plot(best[:, 0], best[:, 1], color="C3", ls="--", lw=1, alpha=0.7)
    ax.set_xlabel(f"{m1} ({d1})")
    ax.set_ylabel(f"{m2} ({d2})")
    extra = len(study.objectives) - 2
    note = f" (front over all {extra + 2} objectives)" if extra else ""
    ax.set_title(f"{study.name}: {len(front)} of {len(points)} trials on the front{note}")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


# ---------------------------------------------------------------------------- given data


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"{what} must be a number; got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise InvalidArgumentError(f"{what} must be finite; got {value!r}")
    return out


def _importance_data(data: object) -> tuple[dict[str, float], dict[str, float]]:
    if isinstance(data, Mapping) and isinstance(data.get("scores"), Mapping):
        scores, std = data["scores"], data.get("std")
    elif isinstance(data, Mapping):
        scores, std = data, None
    elif data is not None and hasattr(data, "scores"):
        scores, std = data.scores, getattr(data, "std", None)
    else:
        raise InvalidArgumentError(
            "an 'importance' plot needs `data`: a mapping of parameter -> importance score, "
            f"or an object with `.scores` (and optional `.std`) mappings; got {data!r}"
        )
    if not isinstance(scores, Mapping) or not scores:
        raise InvalidArgumentError(
            f"importance `scores` must be a non-empty mapping of parameter -> score; "
            f"got {scores!r}"
        )
    if std is not None and not isinstance(std, Mapping):
        raise InvalidArgumentError(f"importance `std` must be a mapping or None; got {std!r}")
    clean = {str(k): _number(v, f"the importance of {k!r}") for k, v in scores.items()}
    spread = {str(k): _number(v, f"the std of {k!r}") for k, v in (std or {}).items()
              if v is not None}
    return clean, spread


def _importance(study: Study, metric: str, data: object) -> Figure:
    scores, std = _importance_data(data)
    names = sorted(scores, key=lambda n: (-scores[n], n))[::-1]  # largest at the top
    fig = _new_figure(6.5, max(2.5, 0.45 * len(names) + 1.2))
    ax = fig.add_subplot()
    errors = [std.get(n, 0.0) for n in names] if std else None
    ax.barh(range(len(names)), [scores[n] for n in names], xerr=errors, color="C0",
            capsize=3, gid="importance")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(f"importance for {metric}")
    ax.set_title(f"{study.name}: parameter importance")
    ax.grid(axis="x", alpha=0.3)
    return fig


Point = tuple[object, float, float | None]


def _curve(name: str, points: object) -> list[Point]:
    if isinstance(points, (str, bytes)) or not isinstance(points, Sequence) or not points:
        raise InvalidArgumentError(
            f"the sensitivity curve of {name!r} must be a non-empty list of "
            f"(value, mean, std) triples; got {points!r}"
        )
    out: list[Point] = []
    for point in points:
        if isinstance(point, (str, bytes)) or not isinstance(point, Sequence) or len(
            point
        ) not in (2, 3):
            raise InvalidArgumentError(
                f"each point of the sensitivity curve of {name!r} must be "
                f"(value, mean, std) or (value, mean); got {point!r}"
            )
        value, mean = point[0], _number(point[1], f"the mean at {point[0]!r} of {name!r}")
        std = point[2] if len(point) == 3 else None
        out.append((value, mean, None if std is None else _number(
            std, f"the std at {point[0]!r} of {name!r}")))
    return out


def _sensitivity_data(
    data: object,
) -> tuple[dict[str, list[Point]], object, dict[str, bool]]:
    """(curves, baseline, log flags) from a mapping or an object with ``.curves``."""
    if isinstance(data, Mapping) and isinstance(data.get("curves"), Mapping):
        curves, baseline, log = data["curves"], data.get("baseline"), data.get("log")
    elif isinstance(data, Mapping):
        baseline = data.get("baseline")
        log = data.get("log")
        curves = {
            k: v for k, v in data.items()
            if not (k == "baseline" and (v is None or isinstance(v, (int, float, Mapping))))
            and not (k == "log" and isinstance(v, Mapping))
        }
        if not isinstance(log, Mapping):
            log = None
        if isinstance(baseline, Sequence):
            baseline = None
    elif data is not None and hasattr(data, "curves"):
        curves = data.curves
        baseline = getattr(data, "baseline", None)
        log = getattr(data, "log", None)
    else:
        raise InvalidArgumentError(
            "a 'sensitivity' plot needs `data`: a mapping of parameter -> [(value, mean, "
            "std), ...] (optionally with 'baseline' and 'log' keys), or an object with "
            f"`.curves`; got {data!r}"
        )
    if not isinstance(curves, Mapping) or not curves:
        raise InvalidArgumentError(
            f"sensitivity `curves` must be a non-empty mapping of parameter -> points; "
            f"got {curves!r}"
        )
    if log is not None and not isinstance(log, Mapping):
        raise InvalidArgumentError(
            f"sensitivity `log` must map parameter names to True/False; got {log!r}"
        )
    checked = {str(k): _curve(str(k), v) for k, v in curves.items()}
    return checked, baseline, {str(k): bool(v) for k, v in (log or {}).items()}


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _sensitivity(study: Study, metric: str, data: object) -> Figure:
    curves, baseline, log = _sensitivity_data(data)
    if baseline is not None and not isinstance(baseline, Mapping):
        baseline = _number(baseline, "the sensitivity `baseline`")
    n = len(curves)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = _new_figure(4.2 * ncols, 3.3 * nrows)
    for i, (name, points) in enumerate(curves.items()):
        ax: Axes = fig.add_subplot(nrows, ncols, i + 1)
        param = study.space.params.get(name)
        categorical = isinstance(param, Categorical) or not all(
            _is_real(v) for v, _, _ in points
        )
        if categorical:
            _categorical_curve(ax, points)
        else:
            _numeric_curve(ax, name, points, param, log)
        if isinstance(baseline, Mapping):
            x = _baseline_x(points, categorical, baseline.get(name))
            if x is not None:
                ax.axvline(x, color="C3", ls="--", lw=1, label="baseline")
        elif baseline is not None:
            ax.axhline(baseline, color="C3", ls="--", lw=1, label="baseline")
        ax.set_xlabel(name)
        if i % ncols == 0:
            ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if baseline is not None and i == 0:
            ax.legend(fontsize=8)
    fig.suptitle(f"{study.name}: sensitivity of {metric}")
    return fig


def _baseline_x(points: list[Point], categorical: bool, value: object) -> float | None:
    """Where a parameter's baseline value lies on its panel's x axis (None: nowhere)."""
    if value is None:
        return None
    if not categorical:
        return float(value) if _is_real(value) else None  # type: ignore[arg-type]
    for position, (v, _, _) in enumerate(points):
        if type(v) is type(value) and v == value:
            return float(position)
    return None


def _categorical_curve(ax: Axes, points: list[Point]) -> None:
    positions = np.arange(len(points), dtype=float)
    means = [m for _, m, _ in points]
    errors = [0.0 if s is None else s for _, _, s in points]
    ax.errorbar(positions, means, yerr=errors if any(errors) else None, fmt="o", color="C0",
                capsize=4, gid="mean")
    labels = [_fmt(v) for v, _, _ in points]
    long = max(len(label) for label in labels) > 6 or len(labels) > 6
    ax.set_xticks(positions, labels, rotation=30 if long else 0,
                  ha="right" if long else "center")
    ax.set_xlim(-0.5, len(points) - 0.5)


def _numeric_curve(ax: Axes, name: str, points: list[Point], param: Param | None,
                   log: Mapping[str, bool]) -> None:
    ordered = sorted(points, key=lambda p: float(p[0]))  # type: ignore[arg-type]
    xs = np.array([float(v) for v, _, _ in ordered])  # type: ignore[arg-type]
    means = np.array([m for _, m, _ in ordered])
    ax.plot(xs, means, marker="o", ms=3, color="C0", gid="mean")
    if any(s is not None for _, _, s in ordered):
        spread = np.array([0.0 if s is None else s for _, _, s in ordered])
        ax.fill_between(xs, means - spread, means + spread, color="C0", alpha=0.25, lw=0)
    if name in log:
        use_log = log[name]
    elif getattr(param, "log", False):
        use_log = True
    else:
        use_log = bool(xs.min() > 0 and xs.max() / xs.min() > 100)
    if use_log and xs.min() > 0:
        ax.set_xscale("log")


# ---------------------------------------------------------------------------- entry points

_BUILDERS: dict[str, Callable[[Study, str, object], Figure]] = {
    "history": _history,
    "curves": _curves,
    "importance": _importance,
    "sensitivity": _sensitivity,
    "parallel": _parallel,
    "pareto": _pareto,
}


def figure(study: Study, kind: str, *, metric: str | None = None,
           data: object = None) -> Figure:
    """The matplotlib Figure :func:`plot` saves (e.g. to show it in a notebook); see
    :func:`plot` for the kinds."""
    if kind not in _BUILDERS:
        raise InvalidArgumentError(
            f"unknown plot kind {kind!r}; choose one of {', '.join(KINDS)}"
        )
    checked = _check_metric(study, metric)
    _require_matplotlib()
    return _BUILDERS[kind](study, checked, data)


def plot(study: Study, kind: str, path: str | os.PathLike[str], *, metric: str | None = None,
         data: object = None) -> Path:
    """Draw a plot of ``study`` into the PNG file ``path`` and return its path (needs
    ``pip install 'tunelab[plot]'``).

    ``kind`` is one of

    * ``"history"``: each complete trial's value by trial number, with the best so far
      (when ``metric`` is an objective of the study);
    * ``"curves"``: learning curves (``metric`` by reported step), one per trial; the
      curves of stopped (grey, dashed, ``x``), paused (dotted, hollow ``o``), running and
      failed trials are told apart from complete ones (solid);
    * ``"parallel"``: parallel coordinates: one axis per parameter (its unit-cube
      encoding, labelled with values; a trial where the parameter is inactive passes
      below the axis, at "inactive") and one for ``metric``; lines coloured by value;
    * ``"pareto"``: the first two objectives of a multi-objective study, Pareto front
      highlighted (``metric`` is not used);
    * ``"importance"``: a horizontal bar chart of ``data``: a mapping of parameter ->
      score, ``{"scores": {...}, "std": {...}}``, or an object with ``.scores`` (and
      optional ``.std``) mappings;
    * ``"sensitivity"``: one panel per parameter of ``data``: ``{param: [(value, mean,
      std), ...]}`` (std optional), with optional ``"baseline"`` (a metric value: a
      horizontal line; or a mapping of parameter -> value: a vertical line) and
      ``"log"`` (parameter -> True/False) keys, or an object with ``.curves`` (and
      optional ``.baseline``, ``.log``); the mean with a ±std band, on a log axis when
      told, when the space's parameter is logarithmic, or when the values span more
      than two decades; non-numeric (or categorical) values are ticks.

    ``metric`` defaults to the study's target metric. A study without the data a plot
    needs (no complete trial, no reports...) raises :class:`InvalidArgumentError`.

    >>> import tempfile, pathlib
    >>> from tunelab import Float, Space, Study
    >>> study = Study("doc-plot", Space(x=Float(-2, 2)), store="memory", seed=0)
    >>> study.optimize(lambda c: c["x"] ** 2, n_trials=5)
    >>> png = plot(study, "history", pathlib.Path(tempfile.mkdtemp()) / "history.png")
    >>> png.read_bytes()[:4]
    b'\\x89PNG'
    """
    fig = figure(study, kind, metric=metric, data=data)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png", dpi=_DPI)
    return target

"""A study's objectives: parsing ``metric``/``direction`` lists, checking that a trial
reported every objective, and the Pareto front of finished trials."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from tunelab._errors import InvalidArgumentError
from tunelab._pareto import as_losses, non_dominated_mask
from tunelab.store._base import check_direction
from tunelab.trial import Trial

__all__ = ["describe", "missing_objectives", "objective_values", "parse_objectives", "pareto"]

Objectives = tuple[tuple[str, str], ...]


def parse_objectives(metric: object, direction: object) -> Objectives | None:
    """The objectives a ``Study(metric=[...], direction=[...])`` asks for; None when
    ``metric`` is one name (or not given) and the study keeps one target."""
    if metric is None or isinstance(metric, str):
        if direction is not None and not isinstance(direction, str):
            raise InvalidArgumentError(
                f"`direction` is a list {direction!r} but `metric` is one name {metric!r}; "
                "give a list of metrics, one per direction"
            )
        return None
    if isinstance(metric, Mapping) or not isinstance(metric, Sequence):
        raise InvalidArgumentError(
            f"`metric` must be a metric name or a list of names; got {metric!r}"
        )
    names = list(metric)
    if not names:
        raise InvalidArgumentError("`metric` must name at least one metric; got []")
    for name in names:
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(
                f"every `metric` must be a non-empty string; got {name!r} in {names!r}"
            )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidArgumentError(
            f"`metric` names each objective once; {duplicates} repeat in {names!r}"
        )
    if direction is None:
        directions: list[object] = ["min"] * len(names)
    elif isinstance(direction, str) or not isinstance(direction, Sequence):
        raise InvalidArgumentError(
            f"`direction` must be a list of {len(names)} directions, one per metric of "
            f"{names!r}; got {direction!r}"
        )
    else:
        directions = list(direction)
    if len(directions) != len(names):
        raise InvalidArgumentError(
            f"`metric` has {len(names)} names {names!r} but `direction` has "
            f"{len(directions)}: {directions!r}; give one direction per metric"
        )
    pairs = []
    for name, d in zip(names, directions, strict=True):
        try:
            pairs.append((name, check_direction(str(d))))
        except InvalidArgumentError:
            raise InvalidArgumentError(
                f"the `direction` of metric {name!r} must be 'min' or 'max' (or "
                f"'minimize'/'maximize'); got {d!r}"
            ) from None
    return tuple(pairs)


def describe(objectives: Objectives) -> str:
    """``"max acc, min latency"``."""
    return ", ".join(f"{d} {m}" for m, d in objectives)


def missing_objectives(metrics: Mapping[str, float], objectives: Objectives) -> list[str]:
    """The objectives ``metrics`` lacks (or holds as NaN/inf)."""
    return [
        m for m, _ in objectives
        if not isinstance(metrics.get(m), (int, float)) or not math.isfinite(metrics[m])
    ]


def objective_values(trial: Trial, objectives: Objectives) -> list[float] | None:
    """The trial's value of every objective (the first from ``trial.value``), or None
    when one is missing."""
    out = []
    for i, (metric, _) in enumerate(objectives):
        value = trial.value if i == 0 and trial.value is not None else trial.metrics.get(metric)
        if value is None or not math.isfinite(value):
            return None
        out.append(float(value))
    return out


def pareto(trials: Sequence[Trial], objectives: Objectives) -> list[Trial]:
    """The trials no other of ``trials`` dominates (in every objective at least as good,
    in one better), best primary metric first."""
    rows, kept = [], []
    for t in trials:
        values = objective_values(t, objectives)
        if values is not None:
            rows.append(values)
            kept.append(t)
    if not kept:
        return []
    losses = as_losses(np.array(rows), [d for _, d in objectives])
    mask = non_dominated_mask(losses)
    front = [(loss[0], t.number, t) for loss, t, k in zip(losses, kept, mask, strict=True) if k]
    front.sort(key=lambda item: (item[0], item[1]))
    return [t for _, _, t in front]

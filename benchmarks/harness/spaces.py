"""Translate a tunelab :class:`~tunelab.Space` for the peers (Optuna, ConfigSpace/SMAC).

Every peer sees the same domain and the same prior as tunelab: log ranges stay log,
stepped ranges stay discrete, powers of two are an integer exponent, and conditional
parameters are only suggested where active (Optuna's define-by-run) or carry the same
conditions (ConfigSpace).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tunelab import Categorical, Float, Int, PowerOfTwo, Space
from tunelab.space import Config

__all__ = [
    "all_float",
    "grid_points_for_budget",
    "grid_size",
    "is_conditional",
    "optuna_suggest",
    "to_configspace",
    "topological_order",
]


def is_conditional(space: Space) -> bool:
    return any(space[name].when for name in space.names)


def _continuous(param: object) -> bool:
    return isinstance(param, Float) and param.step is None


def all_float(space: Space) -> bool:
    """True when every parameter is a continuous Float and none is conditional (CMA-ES)."""
    return not is_conditional(space) and all(_continuous(space[n]) for n in space.names)


def topological_order(space: Space) -> list[str]:
    """Parameter names with every parent before its children (declaration order otherwise)."""
    placed: list[str] = []
    left = list(space.names)
    while left:
        ready = [n for n in left if all(p in placed for p in space[n].when)]
        if not ready:  # pragma: no cover - Space itself rejects cycles
            raise ValueError(f"cyclic conditions among {left}")
        placed += ready
        left = [n for n in left if n not in ready]
    return placed


def optuna_suggest(trial: Any, space: Space) -> Config:
    """Suggest one configuration of ``space`` through an ``optuna.Trial`` (define-by-run)."""
    config: Config = {}
    for name in topological_order(space):
        if not space.is_active(name, config):
            continue
        p = space[name]
        if isinstance(p, Float):
            value = trial.suggest_float(name, p.low, p.high, log=p.log, step=p.step)
            # A sampler may return a stepped float a rounding error off the step (Optuna's
            # GPSampler: 0.29999999999999993 for 0.3): snap it to the space's own value.
            config[name] = p.from_unit(p.to_unit(value)) if p.step is not None else value
        elif isinstance(p, Int):
            config[name] = trial.suggest_int(name, p.low, p.high, step=p.step, log=p.log)
        elif isinstance(p, PowerOfTwo):
            e0, e1 = p.low.bit_length() - 1, p.high.bit_length() - 1
            config[name] = 1 << trial.suggest_int(f"{name}.log2", e0, e1)
        elif isinstance(p, Categorical):
            config[name] = trial.suggest_categorical(name, list(p.choices))
        else:  # pragma: no cover - a new parameter type
            raise TypeError(f"no Optuna translation for {p!r}")
    return {n: config[n] for n in space.names if n in config}


# --------------------------------------------------------------------------- ConfigSpace


def _choice_label(value: object) -> str:
    return f"{type(value).__name__}:{value!r}"


def to_configspace(space: Space, seed: int) -> tuple[Any, Any]:
    """A ``ConfigSpace.ConfigurationSpace`` for ``space`` and a decoder back to tunelab
    configurations. Discrete domains that ConfigSpace cannot express directly (stepped
    floats, stepped ints, powers of two) become ordinal parameters with the same values;
    categorical choices become labelled strings (ConfigSpace wants one type per choice)."""
    import ConfigSpace as CS

    cs = CS.ConfigurationSpace(seed=seed)
    decode: dict[str, dict[Any, Any] | None] = {}
    hps: dict[str, Any] = {}
    for name in space.names:
        p = space[name]
        hp: Any
        if isinstance(p, Float) and p.step is None:
            hp = CS.UniformFloatHyperparameter(name, p.low, p.high, log=p.log)
            decode[name] = None
        elif isinstance(p, Int) and p.step == 1:
            hp = CS.UniformIntegerHyperparameter(name, p.low, p.high, log=p.log)
            decode[name] = None
        elif isinstance(p, (Float, Int, PowerOfTwo)):
            values = p.grid(1)
            floats = [float(v) for v in values]  # type: ignore[arg-type]
            hp = CS.OrdinalHyperparameter(name, floats)
            decode[name] = dict(zip(floats, values, strict=True))
        elif isinstance(p, Categorical):
            labels = [_choice_label(c) for c in p.choices]
            hp = CS.CategoricalHyperparameter(name, labels)
            decode[name] = dict(zip(labels, p.choices, strict=True))
        else:  # pragma: no cover
            raise TypeError(f"no ConfigSpace translation for {p!r}")
        hps[name] = hp
    cs.add(list(hps.values()))
    conditions = []
    for name in space.names:
        when = space[name].when
        if not when:
            continue
        parts: list[Any] = []
        for parent, allowed in when.items():
            parent_hp = hps[parent]
            enc = [_encode_value(space, parent, v) for v in allowed]
            if len(enc) == 1:
                parts.append(CS.EqualsCondition(hps[name], parent_hp, enc[0]))
            else:
                parts.append(CS.InCondition(hps[name], parent_hp, enc))
        conditions.append(parts[0] if len(parts) == 1 else CS.AndConjunction(*parts))
    if conditions:
        cs.add(conditions)

    def to_config(values: Mapping[str, Any]) -> Config:
        out: Config = {}
        for name in space.names:
            if name not in values or values[name] is None:
                continue
            table = decode[name]
            raw = values[name]
            if table is None:
                p = space[name]
                out[name] = int(raw) if isinstance(p, Int) else float(raw)
            else:
                out[name] = table[raw]
        return space.validate(out)

    return cs, to_config


def _encode_value(space: Space, name: str, value: object) -> Any:
    p = space[name]
    if isinstance(p, Categorical):
        return _choice_label(value)
    if isinstance(p, (Float, PowerOfTwo)) or (isinstance(p, Int) and p.step != 1):
        return float(value)  # type: ignore[arg-type]
    return value


# --------------------------------------------------------------------------- grid


def grid_size(space: Space, points: int, limit: int = 10_000_000) -> int:
    """The number of grid configurations (counted up to ``limit`` for conditional spaces)."""
    if not is_conditional(space):
        return math.prod(len(space[n].grid(points)) for n in space.names)
    count = 0
    for _ in space.iter_grid(points):
        count += 1
        if count >= limit:
            break
    return count


def grid_points_for_budget(space: Space, n_configs: int, max_points: int = 64) -> int:
    """The number of values per continuous Float for which the grid size is closest (in
    ratio) to ``n_configs``; spaces without continuous Floats get 1 (it has no effect)."""
    if not any(_continuous(space[n]) for n in space.names):
        return 1
    best, best_gap = 1, math.inf
    for points in range(1, max_points + 1):
        size = grid_size(space, points, limit=n_configs * 100)
        gap = abs(math.log(max(size, 1) / max(n_configs, 1)))
        if gap < best_gap:
            best, best_gap = points, gap
        if size > n_configs:
            break
    return best

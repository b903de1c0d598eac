"""A search space: named parameters, conditions between them, encoding and enumeration."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from tunelab._errors import InvalidArgumentError, InvalidConfigError, InvalidSpaceError
from tunelab.space import _serialize
from tunelab.space._params import Categorical, Int, Param, PowerOfTwo, Value

__all__ = ["Config", "Space", "config_key"]

#: A configuration: parameter name -> value (inactive conditional parameters are absent).
Config = dict[str, Value]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_DISCRETE_PARENTS = (Categorical, Int, PowerOfTwo)


def config_key(config: Mapping[str, Any]) -> str:
    """A canonical string for a configuration, to tell configurations apart.

    >>> config_key({"b": 1, "a": "x"}) == config_key({"a": "x", "b": 1})
    True
    """
    return json.dumps(config, sort_keys=True)


class Space:
    """A declarative search space.

    Parameters are given as a mapping or as keyword arguments; a parameter with ``when`` is
    active only for some values of its (discrete) parents.

    >>> from tunelab import Categorical, Float, PowerOfTwo, Space
    >>> space = Space(
    ...     optimizer=Categorical(["sgd", "adam"]),
    ...     lr=Float(1e-4, 1e-1, log=True),
    ...     momentum=Float(0.0, 0.99, when={"optimizer": "sgd"}),
    ...     batch_size=PowerOfTwo(16, 512),
    ... )
    >>> config = space.sample(seed=1)
    >>> ("momentum" in config) == (config["optimizer"] == "sgd")
    True
    >>> space.decode(space.encode(config)) == config
    True
    """

    def __init__(self, params: Mapping[str, Param] | None = None, /, **kwargs: Param) -> None:
        merged: dict[str, Param] = {}
        for source in (params or {}), kwargs:
            if not isinstance(source, Mapping):
                raise InvalidSpaceError(
                    f"a Space takes a mapping of name -> parameter; got {source!r}"
                )
            for name, param in source.items():
                if name in merged:
                    raise InvalidSpaceError(f"parameter '{name}' is given twice")
                merged[name] = param
        if not merged:
            raise InvalidSpaceError("a Space needs at least one parameter; got none")
        for name, param in merged.items():
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise InvalidSpaceError(
                    f"parameter name {name!r} is not allowed; use letters, digits, '_', '.' "
                    "or '-', starting with a letter or '_'"
                )
            if not isinstance(param, Param):
                raise InvalidSpaceError(
                    f"parameter '{name}' must be a Float, Int, PowerOfTwo or Categorical; "
                    f"got {param!r}"
                )
            param.check(name)
        self._params = merged
        self._check_conditions()
        self._order = self._topological_order()
        self._names = tuple(merged)
        self._conditional = any(p.when for p in merged.values())

    # ------------------------------------------------------------------ structure

    def _check_conditions(self) -> None:
        for name, param in self._params.items():
            for parent, values in param.when.items():
                if parent == name:
                    raise InvalidSpaceError(f"parameter '{name}' cannot be its own condition")
                if parent not in self._params:
                    raise InvalidSpaceError(
                        f"parameter '{name}' has a condition on '{parent}', which is not in "
                        f"the space; known: {sorted(self._params)}"
                    )
                ptype = self._params[parent]
                if not isinstance(ptype, _DISCRETE_PARENTS):
                    raise InvalidSpaceError(
                        f"parameter '{name}' has a condition on '{parent}', a {ptype.kind}; "
                        "conditions must name a Categorical, Int or PowerOfTwo parent"
                    )
                if not values:
                    raise InvalidSpaceError(
                        f"parameter '{name}' has a condition on '{parent}' with no values "
                        f"(got []), so it could never be active; allowed: {ptype.describe()}"
                    )
                for v in values:
                    if not ptype.contains(v):
                        raise InvalidSpaceError(
                            f"parameter '{name}' is active when '{parent}' is {v!r}, "
                            f"which '{parent}' cannot take; allowed: {ptype.describe()}"
                        )
            # Native values (e.g. np.int64(2) -> 2), as is_active compares types strictly.
            param.when = {
                parent: tuple(self._params[parent].coerce(parent, v) for v in values)
                for parent, values in param.when.items()
            }

    def _topological_order(self) -> tuple[str, ...]:
        order: list[str] = []
        state: dict[str, int] = {}  # 1 = visiting, 2 = done

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = " -> ".join([*path, name])
                raise InvalidSpaceError(f"conditions form a cycle: {cycle}")
            state[name] = 1
            for parent in self._params[name].when:
                visit(parent, [*path, name])
            state[name] = 2
            order.append(name)

        for name in self._params:
            visit(name, [])
        return tuple(order)

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in declaration order."""
        return self._names

    @property
    def params(self) -> Mapping[str, Param]:
        return dict(self._params)

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __len__(self) -> int:
        return len(self._params)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._params)))

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={p!r}" for n, p in self._params.items())
        return f"Space({inner})"

    # ------------------------------------------------------------------ activity

    def is_active(self, name: str, config: Mapping[str, Any]) -> bool:
        """Whether ``name`` is active given the (partial) values of its parents."""
        for parent, values in self._params[name].when.items():
            if parent not in config:
                return False
            value = config[parent]
            if not any(type(value) is type(v) and value == v for v in values):
                return False
        return True

    # ------------------------------------------------------------------ sampling

    def sample(
        self, rng: np.random.Generator | None = None, *, seed: int | None = None
    ) -> Config:
        """Draw one configuration from the prior (inactive parameters are left out)."""
        if rng is None:
            rng = np.random.default_rng(seed)
        return self.decode(rng.random(len(self._names)))

    def decode(self, x: Any) -> Config:
        """Map a point of the unit cube (one coordinate per parameter, in ``names`` order)
        to a configuration. Coordinates of inactive parameters are ignored."""
        if len(x) != len(self._names):
            raise InvalidArgumentError(
                f"a point of the unit cube must have {len(self._names)} coordinates; got {len(x)}"
            )
        params = self._params
        if not self._conditional:
            return {
                n: params[n].from_unit(self._coordinate(n, u))
                for n, u in zip(self._names, x, strict=True)
            }
        by_name = dict(zip(self._names, x, strict=True))
        config: Config = {}
        for name in self._order:
            if self.is_active(name, config):
                config[name] = params[name].from_unit(self._coordinate(name, by_name[name]))
        return {n: config[n] for n in self._names if n in config}

    @staticmethod
    def _coordinate(name: str, u: Any) -> float:
        u = float(u)
        if math.isnan(u):
            raise InvalidArgumentError(
                f"the coordinate of active parameter '{name}' is NaN; it must be in [0, 1]"
            )
        return u

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """Map a configuration to the unit cube; inactive parameters encode as NaN."""
        self.validate(config)
        out = np.full(len(self._names), np.nan)
        for i, name in enumerate(self._names):
            if name in config:
                out[i] = self._params[name].to_unit(config[name])
        return out

    # ------------------------------------------------------------------ validation

    def validate(self, config: Mapping[str, Any]) -> Config:
        """Check a configuration against the space; return it with native Python types.

        Raises :class:`InvalidConfigError` naming the parameter at fault.
        """
        if not isinstance(config, Mapping):
            raise InvalidConfigError(f"a configuration must be a mapping; got {config!r}")
        unknown = [k for k in config if k not in self._params]
        if unknown:
            raise InvalidConfigError(
                f"unknown parameter(s) {unknown} in configuration; the space has "
                f"{list(self._names)}"
            )
        out: Config = {}
        for name in self._order:
            active = self.is_active(name, out)
            if active and name not in config:
                raise InvalidConfigError(
                    f"parameter '{name}' is missing from the configuration {dict(config)!r}"
                )
            if not active and name in config:
                raise InvalidConfigError(
                    f"parameter '{name}' is inactive in configuration {dict(config)!r} "
                    f"(it needs {self._params[name].to_dict()['when']!r}) but has a value"
                )
            if active:
                out[name] = self._params[name].coerce(name, config[name])
        return {n: out[n] for n in self._names if n in out}

    # ------------------------------------------------------------------ grid

    def grid_size(self, points: int = 5) -> int:
        """The number of configurations :meth:`grid` yields."""
        return sum(1 for _ in self.iter_grid(points))

    def iter_grid(self, points: int = 5) -> Iterator[Config]:
        """Enumerate the grid lazily: every combination of the parameters' grid values,
        conditional parameters only where active. Continuous Floats get ``points`` values
        (log-spaced on a log scale)."""
        if isinstance(points, bool) or not isinstance(points, int) or points < 1:
            raise InvalidArgumentError(f"`points` must be an integer >= 1; got {points!r}")
        values = {n: self._params[n].grid(points) for n in self._order}
        if not self._conditional:
            for combo in itertools.product(*(values[n] for n in self._names)):
                yield dict(zip(self._names, combo, strict=True))
            return

        def expand(i: int, partial: Config) -> Iterator[Config]:
            if i == len(self._order):
                yield {n: partial[n] for n in self._names if n in partial}
                return
            name = self._order[i]
            if not self.is_active(name, partial):
                yield from expand(i + 1, partial)
                return
            for v in values[name]:
                partial[name] = v
                yield from expand(i + 1, partial)
            del partial[name]

        yield from expand(0, {})

    def grid(self, points: int = 5) -> list[Config]:
        """All configurations of the grid, as a list (see :meth:`iter_grid`)."""
        return list(self.iter_grid(points))

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready description: ``{name: {"type": ..., ...}}``."""
        return {n: self._params[n].to_dict() for n in self._names}

    @classmethod
    def from_dict(cls, data: Any) -> Space:
        """Build a space from :meth:`to_dict` output; unknown keys are errors."""
        return cls(_serialize.params_from_dict(data))

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> Space:
        return cls(_serialize.params_from_dict(_serialize.load_json(text)))

    def to_yaml(self) -> str:
        return _serialize.dump_yaml(self.to_dict())

    @classmethod
    def from_yaml(cls, text: str) -> Space:
        """Parse YAML with the safe loader only."""
        return cls(_serialize.params_from_dict(_serialize.load_yaml(text)))

    @classmethod
    def from_file(cls, path: str) -> Space:
        """Load a space from a ``.json``, ``.yaml`` or ``.yml`` file."""
        return cls(_serialize.params_from_dict(_serialize.load_file(path)))

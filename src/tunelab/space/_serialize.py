"""Reading search spaces from JSON, YAML (safe loader only) and plain dicts.

Each parameter is ``{"type": "float"|"int"|"pow2"|"categorical", ...}``; a bare list is a
shorthand for a categorical. Unknown keys are errors, never ignored.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tunelab._errors import InvalidSpaceError
from tunelab.space._params import Categorical, Float, Int, Param, PowerOfTwo

__all__ = ["dump_yaml", "load_file", "load_json", "load_yaml", "params_from_dict"]

_TYPES: dict[str, tuple[type[Param], tuple[str, ...], tuple[str, ...]]] = {
    # type name: (class, required keys, optional keys)
    "float": (Float, ("low", "high"), ("log", "step", "when")),
    "int": (Int, ("low", "high"), ("log", "step", "when")),
    "pow2": (PowerOfTwo, ("low", "high"), ("when",)),
    "categorical": (Categorical, ("choices",), ("when",)),
}
_NUMERIC = ("low", "high", "step")


def _number(name: str, field: str, value: Any) -> Any:
    """Accept numbers, and numeric strings (PyYAML reads ``1e-4`` as a string)."""
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InvalidSpaceError(
                f"parameter '{name}': `{field}` must be a number; got {value!r}"
            ) from None
        return int(number) if number.is_integer() and math.isfinite(number) else number
    return value


def _param_from_dict(name: str, spec: Any) -> Param:
    if isinstance(spec, list):
        return Categorical(spec)
    if not isinstance(spec, Mapping):
        raise InvalidSpaceError(
            f"parameter '{name}' must be a mapping with a `type`, or a list of choices; "
            f"got {spec!r}"
        )
    type_name = spec.get("type")
    if not isinstance(type_name, str) or type_name not in _TYPES:
        raise InvalidSpaceError(
            f"parameter '{name}': `type` must be one of {sorted(_TYPES)}; got {type_name!r}"
        )
    cls, required, optional = _TYPES[type_name]
    allowed = {"type", *required, *optional}
    unknown = sorted(str(k) for k in spec if k not in allowed)
    if unknown:
        raise InvalidSpaceError(
            f"parameter '{name}': unknown key(s) {unknown} for type {type_name}; "
            f"allowed: {sorted(allowed)}"
        )
    missing = [k for k in required if k not in spec]
    if missing:
        raise InvalidSpaceError(
            f"parameter '{name}': missing key(s) {missing} for type {type_name}"
        )
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    for field in _NUMERIC:
        if field in kwargs:
            kwargs[field] = _number(name, field, kwargs[field])
    try:
        return cls(**kwargs)
    except (TypeError, InvalidSpaceError) as exc:  # e.g. a `when` that is not a mapping
        raise InvalidSpaceError(f"parameter '{name}': {exc}") from None


def params_from_dict(data: Any) -> dict[str, Param]:
    """Turn ``{name: spec}`` into parameters (the :class:`Space` validates them)."""
    if not isinstance(data, Mapping):
        raise InvalidSpaceError(
            f"a space must be a mapping of parameter name -> spec; got {type(data).__name__}"
        )
    return {str(name): _param_from_dict(str(name), spec) for name, spec in data.items()}


def _no_duplicates(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidSpaceError(f"key {key!r} is given twice in the space")
        out[key] = value
    return out


def load_json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise InvalidSpaceError(f"the space is not valid JSON: {exc}") from None


class _SafeLoader(yaml.SafeLoader):
    """The safe loader, with YAML 1.2 floats (``1e-4``) and duplicate keys as errors."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: list[Any] = []
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise InvalidSpaceError(
                    f"key {key!r} is given twice in the space (line {key_node.start_mark.line + 1})"
                )
            seen.append(key)
        return super().construct_mapping(node, deep=deep)


class _SafeDumper(yaml.SafeDumper):
    """The safe dumper; it quotes the strings that :class:`_SafeLoader` reads as floats."""


# PyYAML follows YAML 1.1, where a float needs a dot: `1e-4` would be the string "1e-4".
for _cls in (_SafeLoader, _SafeDumper):
    _cls.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
        list("-+0123456789."),
    )


def load_yaml(text: str) -> Any:
    try:
        loader = _SafeLoader(text)  # a SafeLoader subclass: python/* tags are errors
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise InvalidSpaceError(f"the space is not valid YAML: {exc}") from None


def dump_yaml(data: Any) -> str:
    return str(yaml.dump(data, Dumper=_SafeDumper, sort_keys=False))


def load_file(path: str | Path) -> Any:
    p = Path(path)
    if not p.is_file():
        raise InvalidSpaceError(f"space file {str(p)!r} does not exist")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        return load_json(text)
    if p.suffix.lower() in (".yaml", ".yml"):
        return load_yaml(text)
    raise InvalidSpaceError(
        f"space file {str(p)!r} must end in .json, .yaml or .yml; got {p.suffix!r}"
    )

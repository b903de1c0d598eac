"""Declarative search spaces: parameters, conditions, encoding, grids, JSON/YAML."""

from tunelab.space._params import Categorical, Float, Int, Param, PowerOfTwo, Value
from tunelab.space._space import Config, Space, config_key

__all__ = [
    "Categorical",
    "Config",
    "Float",
    "Int",
    "Param",
    "PowerOfTwo",
    "Space",
    "Value",
    "config_key",
]

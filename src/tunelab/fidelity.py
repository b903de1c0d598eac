"""Fidelity axes: map the scheduler's scalar resource to what the objective varies.

Schedulers think in one integer resource between ``min_resource`` and ``max_resource``
(epochs, boosting rounds, or abstract units). An objective may vary something else with
it — a fraction of the training data, the number of layers, the image size — or several
things at once. Each :class:`Axis` maps the resource onto one knob: ``low`` at the
minimum resource, ``high`` at the maximum, linearly or on a log scale in between.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from tunelab._errors import InvalidArgumentError

__all__ = ["Axis", "check_axes", "fidelity_at"]


@dataclass(frozen=True)
class Axis:
    """One fidelity knob: ``low`` at the minimum resource, ``high`` at the maximum.

    ``log=True`` interpolates geometrically in the resource's log (so a resource that
    doubles multiplies the knob by a constant factor); ``integer=True`` rounds.

    >>> Axis(0.1, 1.0).at(resource=5, min_resource=1, max_resource=9)
    0.55
    >>> Axis(2, 8, log=True, integer=True).at(resource=3, min_resource=1, max_resource=9)
    4
    """

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        for label, value in (("low", self.low), ("high", self.high)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value)
            ):
                raise InvalidArgumentError(
                    f"fidelity axis `{label}` must be a finite number; got {value!r}"
                )
        if self.log and (self.low <= 0 or self.high <= 0):
            raise InvalidArgumentError(
                f"a log fidelity axis needs low > 0 and high > 0; got low={self.low!r}, "
                f"high={self.high!r}"
            )

    def at(self, resource: float, min_resource: float, max_resource: float) -> float | int:
        """The knob's value at ``resource``."""
        if max_resource <= min_resource:
            t = 1.0
        elif self.log:
            t = math.log(resource / min_resource) / math.log(max_resource / min_resource)
        else:
            t = (resource - min_resource) / (max_resource - min_resource)
        t = min(max(t, 0.0), 1.0)
        if self.log:
            value = self.low * (self.high / self.low) ** t
        else:
            value = self.low + t * (self.high - self.low)
        value = round(value, 12)
        return round(value) if self.integer else value


def check_axes(axes: Mapping[str, Axis] | None) -> dict[str, Axis]:
    """Validate a ``{name: Axis}`` mapping (names are non-empty strings)."""
    if axes is None:
        return {}
    if not isinstance(axes, Mapping):
        raise InvalidArgumentError(
            f"`fidelity` must map names to tunelab.Axis; got {type(axes).__name__}"
        )
    out = {}
    for name, axis in axes.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(
                f"fidelity axis names must be non-empty strings; got {name!r}"
            )
        if not isinstance(axis, Axis):
            raise InvalidArgumentError(
                f"fidelity axis {name!r} must be a tunelab.Axis(low, high); got {axis!r}"
            )
        out[name] = axis
    return out


def fidelity_at(
    axes: Mapping[str, Axis], resource: float | None, min_resource: float, max_resource: float
) -> dict[str, float | int]:
    """Every axis's value at ``resource`` (the maximum when ``resource`` is None)."""
    r = max_resource if resource is None else resource
    return {name: axis.at(r, min_resource, max_resource) for name, axis in axes.items()}

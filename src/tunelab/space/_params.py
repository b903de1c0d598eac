"""The parameter types of a search space: Float, Int, PowerOfTwo and Categorical.

Every parameter maps its values to one coordinate of the unit interval and back
(``to_unit`` / ``from_unit``). Sampling is ``from_unit`` of a uniform number, so the
encoding *is* the prior: uniform for linear ranges, log-uniform for log ranges, uniform
over the values of discrete ones.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from tunelab._errors import InvalidConfigError, InvalidSpaceError

__all__ = ["Categorical", "Float", "Int", "Param", "PowerOfTwo", "Value"]

#: A value a parameter can take.
Value = float | int | str | bool | None

_REL_TOL = 1e-9


def _fail(kind: str, name: str, message: str) -> InvalidSpaceError:
    return InvalidSpaceError(f"{kind} '{name}': {message}")


def _is_real(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(
        x, (bool, np.bool_)
    )


def _is_integer(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _normalize_when(when: Mapping[str, Any] | None) -> dict[str, tuple[Value, ...]]:
    if when is None:
        return {}
    if not isinstance(when, Mapping):
        raise InvalidSpaceError(
            f"`when` must be a mapping of parent name to allowed value(s); got {when!r}"
        )
    out: dict[str, tuple[Value, ...]] = {}
    for parent, values in when.items():
        if isinstance(values, (list, tuple, set, frozenset)):
            out[str(parent)] = tuple(values)
        else:
            out[str(parent)] = (values,)
    return out


class Param(ABC):
    """A hyperparameter's domain. Subclasses: :class:`Float`, :class:`Int`,
    :class:`PowerOfTwo`, :class:`Categorical`.

    ``when`` makes the parameter conditional: ``{"optimizer": "sgd"}`` or
    ``{"optimizer": ["sgd", "rmsprop"]}`` — active only when every named parent is active and
    takes one of the listed values.
    """

    kind: ClassVar[str]
    type_name: ClassVar[str]
    when: dict[str, tuple[Value, ...]]

    @abstractmethod
    def check(self, name: str) -> None:
        """Raise :class:`InvalidSpaceError` if this parameter's spec is invalid."""

    @abstractmethod
    def from_unit(self, u: float) -> Value:
        """Map ``u`` in [0, 1] to a value of the domain."""

    @abstractmethod
    def to_unit(self, value: Value) -> float:
        """Map a value of the domain to [0, 1] (the centre of its bin for discrete ones)."""

    @abstractmethod
    def grid(self, points: int) -> list[Value]:
        """Values to enumerate in a grid; ``points`` is used for continuous ranges only."""

    @abstractmethod
    def contains(self, value: object) -> bool:
        """Whether ``value`` belongs to the domain."""

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """The JSON-ready description of this parameter (without ``type`` and ``when``)."""

    @property
    def is_discrete(self) -> bool:
        return True

    def sample(self, rng: np.random.Generator) -> Value:
        """Draw one value from the prior."""
        return self.from_unit(float(rng.random()))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type_name, **self.spec()}
        if self.when:
            out["when"] = {
                k: (list(v) if len(v) != 1 else v[0]) for k, v in self.when.items()
            }
        return out

    def coerce(self, name: str, value: object) -> Value:
        """Return ``value`` as this domain's Python type, or raise InvalidConfigError."""
        if not self.contains(value):
            raise InvalidConfigError(
                f"value {value!r} of parameter '{name}' is outside its domain: {self.describe()}"
            )
        return self._native(value)

    def _native(self, value: Any) -> Value:
        return value

    def describe(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.spec().items())
        return f"{self.kind}({body})"

    def __repr__(self) -> str:
        extra = f", when={self.to_dict()['when']!r}" if self.when else ""
        return self.describe()[:-1] + extra + ")"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Param) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self))


class _Range(Param):
    """Shared checks of numeric ranges."""

    low: Any
    high: Any
    log: bool

    def _check_bounds(self, name: str) -> None:
        for field in ("low", "high"):
            v = getattr(self, field)
            if not _is_real(v):
                raise _fail(self.kind, name, f"`{field}` must be a number; got {v!r}")
            if not math.isfinite(float(v)):
                raise _fail(self.kind, name, f"`{field}` must be finite; got {v!r}")
        if not self.low < self.high:
            raise _fail(
                self.kind,
                name,
                f"`low` must be < `high`; got low={self.low!r}, high={self.high!r}",
            )
        if self.log and self.low <= 0:
            raise _fail(
                self.kind, name, f"`low` must be > 0 on a log scale; got low={self.low!r}"
            )

    def _check_step(self, name: str, step: Any) -> int:
        """Check that ``step`` divides the range; return the number of values."""
        if not _is_real(step) or not math.isfinite(float(step)) or step <= 0:
            raise _fail(self.kind, name, f"`step` must be a finite number > 0; got {step!r}")
        if self.log:
            raise _fail(
                self.kind, name, f"`step` cannot be combined with log=True; got step={step!r}"
            )
        ratio = (self.high - self.low) / step
        n = round(ratio)
        if n < 1 or abs(ratio - n) > _REL_TOL * max(1.0, abs(ratio)):
            raise _fail(
                self.kind,
                name,
                f"`step` {step!r} does not divide the range [{self.low!r}, {self.high!r}] "
                f"((high - low) / step = {ratio:.6g}); change step, low or high so that it does",
            )
        return int(n) + 1


class Float(_Range):
    """A real-valued parameter in ``[low, high]``, optionally on a log scale or a step grid.

    >>> from tunelab import Float, Space
    >>> space = Space(lr=Float(1e-4, 1e-1, log=True))
    >>> 1e-4 <= space.sample(seed=0)["lr"] <= 1e-1
    True
    """

    kind = "Float"
    type_name = "float"

    def __init__(
        self,
        low: float,
        high: float,
        *,
        log: bool = False,
        step: float | None = None,
        when: Mapping[str, Any] | None = None,
    ) -> None:
        self.low = low
        self.high = high
        self.log = log
        self.step = step
        self.when = _normalize_when(when)
        self._n = 0

    def check(self, name: str) -> None:
        if not isinstance(self.log, bool):
            raise _fail(self.kind, name, f"`log` must be true or false; got {self.log!r}")
        self._check_bounds(name)
        self.low, self.high = float(self.low), float(self.high)
        if self.step is not None:
            self._n = self._check_step(name, self.step)
            self.step = float(self.step)

    @property
    def is_discrete(self) -> bool:
        return self.step is not None

    def from_unit(self, u: float) -> float:
        u = min(max(u, 0.0), 1.0)
        if self.step is not None:
            i = min(int(u * self._n), self._n - 1)
            # 15 significant digits drop float noise (0.1 * 3) without erasing tiny steps.
            return min(float(f"{self.low + i * self.step:.15g}"), self.high)
        if u <= 0.0 or u >= 1.0:  # exact bounds (exp(log(low)) may differ from low)
            return self.low if u <= 0.0 else self.high
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return min(max(math.exp(lo + u * (hi - lo)), self.low), self.high)
        # low + u * (high - low) can round past high (e.g. -0.1 + 0.3 > 0.2): clamp.
        # the convex combination, not low + u * (high - low): that overflows for huge ranges
        return min(max(self.low * (1.0 - u) + self.high * u, self.low), self.high)

    def to_unit(self, value: Value) -> float:
        v = float(value)  # type: ignore[arg-type]
        if self.step is not None:
            i = round((v - self.low) / self.step)
            return (i + 0.5) / self._n
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return (math.log(v) - lo) / (hi - lo)
        return (v / 2 - self.low / 2) / (self.high / 2 - self.low / 2)  # halves: no overflow

    def grid(self, points: int) -> list[Value]:
        if self.step is not None:
            return [self.from_unit((i + 0.5) / self._n) for i in range(self._n)]
        if points == 1:
            return [self.from_unit(0.5)]
        return [self.from_unit(i / (points - 1)) for i in range(points)]

    def contains(self, value: object) -> bool:
        if not _is_real(value):
            return False
        v = float(value)  # type: ignore[arg-type]
        if not (math.isfinite(v) and self.low <= v <= self.high):
            return False
        if self.step is not None:
            k = (v - self.low) / self.step
            return abs(k - round(k)) <= 1e-6
        return True

    def _native(self, value: Any) -> float:
        return float(value)

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out


class Int(_Range):
    """An integer parameter in ``[low, high]`` (both included), with a step or a log scale.

    >>> from tunelab import Int, Space
    >>> Space(layers=Int(1, 4)).grid()
    [{'layers': 1}, {'layers': 2}, {'layers': 3}, {'layers': 4}]
    """

    kind = "Int"
    type_name = "int"

    def __init__(
        self,
        low: int,
        high: int,
        *,
        log: bool = False,
        step: int = 1,
        when: Mapping[str, Any] | None = None,
    ) -> None:
        self.low = low
        self.high = high
        self.log = log
        self.step = step
        self.when = _normalize_when(when)
        self._n = 0

    def check(self, name: str) -> None:
        if not isinstance(self.log, bool):
            raise _fail(self.kind, name, f"`log` must be true or false; got {self.log!r}")
        for field in ("low", "high"):
            v = getattr(self, field)
            if _is_real(v) and not _is_integer(v) and not float(v).is_integer():
                raise _fail(self.kind, name, f"`{field}` must be an integer; got {v!r}")
        self._check_bounds(name)
        self.low, self.high = int(self.low), int(self.high)
        if not _is_integer(self.step) and not (
            _is_real(self.step) and float(self.step).is_integer()
        ):
            raise _fail(self.kind, name, f"`step` must be an integer >= 1; got {self.step!r}")
        if self.log and self.step != 1:
            raise _fail(
                self.kind, name, f"`step` must be 1 on a log scale; got step={self.step!r}"
            )
        if self.step == 1:
            self._n = self.high - self.low + 1
        else:
            self._n = self._check_step(name, self.step)
        self.step = int(self.step)

    def from_unit(self, u: float) -> int:
        u = min(max(u, 0.0), 1.0)
        if self.log:
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            v = round(math.exp(lo + u * (hi - lo)))
            return int(min(max(v, self.low), self.high))
        i = min(int(u * self._n), self._n - 1)
        return self.low + i * self.step

    def to_unit(self, value: Value) -> float:
        v = int(value)  # type: ignore[arg-type]
        if self.log:
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            return (math.log(v) - lo) / (hi - lo)
        return ((v - self.low) // self.step + 0.5) / self._n

    def grid(self, points: int) -> list[Value]:
        return list(range(self.low, self.high + 1, self.step))

    def contains(self, value: object) -> bool:
        return (
            _is_integer(value)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )

    def _native(self, value: Any) -> int:
        return int(value)

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step != 1:
            out["step"] = self.step
        return out


class PowerOfTwo(Param):
    """Powers of two from ``low`` to ``high`` (both powers of two), e.g. batch sizes.

    >>> from tunelab import PowerOfTwo, Space
    >>> [c["batch"] for c in Space(batch=PowerOfTwo(16, 128)).grid()]
    [16, 32, 64, 128]
    """

    kind = "PowerOfTwo"
    type_name = "pow2"

    def __init__(self, low: int, high: int, *, when: Mapping[str, Any] | None = None) -> None:
        self.low = low
        self.high = high
        self.when = _normalize_when(when)
        self._e0 = 0
        self._n = 0

    def check(self, name: str) -> None:
        for field in ("low", "high"):
            v = getattr(self, field)
            if _is_real(v) and not _is_integer(v) and float(v).is_integer():
                v = int(v)  # 16.0 (JSON, YAML `1.6e1`) is 16, as Int takes 1.0
                setattr(self, field, v)
            if not _is_integer(v) or v < 1 or (int(v) & (int(v) - 1)) != 0:
                raise _fail(
                    self.kind, name, f"`{field}` must be a power of two >= 1; got {v!r}"
                )
        if not self.low < self.high:
            raise _fail(
                self.kind,
                name,
                f"`low` must be < `high`; got low={self.low!r}, high={self.high!r}",
            )
        self.low, self.high = int(self.low), int(self.high)
        self._e0 = self.low.bit_length() - 1
        self._n = self.high.bit_length() - self.low.bit_length() + 1

    def from_unit(self, u: float) -> int:
        i = min(int(min(max(u, 0.0), 1.0) * self._n), self._n - 1)
        return 1 << (self._e0 + i)

    def to_unit(self, value: Value) -> float:
        return (int(value).bit_length() - 1 - self._e0 + 0.5) / self._n  # type: ignore[arg-type]

    def grid(self, points: int) -> list[Value]:
        return [1 << (self._e0 + i) for i in range(self._n)]

    def contains(self, value: object) -> bool:
        return (
            _is_integer(value)
            and self.low <= value <= self.high  # type: ignore[operator]
            and (int(value) & (int(value) - 1)) == 0  # type: ignore[call-overload]
        )

    def _native(self, value: Any) -> int:
        return int(value)

    def spec(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high}


def _typed(value: object) -> tuple[str, object]:
    """A key that tells ``1``, ``1.0`` and ``True`` apart (NumPy scalars count as Python's)."""
    if isinstance(value, np.generic):
        value = value.item()
    return (type(value).__name__, value)


class Categorical(Param):
    """One of a list of choices (strings, numbers, booleans or None).

    >>> from tunelab import Categorical, Space
    >>> Space(opt=Categorical(["sgd", "adam"])).grid()
    [{'opt': 'sgd'}, {'opt': 'adam'}]
    """

    kind = "Categorical"
    type_name = "categorical"

    def __init__(self, choices: Sequence[Value], *, when: Mapping[str, Any] | None = None) -> None:
        self.choices = choices
        self.when = _normalize_when(when)
        self._index: dict[tuple[str, object], int] = {}

    def check(self, name: str) -> None:
        if isinstance(self.choices, (str, bytes)) or not isinstance(self.choices, Sequence):
            raise _fail(self.kind, name, f"`choices` must be a list; got {self.choices!r}")
        if len(self.choices) == 0:
            raise _fail(self.kind, name, "`choices` must not be empty; got []")
        self._index = {}
        for i, c in enumerate(self.choices):
            if not (c is None or isinstance(c, (str, bool, int, float))):
                raise _fail(
                    self.kind,
                    name,
                    f"choice {c!r} must be a string, number, boolean or null",
                )
            if isinstance(c, float) and not math.isfinite(c):
                raise _fail(self.kind, name, f"choice {c!r} must be finite")
            key = _typed(c)
            if key in self._index:
                raise _fail(
                    self.kind, name, f"duplicate choice {c!r} in choices {list(self.choices)!r}"
                )
            self._index[key] = i
        self.choices = list(self.choices)

    def index(self, value: object) -> int:
        return self._index[_typed(value)]

    def from_unit(self, u: float) -> Value:
        n = len(self.choices)
        return self.choices[min(int(min(max(u, 0.0), 1.0) * n), n - 1)]

    def to_unit(self, value: Value) -> float:
        return (self.index(value) + 0.5) / len(self.choices)

    def grid(self, points: int) -> list[Value]:
        return list(self.choices)

    def contains(self, value: object) -> bool:
        try:
            return _typed(value) in self._index
        except TypeError:  # unhashable
            return False

    def _native(self, value: Any) -> Value:
        return self.choices[self.index(value)]  # the declared choice, not e.g. np.str_

    def spec(self) -> dict[str, Any]:
        return {"choices": list(self.choices)}

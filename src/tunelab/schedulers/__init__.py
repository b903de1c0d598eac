"""Schedulers decide HOW LONG a trial runs (CONTINUE, PAUSE or STOP at each report) and
what a free worker does next (start a new trial, or resume a paused one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab._errors import InvalidArgumentError
from tunelab.schedulers._base import Grant, RungInfo, Scheduler
from tunelab.schedulers._rungs import BracketPlan, hyperband_plan, ladder, successive_halving_plan
from tunelab.schedulers.asha import ASHA, AsyncHyperband
from tunelab.schedulers.fifo import FIFOScheduler
from tunelab.schedulers.median import MedianStopping
from tunelab.schedulers.successive_halving import Hyperband, SuccessiveHalving
from tunelab.trial import Decision

__all__ = [
    "ASHA",
    "SCHEDULERS",
    "AsyncHyperband",
    "BracketPlan",
    "Decision",
    "FIFOScheduler",
    "Grant",
    "Hyperband",
    "MedianStopping",
    "RungInfo",
    "Scheduler",
    "SuccessiveHalving",
    "hyperband_plan",
    "ladder",
    "make_scheduler",
    "successive_halving_plan",
]

#: Registered schedulers by name (every one passes tests/test_conformance.py).
SCHEDULERS: dict[str, type[Scheduler]] = {
    cls.name: cls
    for cls in (FIFOScheduler, MedianStopping, SuccessiveHalving, Hyperband, ASHA, AsyncHyperband)
}


def make_scheduler(spec: Scheduler | str | Mapping[str, Any] | None) -> Scheduler:
    """A scheduler from an instance, a registered name, or a stored spec
    (``{"name": "asha", "max_resource": 27, ...}``); None gives FIFO."""
    if spec is None:
        return FIFOScheduler()
    if isinstance(spec, Scheduler):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
        raise InvalidArgumentError(
            f"`scheduler` must be a Scheduler, one of {sorted(SCHEDULERS)}, or a spec dict "
            f"with a 'name'; got {spec!r}"
        )
    params = {k: v for k, v in spec.items() if k != "name"}
    try:
        cls = SCHEDULERS[spec["name"]]
    except KeyError:
        raise InvalidArgumentError(
            f"unknown scheduler {spec['name']!r}; known: {sorted(SCHEDULERS)}"
        ) from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise InvalidArgumentError(
            f"bad parameters for scheduler {spec['name']!r}: {exc}"
        ) from None

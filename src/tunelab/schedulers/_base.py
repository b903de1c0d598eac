"""The scheduler interface: decide HOW LONG a trial runs, and what a free worker does next."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from tunelab._errors import InvalidArgumentError
from tunelab.trial import Decision, Report, Trial

__all__ = ["Grant", "RungInfo", "Scheduler", "check_resources"]


@dataclass(frozen=True)
class Grant:
    """What a free worker runs next: a new trial (``trial`` is None) or the paused trial
    number ``trial``, until ``resource`` (None: no limit). ``bracket`` is recorded with
    the trial so rung bookkeeping can be rebuilt from the store."""

    resource: int | None
    trial: int | None = None
    bracket: int = 0


@dataclass(frozen=True)
class RungInfo:
    """One rung of a bracket: its resource and the planned number of configurations
    (None when the scheduler plans none, as in ASHA)."""

    bracket: int
    resource: int
    planned: int | None = None


class Scheduler(ABC):
    """Watches reports and answers CONTINUE, PAUSE or STOP; hands out work to free workers.

    Like searchers, schedulers never write to the store: the study tells them what
    happened (:meth:`on_start`, :meth:`on_report`, :meth:`on_finish`) and their state can
    be rebuilt from the trial history (:meth:`restore`). A report's ``step`` is the
    resource consumed so far (epochs, boosting rounds...), counted from 1.
    """

    name: ClassVar[str]
    #: Whether :meth:`restore` needs the trials' per-step reports.
    needs_history: ClassVar[bool] = False
    #: The resource range; None for schedulers that don't plan in resource.
    min_resource: int | None = None
    max_resource: int | None = None

    metric: str = "value"
    direction: str = "min"

    def setup(self, metric: str, direction: str) -> None:
        """Tell the scheduler which metric to judge and in which direction."""
        self.metric, self.direction = metric, direction

    def score(self, value: float) -> float:
        """``value`` turned so that lower is better."""
        return value if self.direction == "min" else -value

    def restore(self, trials: Sequence[Trial]) -> None:  # noqa: B027 - optional hook
        """Rebuild the bookkeeping from the study's trials (with reports), oldest first."""

    def next_grant(self, *, can_start: bool, resume: bool = True) -> Grant | None:
        """What a free worker should run: a resume (unless ``resume`` is False), or, when
        ``can_start``, a new trial. None: nothing to run now. The default starts new
        trials up to ``max_resource``."""
        return Grant(self.max_resource) if can_start else None

    def on_start(self, trial: Trial, grant: Grant) -> None:  # noqa: B027 - optional hook
        """A trial started (or resumed) under ``grant``."""

    @abstractmethod
    def on_report(self, trial: Trial, report: Report) -> Decision:
        """Decide what the reporting trial does next."""

    def on_finish(self, trial: Trial) -> None:  # noqa: B027 - optional hook
        """Called when a trial ends a run: finished (any final status) or PAUSED."""

    def drop_paused(self) -> list[int]:
        """Numbers of paused trials that will never be resumed (the study stops them)."""
        return []

    def rungs(self) -> list[RungInfo]:
        """The rungs this scheduler plans (for budget accounting and the rung view)."""
        return []

    def bracket_of(self, trial: Trial) -> int:
        """The bracket recorded with a trial (0 when none was)."""
        bracket = trial.system_attrs.get("bracket", 0)
        return bracket if isinstance(bracket, int) and not isinstance(bracket, bool) else 0

    def owns(self, trial: Trial) -> bool:
        """Whether ``trial`` ran under a scheduler of this kind (its bracket and grant
        mean something here); trials from before a scheduler change do not."""
        recorded = trial.system_attrs.get("scheduler")
        return recorded is None or recorded == self.name

    def spec(self) -> dict[str, Any]:
        return {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "name")
        return f"{type(self).__name__}({args})"


def check_resources(min_resource: object, max_resource: object) -> tuple[int, int]:
    """Both integers >= 1 with ``min_resource <= max_resource``."""
    for label, value in (("min_resource", min_resource), ("max_resource", max_resource)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgumentError(
                f"`{label}` must be an integer >= 1 (a number of steps: epochs, rounds...); "
                f"got {value!r}"
            )
    assert isinstance(min_resource, int) and isinstance(max_resource, int)
    if min_resource > max_resource:
        raise InvalidArgumentError(
            f"`min_resource` ({min_resource}) must be <= `max_resource` ({max_resource})"
        )
    return min_resource, max_resource


def check_eta(eta: object) -> float:
    """The reduction factor: a number > 1 (commonly 2, 3 or 4)."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not (
        math.isfinite(eta) and eta > 1
    ):
        raise InvalidArgumentError(f"`eta` must be a number > 1 (often 3); got {eta!r}")
    return float(eta)

"""The scheduler interface: decide HOW LONG a trial runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from tunelab.trial import Decision, Report, Trial

__all__ = ["Scheduler"]


class Scheduler(ABC):
    """Watches reports and answers CONTINUE, PAUSE or STOP.

    Like searchers, schedulers never write to the store; their state follows from the
    trial history.
    """

    name: ClassVar[str]

    @abstractmethod
    def on_report(self, trial: Trial, report: Report) -> Decision:
        """Decide what the reporting trial does next."""

    def on_finish(self, trial: Trial) -> None:  # noqa: B027 - optional hook
        """Called once when a trial finishes (any final status)."""

    def spec(self) -> dict[str, Any]:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

"""FIFO: no early stopping; every trial runs to the end."""

from __future__ import annotations

from tunelab.schedulers._base import Scheduler, check_resources
from tunelab.trial import Decision, Report, Trial

__all__ = ["FIFOScheduler"]


class FIFOScheduler(Scheduler):
    """Lets every trial run to completion (to ``max_resource`` steps, when given).

    >>> from tunelab import FIFOScheduler
    >>> FIFOScheduler().on_report(None, None)
    <Decision.CONTINUE: 'CONTINUE'>
    """

    name = "fifo"

    def __init__(self, max_resource: int | None = None) -> None:
        if max_resource is not None:
            check_resources(1, max_resource)
            self.min_resource = 1
        self.max_resource = max_resource

    def on_report(self, trial: Trial, report: Report) -> Decision:
        if self.max_resource is not None and report.step >= self.max_resource:
            return Decision.STOP  # the maximum resource: done (the study marks it COMPLETE)
        return Decision.CONTINUE

    def spec(self) -> dict[str, object]:
        return {"name": self.name} if self.max_resource is None else {
            "name": self.name, "max_resource": self.max_resource}

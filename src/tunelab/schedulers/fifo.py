"""FIFO: no early stopping; every trial runs to the end."""

from __future__ import annotations

from tunelab.schedulers._base import Scheduler
from tunelab.trial import Decision, Report, Trial

__all__ = ["FIFOScheduler"]


class FIFOScheduler(Scheduler):
    """Lets every trial run to completion.

    >>> from tunelab import FIFOScheduler
    >>> FIFOScheduler().on_report(None, None)
    <Decision.CONTINUE: 'CONTINUE'>
    """

    name = "fifo"

    def on_report(self, trial: Trial, report: Report) -> Decision:
        return Decision.CONTINUE

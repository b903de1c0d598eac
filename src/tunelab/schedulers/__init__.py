"""Schedulers decide HOW LONG a trial runs: CONTINUE, PAUSE or STOP at each report."""

from tunelab.schedulers._base import Scheduler
from tunelab.schedulers.fifo import FIFOScheduler
from tunelab.trial import Decision

__all__ = ["Decision", "FIFOScheduler", "Scheduler"]

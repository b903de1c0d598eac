"""Schedulers decide HOW LONG a trial runs: CONTINUE, PAUSE or STOP at each report."""

from tunelab.schedulers._base import Scheduler
from tunelab.schedulers.fifo import FIFOScheduler
from tunelab.trial import Decision

__all__ = ["SCHEDULERS", "Decision", "FIFOScheduler", "Scheduler"]

#: Registered schedulers by name (every one passes tests/test_conformance.py).
SCHEDULERS: dict[str, type[Scheduler]] = {cls.name: cls for cls in (FIFOScheduler,)}

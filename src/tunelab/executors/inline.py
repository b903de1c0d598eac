"""Run trials one at a time in the driver's own process."""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType

from tunelab._errors import InvalidArgumentError
from tunelab.executors._base import (
    Executor,
    Job,
    Objective,
    OnReport,
    Outcome,
    check_trial_timeout,
    run_objective,
)
from tunelab.trial import TrialStatus

__all__ = ["InlineExecutor"]


class _TrialTimeout(BaseException):
    """Raised by SIGALRM inside a trial that ran out of time (BaseException on purpose:
    an objective's ``except Exception`` must not swallow it)."""


class InlineExecutor(Executor):
    """Calls the objective directly: no process start-up, the lowest overhead.

    A per-trial timeout uses SIGALRM, so it needs the main thread of a POSIX process; a
    trial that must be killed from outside (C code that ignores signals) needs
    :class:`ProcessExecutor`.

    >>> from tunelab.executors import InlineExecutor, Job
    >>> ex = InlineExecutor()
    >>> ex.start(lambda config: config["x"] * 2, on_report=None)
    >>> ex.submit(Job(trial_id=1, number=0, config={"x": 2.0}, seed=0, metric="value"))
    >>> ex.wait(None)[0].metrics
    {'value': 4.0}
    """

    blocks_driver = True

    def __init__(self, trial_timeout: float | None = None) -> None:
        trial_timeout = check_trial_timeout(trial_timeout)
        if trial_timeout is not None and (
            not hasattr(signal, "SIGALRM")
            or threading.current_thread() is not threading.main_thread()
        ):
            raise InvalidArgumentError(
                "`trial_timeout` with workers=1 needs SIGALRM in the main thread; "
                "use executor='process' instead"
            )
        self.trial_timeout = trial_timeout
        self._job: Job | None = None
        self._objective: Objective | None = None
        self._on_report: OnReport | None = None

    @property
    def slots(self) -> int:
        return 1

    @property
    def running(self) -> int:
        return 0 if self._job is None else 1

    def start(self, objective: Objective, on_report: OnReport) -> None:
        self._objective, self._on_report = objective, on_report

    def submit(self, job: Job) -> None:
        self._job = job

    def _reporter(self, job: Job):  # type: ignore[no-untyped-def]
        on_report = self._on_report
        trial_id = job.trial_id

        def report(step: int, metrics: dict[str, float]):  # type: ignore[no-untyped-def]
            return on_report(trial_id, step, metrics)  # type: ignore[misc]

        return report

    def wait(self, timeout: float | None) -> list[Outcome]:
        job, self._job = self._job, None
        if job is None:
            return []
        assert self._objective is not None
        reporter = self._reporter(job)
        if self.trial_timeout is None:
            return [run_objective(self._objective, job, reporter)]

        def on_alarm(signum: int, frame: FrameType | None) -> None:
            raise _TrialTimeout()

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.trial_timeout)
        started = time.monotonic()
        try:
            return [run_objective(self._objective, job, reporter)]
        except _TrialTimeout:
            return [
                Outcome(
                    job.trial_id,
                    TrialStatus.FAILED,
                    error=f"trial timed out after {time.monotonic() - started:.1f} s "
                    f"(trial_timeout={self.trial_timeout} s)",
                )
            ]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def close(self) -> None:
        self._job = None

"""The executor interface: WHERE trials run (inline, local processes, later Ray)."""

from __future__ import annotations

import math
import os
import traceback as tb_module
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tunelab._errors import InvalidArgumentError, TrialError
from tunelab.executors._output import capture_output
from tunelab.space import Config
from tunelab.trial import Decision, TrialHandle, TrialStatus, final_metrics

__all__ = [
    "Executor",
    "Job",
    "Objective",
    "OnReport",
    "Outcome",
    "check_trial_timeout",
    "run_objective",
]


def check_trial_timeout(value: object) -> float | None:
    """``trial_timeout`` must be None or a finite number of seconds > 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0
    ):
        raise InvalidArgumentError(
            f"`trial_timeout` must be a finite number of seconds > 0; got {value!r}"
        )
    return float(value)

#: ``objective(config_or_trial_handle) -> number | dict | None``
Objective = Callable[[TrialHandle], Any]
#: The driver's callback for a report: ``(trial_id, step, metrics) -> Decision``.
OnReport = Callable[[int, int, dict[str, float]], Decision]


@dataclass(frozen=True)
class Job:
    """One trial to run: plain data, so it crosses process boundaries."""

    trial_id: int
    number: int
    config: Config
    seed: int
    metric: str
    study_name: str = ""
    #: The resource granted to this run (see :attr:`TrialHandle.resource`).
    resource: int | None = None
    fidelity: dict[str, float | int] = field(default_factory=dict)
    trial_dir: str | None = None
    keep_checkpoints: int = 1
    #: The last step this trial reported before this run (0 for a fresh start).
    resume_step: int = 0

    def handle(self, reporter: Callable[[int, dict[str, float]], Decision] | None) -> TrialHandle:
        """The handle the objective receives for this job."""
        return TrialHandle(
            self.config,
            number=self.number,
            seed=self.seed,
            reporter=reporter,
            study_name=self.study_name,
            resource=self.resource,
            fidelity=self.fidelity,
            trial_dir=self.trial_dir,
            keep_checkpoints=self.keep_checkpoints,
            last_step=self.resume_step,
        )


@dataclass(frozen=True)
class Outcome:
    """How a trial ended, as seen by the worker that ran it."""

    trial_id: int
    status: TrialStatus
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    #: The step of the checkpoint the run resumed from (0: it started from scratch; None:
    #: unknown, as when the worker died).
    resumed_from: int | None = None
    #: True when the run was lost rather than failed: the process, actor or node that ran
    #: it died (``kill -9``, out of memory, a node gone). The study retries such a trial
    #: from its latest checkpoint, up to a limit; a failure of the objective is final.
    lost: bool = False


def run_objective(
    objective: Objective, job: Job, reporter: Callable[[int, dict[str, float]], Decision]
) -> Outcome:
    """Call the objective for ``job`` and turn whatever happens into an :class:`Outcome`.

    Exceptions and bad return values fail the trial with the reason; nothing escapes.
    What the objective prints and logs is copied into its trial folder (stdout.log,
    stderr.log, log.txt), with the traceback of a failure.
    """
    with capture_output(job.trial_dir) as (_, stderr):
        outcome = _call(objective, job, reporter)
        if outcome.traceback:
            stderr.write(outcome.traceback)
    return outcome


def _call(
    objective: Objective, job: Job, reporter: Callable[[int, dict[str, float]], Decision]
) -> Outcome:
    handle = job.handle(reporter)
    pid = os.getpid()
    try:
        try:
            result = objective(handle)
        finally:
            if os.getpid() != pid:  # the objective forked and this is the child: vanish
                os._exit(0)
        metrics = final_metrics(result, handle.last_metrics, job.metric)
    except SystemExit as exc:  # sys.exit() or argparse inside the objective
        return Outcome(job.trial_id, TrialStatus.FAILED, handle.last_metrics,
                       f"the objective called sys.exit({exc.code!r})", tb_module.format_exc(),
                       handle.resumed_from)
    except TrialError as exc:
        return Outcome(job.trial_id, TrialStatus.FAILED, handle.last_metrics, str(exc),
                       tb_module.format_exc(), handle.resumed_from)
    except Exception as exc:
        return Outcome(
            job.trial_id,
            TrialStatus.FAILED,
            handle.last_metrics,
            f"{type(exc).__name__}: {exc}",
            tb_module.format_exc(),
            handle.resumed_from,
        )
    status = {
        Decision.CONTINUE: TrialStatus.COMPLETE,
        Decision.STOP: TrialStatus.STOPPED,
        Decision.PAUSE: TrialStatus.PAUSED,
    }[handle.decision]
    return Outcome(job.trial_id, status, metrics, resumed_from=handle.resumed_from)


class Executor(ABC):
    """Runs jobs and hands back outcomes; reports flow to the driver through ``on_report``."""

    @property
    @abstractmethod
    def slots(self) -> int:
        """How many trials can run at once."""

    @property
    @abstractmethod
    def running(self) -> int:
        """How many trials are running now."""

    #: True when :meth:`wait` runs trials on the driver's own thread (the driver cannot
    #: send heartbeats meanwhile, so the study keeps them going from a thread).
    blocks_driver = False

    def can_start(self) -> bool:
        """Whether a new trial may start now (a free slot, budget left)."""
        return self.running < self.slots

    @abstractmethod
    def start(self, objective: Objective, on_report: OnReport) -> None:
        """Prepare to run ``objective`` (start workers)."""

    @abstractmethod
    def submit(self, job: Job) -> None:
        """Start ``job``; only called when ``running < slots``."""

    @abstractmethod
    def wait(self, timeout: float | None) -> list[Outcome]:
        """Block until at least one job ends or ``timeout`` seconds pass."""

    @abstractmethod
    def close(self) -> None:
        """Stop every worker; jobs still running are abandoned (the driver handles them)."""

"""Run trials in local worker processes.

Each worker is a child process that receives jobs over a pipe and sends back reports (and
waits for the driver's decision) and one outcome per job. The driver watches every
worker's pipe and process sentinel at once, so a worker that crashes or is killed
(``kill -9``) fails its trial with the exit reason, and a trial past its deadline is
killed. A fresh worker replaces any that died. Workers never touch the store.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from tunelab._errors import InvalidArgumentError
from tunelab._proc import die_with_parent
from tunelab.executors._base import (
    Executor,
    Job,
    Objective,
    OnReport,
    Outcome,
    check_trial_timeout,
    run_objective,
)
from tunelab.trial import Decision, TrialStatus

__all__ = ["ProcessExecutor"]


_HELD = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _signals_held() -> Any:
    """Hold Ctrl-C and SIGTERM while a worker is forked: Python would run their handlers
    inside the fork hooks (the logging module's lock release), where the
    KeyboardInterrupt they raise is swallowed, and the driver would go on waiting. Held
    signals arrive right after, in ordinary code."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _worker_main(conn: Connection, objective: Objective) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    if hasattr(signal, "pthread_sigmask"):  # the mask held while forking is inherited
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    die_with_parent()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return

        def reporter(step: int, metrics: dict[str, float], _id: int = job.trial_id) -> Decision:
            conn.send(("report", _id, step, metrics))
            return Decision(conn.recv())

        outcome = run_objective(objective, job, reporter)
        try:
            conn.send(("done", outcome))
        except (BrokenPipeError, OSError):
            return


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "the worker process vanished"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker process was killed by {name} (exit code {code})"
    return f"the worker process exited with code {code}"


@dataclass
class _Worker:
    process: Any
    conn: Connection
    job: Job | None = None
    started: float = 0.0


class ProcessExecutor(Executor):
    """Runs up to ``workers`` trials at once, each in its own process.

    Objectives need not be picklable on Linux (workers are forked); with the ``spawn``
    start method they must be importable functions.

    >>> from tunelab import Float, Space, Study
    >>> study = Study("doc-procs", Space(x=Float(0, 1)), store="memory")
    >>> study.optimize(lambda c: c["x"], n_trials=4, workers=2)
    >>> len(study.trials)
    4
    """

    def __init__(
        self,
        workers: int,
        *,
        trial_timeout: float | None = None,
        start_method: str | None = None,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidArgumentError(f"`workers` must be an integer >= 1; got {workers!r}")
        trial_timeout = check_trial_timeout(trial_timeout)
        if start_method is None:
            start_method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self._ctx = multiprocessing.get_context(start_method)
        self._n = workers
        self.trial_timeout = trial_timeout
        self._workers: list[_Worker] = []
        self._objective: Objective | None = None
        self._on_report: OnReport | None = None

    @property
    def slots(self) -> int:
        return self._n

    @property
    def running(self) -> int:
        return sum(1 for w in self._workers if w.job is not None)

    def start(self, objective: Objective, on_report: OnReport) -> None:
        self._objective, self._on_report = objective, on_report

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(child, self._objective), daemon=True
        )
        with _signals_held():
            process.start()
        child.close()
        worker = _Worker(process, parent)
        self._workers.append(worker)
        return worker

    def submit(self, job: Job) -> None:
        worker = next((w for w in self._workers if w.job is None), None) or self._spawn()
        worker.job, worker.started = job, time.monotonic()
        # A dead worker can't take the job; wait() sees its sentinel and fails the job.
        with contextlib.suppress(BrokenPipeError, OSError):
            worker.conn.send(job)

    def _retire(self, worker: _Worker, kill: bool = False) -> None:
        if kill and worker.process.is_alive():
            with contextlib.suppress(Exception):
                os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.join(timeout=5)
        worker.conn.close()
        self._workers.remove(worker)

    def _handle_message(self, worker: _Worker, outcomes: list[Outcome]) -> None:
        message = worker.conn.recv()
        if message[0] == "report":
            _, trial_id, step, metrics = message
            assert self._on_report is not None
            decision = self._on_report(trial_id, step, metrics)
            with contextlib.suppress(BrokenPipeError, OSError):
                worker.conn.send(decision.value)
        elif message[0] == "done":
            outcomes.append(message[1])
            worker.job = None

    def _collect(self, ready: list[Any], outcomes: list[Outcome]) -> None:
        for worker in list(self._workers):
            if worker.conn in ready:
                try:
                    while worker.conn.poll():
                        self._handle_message(worker, outcomes)
                except (EOFError, OSError):
                    pass  # the sentinel tells how it died
            if worker.process.sentinel in ready or not worker.process.is_alive():
                worker.process.join(timeout=1)
                if worker.job is not None:
                    outcomes.append(
                        Outcome(
                            worker.job.trial_id,
                            TrialStatus.FAILED,
                            error=f"{_exit_reason(worker.process.exitcode)} while running "
                            f"trial {worker.job.number}",
                            lost=True,
                        )
                    )
                    worker.job = None
                self._retire(worker)

    def _enforce_deadlines(self, outcomes: list[Outcome]) -> None:
        if self.trial_timeout is None:
            return
        now = time.monotonic()
        for worker in list(self._workers):
            if worker.job is not None and now - worker.started >= self.trial_timeout:
                outcomes.append(
                    Outcome(
                        worker.job.trial_id,
                        TrialStatus.FAILED,
                        error=f"trial timed out after {now - worker.started:.1f} s "
                        f"(trial_timeout={self.trial_timeout} s); its worker was killed",
                    )
                )
                worker.job = None
                self._retire(worker, kill=True)

    def wait(self, timeout: float | None) -> list[Outcome]:
        end = None if timeout is None else time.monotonic() + timeout
        outcomes: list[Outcome] = []
        while not outcomes:
            busy = [w for w in self._workers if w.job is not None]
            if not busy:
                return outcomes
            waits = [end] if end is not None else []
            if self.trial_timeout is not None:
                waits += [w.started + self.trial_timeout for w in busy]
            remaining = None if not waits else max(0.0, min(waits) - time.monotonic())
            handles: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
            ready = wait(handles, timeout=remaining)
            self._collect(list(ready), outcomes)
            self._enforce_deadlines(outcomes)
            if end is not None and time.monotonic() >= end:
                break
        return outcomes

    def close(self) -> None:
        for worker in list(self._workers):
            if worker.job is None:
                with contextlib.suppress(Exception):
                    worker.conn.send(None)
            self._retire(worker, kill=worker.job is not None)

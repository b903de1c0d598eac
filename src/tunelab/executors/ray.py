"""Run trials as Ray tasks, on one machine or a Ray cluster (the ``tunelab[ray]`` extra).

Each trial is one Ray task that reserves ``num_cpus`` / ``num_gpus`` (and any custom
``resources``) for its run. Reports stream back through one small actor, the *hub*,
pinned to the driver's node: a trial's ``report()`` hands the hub its metrics and waits
for the decision; the driver collects every pending report in one call, asks the
scheduler, and sends the decisions back with its next call. So every scheduler works,
ASHA's pause and resume included.

Faults: Ray does not retry tasks (``max_retries=0``); when the worker process or the
node that ran a trial dies, the trial's outcome is *lost* and the study runs it again
from its latest checkpoint (see :mod:`tunelab.study._sync`), up to its attempt limit.

Checkpoints are files in the trial's folder (``Job.trial_dir``, a path on the driver's
machine). On one machine every Ray node sees it. On a real cluster the study's artifact
folder must be a shared file system mounted at the same path on every node (NFS, a
cluster file system; ``artifacts=`` on the Study or ``$TUNELAB_ARTIFACTS``); without one,
trials still run but a resumed or retried trial finds no checkpoint and starts over.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import time
from dataclasses import dataclass
from typing import Any

from tunelab._errors import InvalidArgumentError, MissingExtraError
from tunelab._log import logger
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

try:
    ray: Any = importlib.import_module("ray")
except ImportError as exc:  # pragma: no cover - exercised in a process without ray
    raise MissingExtraError(
        "the Ray executor needs the 'ray' package, which is not installed; install it "
        "with: pip install 'tunelab[ray]'"
    ) from exc

__all__ = ["RayExecutor"]

_POLL = 0.05  # seconds the hub holds a poll open when no report is waiting


class _Hub:
    """The actor between running trials and the driver: holds each report until the
    driver's decision for it arrives."""

    def __init__(self) -> None:
        import asyncio

        self._asyncio = asyncio
        self._events: list[tuple[int, int, int, dict[str, float]]] = []
        self._waiting: dict[int, Any] = {}
        self._next = 0
        self._new = asyncio.Event()

    async def report(self, trial_id: int, step: int, metrics: dict[str, float]) -> str:
        key = self._next
        self._next += 1
        future = self._asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        self._events.append((key, trial_id, step, metrics))
        self._new.set()
        return str(await future)

    async def exchange(
        self, decisions: list[tuple[int, str]], timeout: float
    ) -> list[tuple[int, int, int, dict[str, float]]]:
        """Deliver ``decisions``; return the reports waiting (after at most ``timeout``
        seconds when there are none)."""
        for key, value in decisions:
            future = self._waiting.pop(key, None)
            if future is not None and not future.done():
                future.set_result(value)
        if not self._events and timeout > 0:
            self._new.clear()
            with contextlib.suppress(self._asyncio.TimeoutError):
                await self._asyncio.wait_for(self._new.wait(), timeout)
        events, self._events = self._events, []
        return events


def _run_trial(objective: Objective, job: Job, hub: Any) -> Outcome:
    """The body of one trial's Ray task."""

    def reporter(step: int, metrics: dict[str, float]) -> Decision:
        return Decision(ray.get(hub.report.remote(job.trial_id, step, metrics)))

    return run_objective(objective, job, reporter)


@dataclass
class _Running:
    job: Job
    ref: Any
    started: float


def _lost(exc: BaseException) -> bool:
    """Whether a Ray error means the run was lost (its process or node died) rather than
    failed by the objective (which run_objective already turns into an Outcome)."""
    lost_types = tuple(
        getattr(ray.exceptions, name)
        for name in ("WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError",
                     "OutOfMemoryError", "ObjectLostError", "OwnerDiedError",
                     "RaySystemError")
        if hasattr(ray.exceptions, name)
    )
    return isinstance(exc, lost_types)


def _by_value(objective: Objective) -> None:
    """Ship the objective's module by value when Ray workers may not import it (a
    script, a test module, a file loaded by path): they run with other working dirs."""
    name = getattr(objective, "__module__", None)
    if not isinstance(name, str) or name in ("__main__", "builtins") or (
        name.startswith("tunelab.")
    ):
        return
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None) or ""
    if module is None:
        return
    if "site-packages" in path or "dist-packages" in path:
        return
    # Only the user's own code goes this way, to the user's own Ray workers (Ray's model
    # for shipping functions); nothing read from the store, the network or a config file.
    with contextlib.suppress(Exception):
        ray.cloudpickle.register_pickle_by_value(module)


class RayExecutor(Executor):
    """Runs up to ``workers`` trials at once as Ray tasks, each reserving ``num_cpus``
    CPUs and ``num_gpus`` GPUs (plus ``resources``, e.g. ``{"accelerator_type:A100":
    0.01}``). ``address=None`` starts a local Ray for the study (shut down at the end);
    ``"auto"`` or ``"HOST:PORT"`` joins a running cluster. When Ray is already
    initialised in this process, it is used as it is.

    >>> from tunelab import Float, Space, Study
    >>> from tunelab.executors.ray import RayExecutor
    >>> study = Study("ray-doc", Space(x=Float(0, 1)), store="memory")
    >>> executor = RayExecutor(2, num_cpus=1, init_kwargs={"num_cpus": 2})
    >>> study.optimize(lambda c: c["x"], n_trials=8, executor=executor)
    >>> len(study.trials), ray.is_initialized()  # the local Ray it started is shut down
    (8, False)
    """

    def __init__(
        self,
        workers: int = 1,
        *,
        address: str | None = None,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        resources: dict[str, float] | None = None,
        trial_timeout: float | None = None,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidArgumentError(f"`workers` must be an integer >= 1; got {workers!r}")
        for label, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InvalidArgumentError(f"`{label}` must be a number >= 0; got {value!r}")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise InvalidArgumentError(
                f"`address` must be None (start a local Ray), 'auto' or 'HOST:PORT'; "
                f"got {address!r}"
            )
        self._n = workers
        self.address = address
        self.num_cpus, self.num_gpus = float(num_cpus), float(num_gpus)
        self.resources = dict(resources or {})
        self.trial_timeout = check_trial_timeout(trial_timeout)
        self._init_kwargs = dict(init_kwargs or {})
        self._running: dict[Any, _Running] = {}
        self._decisions: list[tuple[int, str]] = []
        self._poll: Any = None
        self._hub: Any = None
        self._objective_ref: Any = None
        self._task: Any = None
        self._on_report: OnReport | None = None
        self._owns_ray = False

    @property
    def slots(self) -> int:
        return self._n

    @property
    def running(self) -> int:
        return len(self._running)

    def start(self, objective: Objective, on_report: OnReport) -> None:
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": True,
                      "configure_logging": False, **self._init_kwargs}
            ray.init(address=self.address or "local", **kwargs)
            self._owns_ray = True
        self._on_report = on_report
        _by_value(objective)
        here = ray.get_runtime_context().get_node_id()
        pin = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(here, soft=False)
        hub_class = ray.remote(num_cpus=0, max_concurrency=10_000)(_Hub)
        self._hub = hub_class.options(scheduling_strategy=pin).remote()
        self._objective_ref = ray.put(objective)
        self._task = ray.remote(_run_trial).options(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, resources=self.resources,
            max_retries=0,
        )

    def submit(self, job: Job) -> None:
        ref = self._task.remote(self._objective_ref, job, self._hub)
        self._running[ref] = _Running(job, ref, time.monotonic())

    def _exchange(self, reports: list[tuple[int, int, int, dict[str, float]]]) -> None:
        assert self._on_report is not None
        for key, trial_id, step, metrics in reports:
            decision = self._on_report(trial_id, step, metrics)
            self._decisions.append((key, decision.value))

    def _finished(self, ref: Any) -> Outcome:
        run = self._running.pop(ref)
        try:
            outcome: Outcome = ray.get(ref)
            return outcome
        except Exception as exc:
            lost = _lost(exc)
            where = "its Ray worker or node died" if lost else "the Ray task failed"
            return Outcome(run.job.trial_id, TrialStatus.FAILED,
                           error=f"{where} while running trial {run.job.number}: "
                           f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                           lost=lost)

    def _enforce_deadlines(self, outcomes: list[Outcome]) -> None:
        if self.trial_timeout is None:
            return
        now = time.monotonic()
        for ref, run in list(self._running.items()):
            if now - run.started >= self.trial_timeout:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
                self._running.pop(ref)
                outcomes.append(Outcome(
                    run.job.trial_id, TrialStatus.FAILED,
                    error=f"trial timed out after {now - run.started:.1f} s "
                    f"(trial_timeout={self.trial_timeout} s); its Ray task was cancelled"))

    def wait(self, timeout: float | None) -> list[Outcome]:
        end = None if timeout is None else time.monotonic() + timeout
        outcomes: list[Outcome] = []
        while self._running and not outcomes:
            if self._poll is None:
                self._poll = self._hub.exchange.remote(self._decisions, _POLL)
                self._decisions = []
            refs = [self._poll, *self._running]
            left = None if end is None else max(0.0, end - time.monotonic())
            ready, _ = ray.wait(refs, num_returns=1, timeout=left)
            for ref in ready:
                if ref is self._poll:
                    self._poll = None
                    self._exchange(ray.get(ref))
            # Every finished task, not only the first: a burst of short trials ends together.
            done, _ = ray.wait(list(self._running), num_returns=len(self._running), timeout=0)
            outcomes.extend(self._finished(ref) for ref in done)
            self._enforce_deadlines(outcomes)
            if end is not None and time.monotonic() >= end:
                break
        if self._decisions and self._poll is None:  # deliver them now, not at the next wait
            self._poll = self._hub.exchange.remote(self._decisions, 0.0)
            self._decisions = []
        return outcomes

    def close(self) -> None:
        for ref in list(self._running):
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self._running.clear()
        if self._hub is not None:
            with contextlib.suppress(Exception):
                ray.kill(self._hub)
            self._hub = None
        self._poll = None
        if self._owns_ray:
            with contextlib.suppress(Exception):
                ray.shutdown()
            self._owns_ray = False
            logger.debug("local Ray shut down")

"""A study: a space, a searcher, a scheduler and a store, composed into a tuning run."""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import traceback as tb_module
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tunelab._errors import (
    InvalidArgumentError,
    SearchExhausted,
    StudyMismatchError,
    StudyNotFoundError,
    TrialError,
    TrialNotFoundError,
)
from tunelab._log import logger
from tunelab.executors import Executor, Job, Objective, Outcome, make_executor
from tunelab.schedulers import FIFOScheduler, Scheduler
from tunelab.searchers import Searcher, make_searcher
from tunelab.space import Space, config_key
from tunelab.store import Store, open_store
from tunelab.store._base import check_direction
from tunelab.study import _liveness
from tunelab.study._results import ResultsMixin
from tunelab.trial import Decision, Report, Trial, TrialHandle, TrialStatus, final_metrics

__all__ = ["Study", "load_study"]

#: Callback run after each finished trial: ``callback(study, trial)``.
Callback = Callable[["Study", Trial], None]
_FLUSH_EVERY = 1.0  # seconds between report flushes of a long trial
_FLUSH_SIZE = 256  # or this many buffered reports
_MAX_ATTEMPTS = 3  # an interrupted trial is requeued until it has started this many times


@dataclass
class _Live:
    """A trial this driver is running: its record and reports not yet written."""

    trial: Trial
    pending: list[Report] = field(default_factory=list)
    last: dict[str, float] = field(default_factory=dict)


def trial_seed(searcher_seed: int, number: int) -> int:
    """The seed handed to trial ``number`` (for the user's own RNGs): 32 bits, derived."""
    return int(np.random.SeedSequence([searcher_seed, number]).generate_state(1)[0])


class Study(ResultsMixin):
    """Create a study, or resume the one of that name in the store.

    ``metric`` is the target (``"value"`` when the objective returns a number) and
    ``direction`` is ``"min"`` or ``"max"``. Every other reported metric is kept too.
    The store defaults to ``$TUNELAB_STORE`` or ``tunelab.db`` in the working directory;
    ``"memory"`` keeps everything in this process.

    >>> from tunelab import Float, Int, Space, Study
    >>> space = Space(x=Float(-5, 5), n=Int(1, 3))
    >>> study = Study("doc-study", space, store="memory", seed=0)
    >>> study.optimize(lambda c: (c["x"] - 1) ** 2 + c["n"], n_trials=20)
    >>> study.best_trial.value < 3
    True
    """

    def __init__(
        self,
        name: str | None = None,
        space: Space | Mapping[str, Any] | None = None,
        *,
        metric: str | None = None,
        direction: str | None = None,
        searcher: Searcher | str | Mapping[str, Any] | None = None,
        scheduler: Scheduler | None = None,
        store: Store | str | os.PathLike[str] | None = None,
        seed: int | None = None,
    ) -> None:
        if name is None:
            name = f"study-{uuid.uuid4().hex[:8]}"
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgumentError(f"`name` must be a non-empty string; got {name!r}")
        if space is not None and not isinstance(space, Space):
            space = Space.from_dict(space)
        if metric is not None and (not isinstance(metric, str) or not metric):
            raise InvalidArgumentError(f"`metric` must be a non-empty string; got {metric!r}")
        if direction is not None:
            direction = check_direction(direction)
        self.store: Store = open_store(store)
        self.name = name
        self._worker_id = _liveness.new_worker_id()
        try:
            record = self.store.get_study(name)
        except StudyNotFoundError:
            if space is None:
                raise StudyNotFoundError(
                    f"no study named {name!r} in store {self.store.url!r}; "
                    "give a `space` to create it"
                ) from None
            record = None
        if record is not None:
            stored_space = Space.from_dict(record.space)
            for label, given, stored in (
                ("space", space.to_dict() if space is not None else None, record.space),
                ("metric", metric, record.metric),
                ("direction", direction, record.direction),
            ):
                if given is not None and given != stored:
                    raise StudyMismatchError(
                        f"study {name!r} exists with {label} {stored!r}; got {given!r}. "
                        "Use another study name, or leave it out to resume."
                    )
            stored_seed = record.searcher.get("seed")
            if searcher is None and seed is not None and stored_seed not in (None, seed):
                raise StudyMismatchError(
                    f"study {name!r} exists with seed {stored_seed!r}; got {seed!r}. "
                    "Leave the seed out to resume, or pass a searcher to change it."
                )
            self.space = stored_space
            self.searcher = make_searcher(
                searcher if searcher is not None else record.searcher, seed=seed
            )
            if self.searcher.spec() != record.searcher:
                logger.info("study %r continues with searcher %r (was %r)",
                            name, self.searcher.spec(), record.searcher)
                self.store.set_study_searcher(record.id, self.searcher.spec())
                record = replace(record, searcher=self.searcher.spec())
        else:
            assert space is not None
            self.space = space
            self.searcher = make_searcher(searcher, seed=seed)
            record = self.store.create_study(
                name,
                metric=metric or "value",
                direction=direction or "min",
                space=space.to_dict(),
                searcher=self.searcher.spec(),
                scheduler=(scheduler or FIFOScheduler()).spec(),
            )
        self._record = record
        self.metric: str = record.metric
        self.direction: str = record.direction
        self.scheduler: Scheduler = scheduler or FIFOScheduler()
        self._history: dict[int, Trial] = {}
        self._live: dict[int, _Live] = {}
        self._last_flush = time.monotonic()
        self._last_heartbeat = time.monotonic()
        self._refresh()

    def __repr__(self) -> str:
        return (
            f"Study(name={self.name!r}, metric={self.metric!r}, direction={self.direction!r}, "
            f"store={self.store.url!r})"
        )

    # ------------------------------------------------------------------ history

    def _refresh(self) -> None:
        self._history = {}
        self._waiting: set[int] = set()
        self._max_number = -1
        for trial in self.store.get_trials(self._record.id):
            self._remember(trial)

    def _remember(self, trial: Trial) -> None:
        self._history[trial.number] = trial
        self._max_number = max(self._max_number, trial.number)
        if trial.status is TrialStatus.WAITING:
            self._waiting.add(trial.number)
        else:
            self._waiting.discard(trial.number)

    # ------------------------------------------------------------------ queue

    def enqueue(
        self,
        config: Mapping[str, Any],
        *,
        skip_if_exists: bool = True,
        user_attrs: Mapping[str, Any] | None = None,
    ) -> Trial | None:
        """Queue a configuration (e.g. a baseline) to run before the searcher's proposals.

        With ``skip_if_exists`` (the default) a configuration already in the study is not
        queued again, so a script that enqueues its baseline can be rerun safely.
        Returns the queued trial, or None when skipped.
        """
        clean = self.space.validate(config)
        if skip_if_exists:
            self._refresh()
            key = config_key(clean)
            if any(config_key(t.config) == key for t in self._history.values()):
                return None
        trial = self.store.create_trial(
            self._record.id,
            clean,
            status=TrialStatus.WAITING,
            user_attrs=dict(user_attrs or {}),
            system_attrs={"enqueued": True},
        )
        self._remember(trial)
        return trial

    # ------------------------------------------------------------------ ask / tell

    def _start_trial(self, config: Mapping[str, Any] | None = None) -> Trial:
        """Claim a queued trial if this driver knows of one, else create a new one.

        Queued trials from other drivers become known at each :meth:`_refresh`; checking
        only then keeps the common path at one write per start.
        """
        claimed = None
        if config is None and self._waiting:
            claimed = self.store.claim_waiting(self._record.id, self._worker_id)
            if claimed is None:
                self._waiting.clear()  # someone else ran them
        if claimed is not None:
            trial = claimed
        elif config is None:
            proposal = self.searcher.suggest(
                self.space, self._history.values(), self._max_number + 1
            )
            trial = self.store.create_trial(
                self._record.id, proposal, status=TrialStatus.RUNNING, worker=self._worker_id
            )
        else:
            trial = self.store.create_trial(
                self._record.id,
                self.space.validate(config),
                status=TrialStatus.RUNNING,
                worker=self._worker_id,
            )
        self._remember(trial)
        self._live[trial.id] = _Live(trial)
        return trial

    def _job(self, trial: Trial) -> Job:
        return Job(
            trial_id=trial.id,
            number=trial.number,
            config=trial.config,
            seed=trial_seed(self.searcher.seed, trial.number),
            metric=self.metric,
            study_name=self.name,
        )

    def ask(self, config: Mapping[str, Any] | None = None) -> TrialHandle:
        """Start a trial for an external loop: a queued configuration first, else the
        searcher's proposal (or ``config`` when given). Finish it with :meth:`tell`."""
        trial = self._start_trial(config)
        job = self._job(trial)
        trial_id = trial.id
        return TrialHandle(
            trial.config,
            number=trial.number,
            seed=job.seed,
            reporter=lambda step, metrics: self._on_report(trial_id, step, metrics),
            study_name=self.name,
        )

    def _live_by_number(self, number: int) -> _Live:
        for live in self._live.values():
            if live.trial.number == number:
                return live
        if number in self._history:
            raise InvalidArgumentError(
                f"trial {number} is {self._history[number].status.value}, not running here; "
                "tell() takes trials started by this study's ask()"
            )
        raise TrialNotFoundError(f"no trial number {number!r} in study {self.name!r}")

    def tell(
        self,
        trial: TrialHandle | Trial | int,
        result: Any = None,
        *,
        failed: bool | str = False,
    ) -> Trial:
        """Finish a trial started by :meth:`ask` with its result (a number, a dict of
        metrics, or None after reporting the target), or mark it failed
        (``failed=True`` or ``failed="reason"``). A bad result fails the trial and says why.
        """
        if not isinstance(failed, (bool, str)) or failed == "":
            raise InvalidArgumentError(
                f"`failed` must be True, False or a non-empty reason; got {failed!r}"
            )
        number = trial if isinstance(trial, int) else trial.number
        live = self._live_by_number(number)
        reported = dict(live.last)
        if failed:
            reason = failed if isinstance(failed, str) else "marked failed by tell()"
            outcome = Outcome(live.trial.id, TrialStatus.FAILED, reported, reason)
        else:
            try:
                metrics = final_metrics(result, reported, self.metric)
                outcome = Outcome(live.trial.id, TrialStatus.COMPLETE, metrics)
            except TrialError as exc:
                outcome = Outcome(
                    live.trial.id, TrialStatus.FAILED, reported, str(exc), tb_module.format_exc()
                )
        return self._finish(outcome)

    # ------------------------------------------------------------------ reports

    def _on_report(self, trial_id: int, step: int, metrics: dict[str, float]) -> Decision:
        live = self._live.get(trial_id)
        if live is None:
            return Decision.STOP  # finished or abandoned meanwhile
        report = Report(step, metrics, time.time())
        live.pending.append(report)
        live.last.update(metrics)
        decision = self.scheduler.on_report(live.trial, report)
        if len(live.pending) >= _FLUSH_SIZE or time.monotonic() - self._last_flush > _FLUSH_EVERY:
            self._flush_reports()
        self._heartbeat()
        return decision

    def _flush_reports(self) -> None:
        for live in self._live.values():
            if live.pending:
                self.store.add_reports(live.trial.id, live.pending)
                live.pending = []
        self._last_flush = time.monotonic()

    def _finish(self, outcome: Outcome) -> Trial:
        live = self._live.pop(outcome.trial_id)
        ok = outcome.status in (TrialStatus.COMPLETE, TrialStatus.STOPPED)
        value = outcome.metrics.get(self.metric) if ok else None
        if value is not None and not math.isfinite(value):
            value = None
        trial = self.store.finish_trial(
            outcome.trial_id,
            status=outcome.status,
            metrics=outcome.metrics,
            value=value,
            error=outcome.error,
            traceback=outcome.traceback,
            reports=live.pending,
            worker=self._worker_id,
        )
        if trial is None:
            logger.warning(
                "trial %d of %r was taken over by another driver; this result is dropped",
                live.trial.number, self.name,
            )
            trial = self.store.get_trial(self._record.id, live.trial.number, with_reports=False)
            self._remember(trial)
            return trial
        self._remember(trial)
        self.scheduler.on_finish(trial)
        if outcome.status is TrialStatus.FAILED:
            logger.warning("trial %d of %r failed: %s", trial.number, self.name, outcome.error)
        return trial

    # ------------------------------------------------------------------ recovery

    def recover(self) -> list[int]:
        """Put RUNNING trials whose driver is gone back in the queue (or fail them after
        three attempts). Returns their numbers. Called by :meth:`optimize`."""
        recovered = []
        for trial in self.store.get_trials(self._record.id, statuses=[TrialStatus.RUNNING]):
            if not _liveness.is_orphan(trial, self._worker_id):
                continue
            reason = f"its driver {trial.worker} stopped before the trial finished"
            if trial.attempt >= _MAX_ATTEMPTS:
                self.store.finish_trial(
                    trial.id,
                    status=TrialStatus.FAILED,
                    error=f"interrupted {trial.attempt} times; last: {reason}",
                )
            elif not self.store.requeue_trial(
                trial.id, expected_worker=trial.worker, reason=reason
            ):
                continue
            recovered.append(trial.number)
        if recovered:
            logger.info("study %r: recovered orphaned trials %s", self.name, recovered)
            self._refresh()
        return recovered

    def _abandon_live(self, reason: str) -> None:
        """Requeue this driver's running trials (they rerun on the next optimize)."""
        for live in list(self._live.values()):
            try:
                if live.trial.attempt >= _MAX_ATTEMPTS:
                    self.store.finish_trial(
                        live.trial.id, status=TrialStatus.FAILED, worker=self._worker_id,
                        error=f"interrupted {live.trial.attempt} times; last: {reason}",
                    )
                    continue
                self.store.requeue_trial(
                    live.trial.id, expected_worker=self._worker_id, reason=reason
                )
            except Exception:  # pragma: no cover - the store itself is failing
                logger.exception("could not requeue trial %d", live.trial.number)
        self._live.clear()

    def _heartbeat(self, force: bool = False) -> None:
        if force or time.monotonic() - self._last_heartbeat >= _liveness.HEARTBEAT_INTERVAL:
            self._last_heartbeat = time.monotonic()
            ids = [live.trial.id for live in list(self._live.values())]
            if ids:
                self.store.heartbeat(ids)

    @contextlib.contextmanager
    def _heartbeat_thread(self, needed: bool) -> Iterator[None]:
        """While the driver's own thread is busy running a trial (inline), a daemon thread
        keeps the heartbeat going so other machines don't take the trial as abandoned."""
        if not needed:
            yield
            return
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(_liveness.HEARTBEAT_INTERVAL):
                try:
                    self._heartbeat(force=True)
                except Exception:  # pragma: no cover - the store is failing; keep trying
                    logger.exception("heartbeat of study %r failed", self.name)

        thread = threading.Thread(target=beat, name="tunelab-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    # ------------------------------------------------------------------ optimize

    def optimize(
        self,
        objective: Objective,
        n_trials: int | None = None,
        *,
        timeout: float | None = None,
        workers: int = 1,
        trial_timeout: float | None = None,
        max_trials: int | None = None,
        executor: str | Executor | None = None,
        callbacks: Sequence[Callback] = (),
        progress: Callable[[Trial], None] | None = None,
    ) -> None:
        """Run trials until ``n_trials`` more have run, ``timeout`` seconds have passed, the
        study holds ``max_trials`` trials, or the searcher is exhausted.

        ``workers`` > 1 runs trials in that many local processes. ``trial_timeout`` stops
        a trial that runs longer. Trials left RUNNING by a driver that died are resumed
        first, and queued configurations run before new proposals.
        """
        _check_count("n_trials", n_trials)
        _check_count("max_trials", max_trials)
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise InvalidArgumentError(f"`timeout` must be a number > 0; got {timeout!r}")
        if not callable(objective):
            raise InvalidArgumentError(f"`objective` must be callable; got {objective!r}")
        runner = make_executor(executor, workers, trial_timeout)
        self.recover()
        self._refresh()
        budget = _Budget(n_trials, max_trials, timeout)
        runner.start(objective, self._on_report)
        try:
            with self._heartbeat_thread(runner.blocks_driver):
                self._run_loop(runner, budget, callbacks, progress)
        except BaseException as exc:
            runner.close()
            self._abandon_live(f"the run was interrupted ({type(exc).__name__})")
            raise
        runner.close()

    def _run_loop(
        self,
        runner: Executor,
        budget: _Budget,
        callbacks: Sequence[Callback],
        progress: Callable[[Trial], None] | None,
    ) -> None:
        """Start trials while allowed, collect outcomes, until nothing runs."""
        exhausted = False
        while True:
            while not exhausted and runner.can_start() and budget.allows(self):
                try:
                    trial = self._start_trial()
                except SearchExhausted:
                    exhausted = True
                    break
                runner.submit(self._job(trial))
                budget.started += 1
            if runner.running == 0:
                return
            for outcome in runner.wait(timeout=_liveness.HEARTBEAT_INTERVAL):
                finished = self._finish(outcome)
                for callback in callbacks:
                    callback(self, finished)
                if progress is not None:
                    progress(finished)
            self._heartbeat()


_NOT_WAITING = tuple(s for s in TrialStatus if s is not TrialStatus.WAITING)


class _Budget:
    """When optimize() may start another trial."""

    def __init__(self, n_trials: int | None, max_trials: int | None, timeout: float | None):
        self.n_trials, self.max_trials = n_trials, max_trials
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.started = 0

    def allows(self, study: Study) -> bool:
        if self.n_trials is not None and self.started >= self.n_trials:
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return False
        # Counted in the store, so that drivers sharing the study stop together.
        return self.max_trials is None or (
            study.store.count_trials(study._record.id, statuses=_NOT_WAITING) < self.max_trials
        )


def _check_count(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidArgumentError(f"`{name}` must be an integer >= 0 or None; got {value!r}")


def load_study(name: str, store: Store | str | os.PathLike[str] | None = None) -> Study:
    """Open an existing study (raises :class:`StudyNotFoundError` when there is none)."""
    opened = open_store(store)
    opened.get_study(name)  # a clear "no study named ..." before anything else
    return Study(name, store=opened)

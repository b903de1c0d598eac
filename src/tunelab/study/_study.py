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
from pathlib import Path
from typing import Any

import numpy as np

from tunelab._checkpoint import CheckpointFolder
from tunelab._errors import (
    InvalidArgumentError,
    InvalidConfigError,
    SearchExhausted,
    StudyMismatchError,
    StudyNotFoundError,
    TrialError,
    TrialNotFoundError,
    TunelabError,
)
from tunelab._log import logger
from tunelab.executors import Executor, Job, Objective, Outcome, make_executor
from tunelab.fidelity import Axis, check_axes, fidelity_at
from tunelab.schedulers import Grant, Scheduler, make_scheduler
from tunelab.searchers import Searcher, make_searcher
from tunelab.space import Space, config_key
from tunelab.store import Store, open_store
from tunelab.store._base import check_direction
from tunelab.study import _liveness, _rerun, _sync, _warm
from tunelab.study._artifacts import artifact_root, study_folder
from tunelab.study._budget import BudgetSummary, budget_summary
from tunelab.study._objectives import describe, missing_objectives, parse_objectives
from tunelab.study._presets import default_searcher
from tunelab.study._rerun import RunRequest
from tunelab.study._results import ResultsMixin
from tunelab.tracking import config_hash, current_environment
from tunelab.trial import Decision, Report, Trial, TrialHandle, TrialStatus, final_metrics

__all__ = ["Study", "load_study"]

#: Callback run after each finished trial: ``callback(study, trial)``.
Callback = Callable[["Study", Trial], None]
_FLUSH_EVERY = 1.0  # seconds between report flushes of a long trial
_FLUSH_SIZE = 256  # or this many buffered reports
_MAX_ATTEMPTS = _sync.MAX_ATTEMPTS  # runs of a trial in all (requeues, retries)


@dataclass
class _Live:
    """A trial this driver is running: its record, its grant, reports not yet written."""

    trial: Trial
    grant: Grant = field(default_factory=lambda: Grant(None))
    resume_step: int = 0
    pending: list[Report] = field(default_factory=list)
    last: dict[str, float] = field(default_factory=dict)
    reports: int = 0  # reports in this run
    first_step: int | None = None  # the first step reported in this run
    max_step: int = 0
    decision: Decision = Decision.CONTINUE
    #: Run outside the scheduler (a rerun with a given seed: repro, seeds, sensitivity).
    rerun: bool = False

    @property
    def is_resume(self) -> bool:
        return self.grant.trial is not None


def trial_seed(searcher_seed: int, number: int) -> int:
    """The seed handed to trial ``number`` (for the user's own RNGs): 32 bits, derived."""
    return int(np.random.SeedSequence([searcher_seed, number]).generate_state(1)[0])


class Study(ResultsMixin):
    """Create a study, or resume the one of that name in the store.

    ``metric`` is the target (``"value"`` when the objective returns a number) and
    ``direction`` is ``"min"`` or ``"max"``. Every other reported metric is kept too.

    A multi-objective study takes lists, one direction per metric:
    ``metric=["acc", "latency"], direction=["max", "min"]``. Every complete trial must
    then return (or report) each of them; :meth:`pareto_front` gives the trials no other
    dominates, and ``best_trial`` is refused, as in Optuna. The first metric is the
    primary one: ``study.metric``, ``study.direction``, ``trial.value``, schedulers and
    :meth:`leaderboard` use it; ``study.objectives`` lists them all. Searchers learn all
    of them; ``"parego"`` searches the whole front (``"random"`` works too).
    Without a ``searcher``, a new study uses TPE (per budget under rung schedulers:
    BOHB-style), the best of tunelab's searchers in the benchmarks
    (:func:`tunelab.study.default_searcher`), or ParEGO over TPE with several metrics.
    The store defaults to ``$TUNELAB_STORE`` or ``tunelab.db`` in the working directory;
    ``"memory"`` keeps everything in this process.

    A ``scheduler`` decides how long each trial runs (FIFO, median stopping, successive
    halving, Hyperband, ASHA...); ``fidelity`` maps its scalar resource to the knobs the
    objective varies (``{"epochs": Axis(1, 81, integer=True), "subset": Axis(0.1, 1)}``),
    read by the objective as ``trial.resource`` and ``trial.fidelity``. Each trial has a
    folder under ``artifacts`` (default: ``$TUNELAB_ARTIFACTS``, or next to the SQLite
    file) for its checkpoints, of which the newest ``keep_checkpoints`` are kept; the
    checkpoints of stopped and failed trials are deleted. What a trial prints and logs is
    copied there too.

    Every finished trial records its seed, a hash of its configuration and the
    environment card of the machine that ran it (:mod:`tunelab.tracking`; see
    :meth:`environment`); ``capture_environment=False`` (or ``TUNELAB_CAPTURE_ENV=0``)
    records no card.

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
        metric: str | Sequence[str] | None = None,
        direction: str | Sequence[str] | None = None,
        searcher: Searcher | str | Mapping[str, Any] | None = None,
        scheduler: Scheduler | str | Mapping[str, Any] | None = None,
        store: Store | str | os.PathLike[str] | None = None,
        seed: int | None = None,
        fidelity: Mapping[str, Axis] | None = None,
        artifacts: str | os.PathLike[str] | None = None,
        keep_checkpoints: int = 1,
        capture_environment: bool | None = None,
    ) -> None:
        if name is None:
            name = f"study-{uuid.uuid4().hex[:8]}"
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgumentError(f"`name` must be a non-empty string; got {name!r}")
        if space is not None and not isinstance(space, Space):
            space = Space.from_dict(space)
        objectives = parse_objectives(metric, direction)
        if objectives is not None:
            metric, direction = objectives[0]
        if metric is not None and (not isinstance(metric, str) or not metric):
            raise InvalidArgumentError(f"`metric` must be a non-empty string; got {metric!r}")
        if direction is not None:
            direction = check_direction(str(direction))
        if isinstance(keep_checkpoints, bool) or not isinstance(keep_checkpoints, int) or (
            keep_checkpoints < 1
        ):
            raise InvalidArgumentError(
                f"`keep_checkpoints` must be an integer >= 1; got {keep_checkpoints!r}"
            )
        self.fidelity: dict[str, Axis] = check_axes(fidelity)
        self.keep_checkpoints = keep_checkpoints
        if capture_environment is None:  # on unless TUNELAB_CAPTURE_ENV=0
            capture_environment = os.environ.get("TUNELAB_CAPTURE_ENV", "1").strip() not in (
                "0", "false", "no", "off")
        self.capture_environment = bool(capture_environment)
        self._env_hash: str | None = None
        given_scheduler = None if scheduler is None else make_scheduler(scheduler)
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
                ("objectives", objectives, record.objectives),
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
            self.scheduler: Scheduler = (
                given_scheduler if given_scheduler is not None
                else make_scheduler(record.scheduler or None)
            )
            if self.scheduler.spec() != record.scheduler:
                logger.info("study %r continues with scheduler %r (was %r)",
                            name, self.scheduler.spec(), record.scheduler)
                self.store.set_study_scheduler(record.id, self.scheduler.spec())
                record = replace(record, scheduler=self.scheduler.spec())
        else:
            assert space is not None
            self.space = space
            self.scheduler = make_scheduler(given_scheduler)
            if searcher is None and objectives is not None and len(objectives) > 1:
                searcher = "parego"  # scalarised TPE over the whole front
            self.searcher = (default_searcher(self.scheduler, seed) if searcher is None
                             else make_searcher(searcher, seed=seed))
            record = self.store.create_study(
                name,
                metric=metric or "value",
                direction=direction or "min",
                space=space.to_dict(),
                searcher=self.searcher.spec(),
                scheduler=self.scheduler.spec(),
                objectives=objectives,
            )
        if self.fidelity and self.scheduler.max_resource is None:
            raise InvalidArgumentError(
                f"`fidelity` axes map a scheduler's resource range, but {self.scheduler!r} "
                "has no max_resource; give the scheduler one (e.g. FIFOScheduler(max_resource="
                "27)) or use a multi-fidelity scheduler"
            )
        self._record = record
        self.metric: str = record.metric
        self.direction: str = record.direction
        self.objectives: tuple[tuple[str, str], ...] = record.objectives
        self.scheduler.setup(self.metric, self.direction)
        if self.is_multi_objective:
            self.searcher.setup(self.metric, self.direction, objectives=self.objectives)
        else:
            self.searcher.setup(self.metric, self.direction)
        self._artifacts = artifact_root(self.store, artifacts)
        self._history: dict[int, Trial] = {}
        self._live: dict[int, _Live] = {}
        self._last_flush = time.monotonic()
        self._last_heartbeat = time.monotonic()
        self._last_sync = time.monotonic()
        self._refresh()
        self._restore_scheduler()

    def __repr__(self) -> str:
        if self.is_multi_objective:
            target = (f"metric={[m for m, _ in self.objectives]!r}, "
                      f"direction={[d for _, d in self.objectives]!r}")
        else:
            target = f"metric={self.metric!r}, direction={self.direction!r}"
        return f"Study(name={self.name!r}, {target}, store={self.store.url!r})"

    # ------------------------------------------------------------------ folders

    @property
    def artifact_dir(self) -> Path:
        """This study's folder of per-trial artifacts (checkpoints...)."""
        return study_folder(self._artifacts, self.name)

    def trial_dir(self, number: int) -> Path:
        """The artifact folder of trial ``number``."""
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise InvalidArgumentError(f"trial `number` must be an integer >= 0; got {number!r}")
        return self.artifact_dir / f"trial-{number:05d}"

    def _checkpoints(self, number: int) -> CheckpointFolder:
        return CheckpointFolder(self.trial_dir(number), keep=self.keep_checkpoints)

    def _drop_checkpoints(self, number: int) -> None:
        """Delete a trial's checkpoints, and its folder when nothing else is in it."""
        self._checkpoints(number).clear()
        with contextlib.suppress(OSError):
            self.trial_dir(number).rmdir()

    # ------------------------------------------------------------------ history

    def _restore_scheduler(self, quiet: bool = False) -> None:
        """Rebuild the scheduler's bookkeeping from the store (all drivers' trials)."""
        if self.scheduler.needs_history:
            trials = self.store.get_trials(self._record.id, with_reports=True)
            self.scheduler.restore(trials)
        else:
            trials = self.store.get_trials(self._record.id, statuses=[TrialStatus.PAUSED])
        foreign = [t.number for t in trials
                   if t.status is TrialStatus.PAUSED and not (
                       self.scheduler.needs_history and self.scheduler.owns(t))]
        if foreign and not quiet:
            logger.warning(
                "study %r: trials %s were paused by another scheduler and stay PAUSED under "
                "%r; resume the study with that scheduler to promote them",
                self.name, foreign, self.scheduler,
            )

    def _refresh(self) -> None:
        self._history = {}
        self._n_reruns = 0
        self._waiting: set[int] = set()
        self._max_number = -1
        for trial in self.store.get_trials(
            self._record.id, with_reports=self.searcher.needs_reports
        ):
            self._remember(trial)

    def _search_history(self) -> Any:
        """The trials the searcher learns from: all but reruns (a configuration rerun
        under other seeds says nothing new about where to search, and would weigh it
        several times)."""
        if self._n_reruns == 0:
            return self._history.values()
        return [t for t in self._history.values() if not t.is_rerun]

    def _remember(self, trial: Trial) -> None:
        if trial.is_rerun and trial.number not in self._history:
            self._n_reruns += 1
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

    def warm_start(
        self,
        source: Any,
        *,
        store: Store | str | os.PathLike[str] | None = None,
        statuses: Sequence[TrialStatus | str] = (TrialStatus.COMPLETE,),
        skip_invalid: bool = False,
    ) -> list[Trial]:
        """Copy finished trials of earlier work into this study (Optuna's ``add_trials``),
        so that the searcher learns from them and ``best_trial`` may be one of them.

        ``source`` is a :class:`Study`, the name of a study (in ``store``: a Store or URL,
        by default this study's), or a list of :class:`~tunelab.Trial` objects or dicts
        ``{"config": {...}, "metrics": {...}}`` (``"value"`` stands for the target
        metric). ``statuses`` picks which source trials are copied (COMPLETE, and
        STOPPED ones if asked); they keep their status, metrics and user attributes, get
        the next trial numbers, and ``system_attrs["warm_start"]`` records their origin
        (``{"study": name, "number": n}``, plus ``"store"`` when it was another store).
        Copying the same study again skips the trials already copied.

        Every configuration must fit this study's space and every trial must have this
        study's target metric (each objective, when there are several): otherwise a
        clear error names the trial and nothing is copied, or, with
        ``skip_invalid=True``, such trials are skipped and a warning counts them.

        Warm-started trials are trials of the study (``max_trials`` counts them) but
        ``optimize(n_trials=...)`` counts only the trials it starts. To run a known
        configuration (a baseline) rather than copy a result, use :meth:`enqueue`.
        Returns the new trials.
        """
        wanted = _warm.check_statuses(statuses)
        candidates = _warm.gather(source, store=store, own_store=self.store,
                                  own_name=self.name, target=self.metric, statuses=wanted)
        self._refresh()
        seen = set()
        for t in self._history.values():
            origin = t.system_attrs.get("warm_start")
            if isinstance(origin, dict) and origin.get("study") is not None:
                seen.add((origin.get("store"), origin["study"], origin.get("number")))
        ready = []
        skipped = 0
        for candidate in candidates:
            o = candidate.origin
            if o["study"] is not None and (o.get("store"), o["study"], o["number"]) in seen:
                continue
            try:
                ready.append((candidate, *_warm.check(candidate, self.space, self.objectives)))
            except (InvalidArgumentError, InvalidConfigError):
                if not skip_invalid:
                    raise
                skipped += 1
        if skipped:
            logger.warning("study %r: warm start skipped %d trial(s) that do not fit its "
                           "space or lack its target metric", self.name, skipped)
        added = []
        for candidate, config, metrics in ready:
            trial = self.store.create_trial(
                self._record.id, config, status=candidate.status,
                metrics=metrics, value=metrics[self.metric],
                user_attrs=candidate.user_attrs,
                # Run under no scheduler of this study: no bracket, no budget consumed.
                system_attrs={"warm_start": candidate.origin, "scheduler": "warm_start",
                              "consumed": 0.0},
            )
            self._remember(trial)
            added.append(trial)
        if added:
            logger.info("study %r: warm-started with %d trial(s)", self.name, len(added))
        return added

    # ------------------------------------------------------------------ ask / tell

    def _grant_attrs(self, grant: Grant) -> dict[str, Any]:
        return {"scheduler": self.scheduler.name, "bracket": grant.bracket,
                "resource": grant.resource}

    def _start_trial(
        self, config: Mapping[str, Any] | None = None, grant: Grant | None = None
    ) -> _Live:
        """Claim a queued trial if this driver knows of one, else create a new one.

        Queued trials from other drivers become known at each :meth:`_refresh`; checking
        only then keeps the common path at one write per start.
        """
        grant = grant or Grant(self.scheduler.max_resource)
        claimed = None
        if config is None and self._waiting:
            claimed = self.store.claim_waiting(self._record.id, self._worker_id)
            if claimed is None:
                self._waiting.clear()  # someone else ran them
        attrs = self._grant_attrs(grant)
        if claimed is not None:
            trial = replace(claimed, system_attrs={**claimed.system_attrs, **attrs, "step": 0})
            self.store.set_trial_system_attrs(trial.id, trial.system_attrs)
        elif config is None:
            proposal = self.searcher.suggest(self.space, self._search_history(),
                                             self._max_number + 1)
            trial = self.store.create_trial(
                self._record.id, proposal, status=TrialStatus.RUNNING, worker=self._worker_id,
                system_attrs=attrs,
            )
        else:
            trial = self.store.create_trial(
                self._record.id,
                self.space.validate(config),
                status=TrialStatus.RUNNING,
                worker=self._worker_id,
                system_attrs=attrs,
            )
        self._remember(trial)
        # A fresh start never sees files left by a run that was dropped, or by an older
        # study of the same name whose store was deleted.
        self._checkpoints(trial.number).clear()
        live = _Live(trial, grant)
        self._live[trial.id] = live
        self.scheduler.on_start(trial, grant)
        return live

    def _resume_trial(self, grant: Grant) -> _Live | None:
        """Claim the paused trial of ``grant`` (None if another driver got it first)."""
        assert grant.trial is not None
        known = self._history.get(grant.trial)
        if known is None:
            return None
        step = int(known.system_attrs.get("step", 0))
        attrs = {
            **known.system_attrs,
            **self._grant_attrs(grant),
            "resumes": int(known.system_attrs.get("resumes", 0)) + 1,
        }
        trial = self.store.resume_trial(known.id, worker=self._worker_id, system_attrs=attrs)
        if trial is None:
            logger.info("trial %d of %r was resumed by another driver", grant.trial, self.name)
            return None
        self._remember(trial)
        live = _Live(trial, grant, resume_step=step, max_step=step)
        self._live[trial.id] = live
        self.scheduler.on_start(trial, grant)
        return live

    def _next(self, can_start: bool, *, resume: bool = True) -> _Live | None:
        """The next piece of work the scheduler hands out, started; None when there is
        none now. Raises SearchExhausted when a new trial was due but the searcher has
        nothing left."""
        while True:
            grant = self.scheduler.next_grant(can_start=can_start, resume=resume)
            if grant is None:
                return None
            if grant.trial is None:
                return self._start_trial(grant=grant)
            live = self._resume_trial(grant)
            if live is not None:
                return live

    def _job(self, live: _Live) -> Job:
        trial, grant = live.trial, live.grant
        scheduler = self.scheduler
        fidelity = {}
        if self.fidelity and scheduler.max_resource is not None:
            fidelity = fidelity_at(self.fidelity, grant.resource,
                                   scheduler.min_resource or 1, scheduler.max_resource)
        return Job(
            trial_id=trial.id,
            number=trial.number,
            config=trial.config,
            seed=self.seed_of(trial),
            metric=self.metric,
            study_name=self.name,
            resource=grant.resource,
            fidelity=fidelity,
            trial_dir=str(self.trial_dir(trial.number)),
            keep_checkpoints=self.keep_checkpoints,
            resume_step=live.resume_step,
        )

    def ask(self, config: Mapping[str, Any] | None = None) -> TrialHandle:
        """Start a trial for an external loop and return its handle: a paused trial the
        scheduler promotes, else a queued configuration, else the searcher's proposal (or
        ``config`` when given). Finish it with :meth:`tell`.

        The handle carries the granted ``resource`` and ``fidelity``; a resumed trial
        finds its checkpoint with ``load_checkpoint()``.
        """
        if config is not None:
            grant = self.scheduler.next_grant(can_start=True, resume=False)
            live = self._start_trial(config, grant or Grant(self.scheduler.max_resource))
        else:
            try:
                found = self._next(True)
            except SearchExhausted:
                found = self._next(False)  # no new configurations: paused ones may go on
                if found is None:
                    raise
            if found is None:  # pragma: no cover - every scheduler starts trials when allowed
                raise TunelabError(f"scheduler {self.scheduler!r} started no trial")
            live = found
        trial_id = live.trial.id
        return self._job(live).handle(
            lambda step, metrics: self._on_report(trial_id, step, metrics)
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
        A trial the scheduler paused (or stopped) at its last report is paused (stopped).
        """
        if not isinstance(failed, (bool, str)) or failed == "":
            raise InvalidArgumentError(
                f"`failed` must be True, False or a non-empty reason; got {failed!r}"
            )
        number = trial if isinstance(trial, int) else trial.number
        live = self._live_by_number(number)
        reported = dict(live.last)
        resumed = trial.resumed_from if isinstance(trial, TrialHandle) else None
        if failed:
            reason = failed if isinstance(failed, str) else "marked failed by tell()"
            outcome = Outcome(live.trial.id, TrialStatus.FAILED, reported, reason,
                              resumed_from=resumed)
        else:
            status = _STATUS_AFTER[live.decision]
            try:
                metrics = final_metrics(result, reported, self.metric)
                outcome = Outcome(live.trial.id, status, metrics, resumed_from=resumed)
            except TrialError as exc:
                outcome = Outcome(
                    live.trial.id, TrialStatus.FAILED, reported, str(exc), tb_module.format_exc(),
                    resumed
                )
        finished = self._finish(outcome)
        self._drop_paused()
        return finished

    # ------------------------------------------------------------------ reports

    def _on_report(self, trial_id: int, step: int, metrics: dict[str, float]) -> Decision:
        live = self._live.get(trial_id)
        if live is None:
            return Decision.STOP  # finished or abandoned meanwhile
        report = Report(step, metrics, time.time())
        live.pending.append(report)
        live.last.update(metrics)
        live.reports += 1
        if live.first_step is None:
            live.first_step = step
        live.max_step = max(live.max_step, step)
        if live.decision is Decision.CONTINUE:  # once told to stop or pause, it stays told
            if not live.rerun:
                live.decision = self.scheduler.on_report(live.trial, report)
            elif live.grant.resource is not None and step >= live.grant.resource:
                live.decision = Decision.STOP  # a rerun goes as far as the original went
        if len(live.pending) >= _FLUSH_SIZE or time.monotonic() - self._last_flush > _FLUSH_EVERY:
            self._flush_reports()
        self._heartbeat()
        return live.decision

    def _flush_reports(self) -> None:
        for live in self._live.values():
            if live.pending:
                self.store.add_reports(live.trial.id, live.pending)
                live.pending = []
        self._last_flush = time.monotonic()

    def _settle_outcome(self, live: _Live, outcome: Outcome) -> TrialStatus:
        """The status a run ends with, after the scheduler had its say on a result that
        was returned but never reported."""
        status = outcome.status
        grant = live.grant.resource
        if (
            status is TrialStatus.COMPLETE
            and grant is not None
            and self.metric in outcome.metrics
            and self.metric not in live.last
        ):
            # A run that returns its value without reporting it: at the granted fidelity
            # (a data subset, a smaller model: no steps reported), or after reporting
            # other metrics per step. The value counts as the report of its last step.
            step = live.max_step if live.reports else grant
            self._on_report(live.trial.id, step, {self.metric: outcome.metrics[self.metric]})
            status = _STATUS_AFTER[live.decision]
        top = self.scheduler.max_resource
        if status is TrialStatus.STOPPED and top is not None and live.max_step >= top:
            status = TrialStatus.COMPLETE  # stopped because it reached the maximum resource
        return status

    def _finish(self, outcome: Outcome) -> Trial:
        live = self._live[outcome.trial_id]
        status = self._settle_outcome(live, outcome)
        if status is TrialStatus.COMPLETE and self.is_multi_objective:
            missing = missing_objectives(outcome.metrics, self.objectives)
            if missing:
                status = TrialStatus.FAILED
                outcome = replace(outcome, status=status, traceback=None, error=(
                    f"trial {live.trial.number} completed without the objective(s) "
                    f"{missing} of multi-objective study {self.name!r}; return or report "
                    f"every objective ({describe(self.objectives)}); got metrics "
                    f"{sorted(outcome.metrics)}"
                ))
        self._live.pop(outcome.trial_id)
        ok = status in (TrialStatus.COMPLETE, TrialStatus.STOPPED, TrialStatus.PAUSED)
        value = outcome.metrics.get(self.metric) if ok else None
        if value is not None and not math.isfinite(value):
            value = None
        before = live.trial.system_attrs
        # Steps this run consumed: from the checkpoint it resumed from; when the worker
        # died before saying, from where its reports began.
        base = outcome.resumed_from
        if base is None:
            base = (live.first_step or 1) - 1
        used = max(0, live.max_step - base) if live.reports else 0
        attrs = {
            **before,
            **(_rerun.RERUN_ATTRS if live.rerun else self._grant_attrs(live.grant)),
            "step": max(int(before.get("step", 0)), live.max_step),
            "consumed": float(before.get("consumed", 0.0)) + used,
            **self._record_attrs(live.trial),
        }
        trial: Trial | None
        if status is TrialStatus.PAUSED:
            trial = self.store.pause_trial(
                outcome.trial_id, worker=self._worker_id, metrics=outcome.metrics,
                value=value, reports=live.pending, system_attrs=attrs,
            )
        else:
            trial = self.store.finish_trial(
                outcome.trial_id,
                status=status,
                metrics=outcome.metrics,
                value=value,
                error=outcome.error,
                traceback=outcome.traceback,
                reports=live.pending,
                worker=self._worker_id,
                system_attrs=attrs,
            )
        if trial is None:
            logger.warning(
                "trial %d of %r was taken over by another driver; this result is dropped",
                live.trial.number, self.name,
            )
            trial = self.store.get_trial(self._record.id, live.trial.number, with_reports=False)
            self._remember(trial)
            return trial
        if self.searcher.needs_reports:  # the searcher models values at every step
            trial = self.store.get_trial(self._record.id, trial.number, with_reports=True)
        self._remember(trial)
        if status in (TrialStatus.STOPPED, TrialStatus.FAILED):
            self._drop_checkpoints(trial.number)
        if not live.rerun:
            self.scheduler.on_finish(trial)
        if status is TrialStatus.FAILED:
            logger.warning("trial %d of %r failed: %s", trial.number, self.name, outcome.error)
        return trial

    # ------------------------------------------------------------------ records

    def seed_of(self, trial: Trial | int) -> int:
        """The seed trial ``trial`` runs with (``trial.seed`` in the objective): the one
        it was given (a rerun with another seed), else one derived from the searcher's
        seed and the trial number."""
        if isinstance(trial, int):
            trial = self.trial(trial)
        given = trial.system_attrs.get("seed")
        if isinstance(given, int) and not isinstance(given, bool):
            return given
        return trial_seed(self.searcher.seed, trial.number)

    def _environment_hash(self) -> str | None:
        """This process's environment card, stored once; its hash (None when capture is
        off or failed: a card is a record, never a reason for a trial to fail)."""
        if not self.capture_environment:
            return None
        if self._env_hash is None:
            try:
                card, digest = current_environment()
                self.store.save_environment(digest, card)
            except Exception as exc:
                logger.warning("study %r: environment not recorded: %s", self.name, exc)
                self.capture_environment = False
                return None
            self._env_hash = digest
        return self._env_hash

    def _record_attrs(self, trial: Trial) -> dict[str, Any]:
        """What a finished run records for reproduction: seed, config hash, environment."""
        attrs: dict[str, Any] = {"seed": self.seed_of(trial),
                                 "config_hash": config_hash(trial.config)}
        env = self._environment_hash()
        if env is not None:
            attrs["env"] = env
        return attrs

    def environment(self, number: int) -> dict[str, Any]:
        """The record of how trial ``number`` ran: ``seed``, ``config_hash``, ``env``
        (the card's hash) and ``card`` (the environment card, see
        :func:`tunelab.tracking.capture_environment`; None when none was recorded)."""
        trial = self.trial(number)
        digest = trial.system_attrs.get("env")
        card = self.store.get_environment(digest) if isinstance(digest, str) else None
        return {"seed": self.seed_of(trial),
                "config_hash": trial.system_attrs.get("config_hash")
                or config_hash(trial.config),
                "env": digest, "card": card}

    def _drop_paused(self) -> list[Trial]:
        """Stop the paused trials the scheduler will never resume."""
        stopped = []
        for number in self.scheduler.drop_paused():
            known = self._history.get(number)
            if known is None or known.status is not TrialStatus.PAUSED:
                continue
            trial = self.store.finish_trial(
                known.id, status=TrialStatus.STOPPED, metrics=known.metrics, value=known.value,
                system_attrs=known.system_attrs,
            )
            assert trial is not None
            self._remember(trial)
            self._drop_checkpoints(number)
            stopped.append(trial)
        return stopped

    # ------------------------------------------------------------------ budget

    def budget(self) -> BudgetSummary:
        """Resource consumed (in steps and full-training equivalents) and how many
        configurations reached each rung."""
        return budget_summary(
            self.store.get_trials(self._record.id, with_reports=True), self.scheduler
        )

    # ------------------------------------------------------------------ recovery

    def recover(self) -> list[int]:
        """Put RUNNING trials whose driver is gone back in the queue (or fail them after
        three attempts). Returns their numbers. Called by :meth:`optimize`."""
        recovered = self._recover_trials(
            self.store.get_trials(self._record.id, statuses=[TrialStatus.RUNNING]))
        if recovered:
            self._refresh()
        return recovered

    def _recover_trials(self, running: Sequence[Trial]) -> list[int]:
        """Requeue (or fail) those of ``running`` whose driver is gone; their numbers."""
        recovered = []
        for trial in running:
            if not _liveness.is_orphan(trial, self._worker_id):
                continue
            reason = f"its driver {trial.worker} stopped before the trial finished"
            if trial.is_rerun or trial.attempt >= _MAX_ATTEMPTS:
                self.store.finish_trial(
                    trial.id,
                    status=TrialStatus.FAILED,
                    error=(f"interrupted rerun: {reason}" if trial.is_rerun else
                           f"interrupted {trial.attempt} times; last: {reason}"),
                )
            elif not self._put_back(trial, trial.worker, reason):
                continue
            recovered.append(trial.number)
        if recovered:
            logger.info("study %r: recovered orphaned trials %s", self.name, recovered)
        return recovered

    def _abandon_live(self, reason: str) -> None:
        """Requeue this driver's running trials (they rerun on the next optimize); a rerun
        (repro, seeds, sensitivity) fails instead: it belongs to no search, and the command
        that asked for it runs it again."""
        for live in list(self._live.values()):
            try:
                if live.rerun or live.trial.attempt >= _MAX_ATTEMPTS:
                    error = (f"interrupted rerun: {reason}" if live.rerun else
                             f"interrupted {live.trial.attempt} times; last: {reason}")
                    self.store.finish_trial(
                        live.trial.id, status=TrialStatus.FAILED, worker=self._worker_id,
                        error=error,
                    )
                    continue
                self._put_back(live.trial, self._worker_id, reason)
            except Exception:  # pragma: no cover - the store itself is failing
                logger.exception("could not requeue trial %d", live.trial.number)
        self._live.clear()

    def _put_back(self, trial: Trial, worker: str | None, reason: str) -> bool:
        """Undo an interrupted run: a trial resumed from a pause goes back to PAUSED at the
        step it had reached (its checkpoint is kept); a fresh one is queued again."""
        step = int(trial.system_attrs.get("step", 0))
        if step > 0:
            attrs = {**trial.system_attrs, "resource": step, "requeued": reason}
            return self.store.repause_trial(
                trial.id, expected_worker=worker, step=step, system_attrs=attrs
            )
        return self.store.requeue_trial(trial.id, expected_worker=worker, reason=reason)

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

    # ------------------------------------------------------------------ reruns

    def run_requests(
        self,
        objective: Objective,
        requests: Sequence[RunRequest],
        *,
        workers: int = 1,
        executor: str | Executor | None = None,
        trial_timeout: float | None = None,
        progress: Callable[[Trial], None] | None = None,
    ) -> list[Trial]:
        """Run given configurations with given seeds, outside the scheduler and the
        searcher: reruns of a trial (``tunelab repro``), the same configuration under new
        seeds (``tunelab seeds``), one-at-a-time sensitivity. Each becomes a trial of this
        study whose ``system_attrs`` hold the request's seed, resource and attributes
        (``rerun_of``, ``purpose``...). Returns the trials in request order.
        """
        return _rerun.run_requests(self, objective, requests, workers=workers,
                                   executor=executor, trial_timeout=trial_timeout,
                                   progress=progress)

    def _start_request(self, request: RunRequest) -> _Live:
        """Create the RUNNING trial of a rerun request (see :meth:`run_requests`)."""
        attrs = {**request.attrs, **_rerun.RERUN_ATTRS, "resource": request.resource,
                 "seed": request.seed}
        trial = self.store.create_trial(
            self._record.id, self.space.validate(request.config), status=TrialStatus.RUNNING,
            worker=self._worker_id, system_attrs=attrs,
        )
        self._remember(trial)
        self._checkpoints(trial.number).clear()
        live = _Live(trial, Grant(request.resource), rerun=True)
        self._live[trial.id] = live
        return live

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
        first, and queued configurations run before new proposals. A trial whose worker
        process (or Ray worker or node) dies runs again from its latest checkpoint, up to
        three runs in all. Several drivers may run one study at once (through an SQLite
        file or PostgreSQL): each sees the others' results while it runs (see
        ``docs/cluster.md``).

        With a multi-fidelity scheduler, ``n_trials`` and ``max_trials`` count
        configurations: paused trials the scheduler promotes keep resuming until it has
        nothing left to promote (or ``timeout`` passes). Callbacks and ``progress`` see
        every trial that finishes, not pauses.
        """
        _check_count("n_trials", n_trials)
        _check_count("max_trials", max_trials)
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
        ):
            raise InvalidArgumentError(f"`timeout` must be a number > 0; got {timeout!r}")
        if not callable(objective):
            raise InvalidArgumentError(f"`objective` must be callable; got {objective!r}")
        runner = make_executor(executor, workers, trial_timeout)
        self.recover()
        self._refresh()
        self._restore_scheduler()
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
        """Hand free workers what the scheduler grants (resumes, new trials while the
        budget allows), collect outcomes, until nothing runs and nothing is granted."""
        exhausted = False

        def finished(trial: Trial) -> None:
            for callback in callbacks:
                callback(self, trial)
            if progress is not None:
                progress(trial)

        while True:
            _sync.sync(self)
            while runner.can_start() and not budget.timed_out():
                try:
                    live = self._next(not exhausted and budget.allows(self))
                except SearchExhausted:
                    exhausted = True
                    continue
                if live is None:
                    break
                runner.submit(self._job(live))
                if not live.is_resume:
                    budget.started += 1
            for trial in self._drop_paused():
                finished(trial)
            if runner.running == 0:
                return
            for outcome in runner.wait(timeout=_liveness.HEARTBEAT_INTERVAL):
                if outcome.lost:  # the worker died, not the objective: run it again
                    final = _sync.retry_lost(self, runner, outcome)
                    if final is None:
                        continue
                    outcome = final
                trial = self._finish(outcome)
                if trial.status is not TrialStatus.PAUSED:
                    finished(trial)
            self._heartbeat()


_STATUS_AFTER = {
    Decision.CONTINUE: TrialStatus.COMPLETE,
    Decision.STOP: TrialStatus.STOPPED,
    Decision.PAUSE: TrialStatus.PAUSED,
}
_NOT_WAITING = tuple(s for s in TrialStatus if s is not TrialStatus.WAITING)


class _Budget:
    """When optimize() may start another trial."""

    def __init__(self, n_trials: int | None, max_trials: int | None, timeout: float | None):
        self.n_trials, self.max_trials = n_trials, max_trials
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.started = 0

    def timed_out(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def allows(self, study: Study) -> bool:
        """Whether a new trial may start (paused trials may resume regardless)."""
        if self.n_trials is not None and self.started >= self.n_trials:
            return False
        if self.timed_out():
            return False
        # Counted in the store, so that drivers sharing the study stop together; reruns
        # (repro, seeds, sensitivity) are not trials of the search.
        return self.max_trials is None or (
            study.store.count_trials(study._record.id, statuses=_NOT_WAITING)
            < self.max_trials + study._n_reruns
        )


def _check_count(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidArgumentError(f"`{name}` must be an integer >= 0 or None; got {value!r}")


def load_study(
    name: str,
    store: Store | str | os.PathLike[str] | None = None,
    *,
    artifacts: str | os.PathLike[str] | None = None,
) -> Study:
    """Open an existing study (raises :class:`StudyNotFoundError` when there is none).
    ``artifacts`` is the folder the study was created with, if not the default."""
    opened = open_store(store)
    opened.get_study(name)  # a clear "no study named ..." before anything else
    return Study(name, store=opened, artifacts=artifacts)

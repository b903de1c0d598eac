"""Several drivers, one study: keeping a driver in step with the others, and retrying
runs that were lost.

A study can be driven by several processes at once (``tunelab worker`` on several
machines sharing a PostgreSQL store, or several processes on one SQLite file). Each
driver keeps a copy of the trial history for its searcher and scheduler; :func:`sync`
refreshes that copy from the store every :data:`SYNC_EVERY` seconds while the driver
runs, so that

* the searcher learns from every driver's results, not only its own;
* the scheduler ranks rungs with every driver's results, and sees the trials other
  drivers paused (a paused trial is then resumed by exactly one driver: the store moves
  it from PAUSED to RUNNING in one guarded ``UPDATE``, and a driver whose claim fails
  asks its scheduler again);
* RUNNING trials of a driver that died are put back in the queue by the survivors, not
  only by the next run.

:func:`retry_lost` handles a run whose worker process, actor or node died (``kill -9``,
out of memory, a machine gone): the trial stays with this driver, its ``attempt`` goes up
and it runs again from its latest checkpoint (from its start when it has none), up to
``MAX_ATTEMPTS`` runs in all; after that it fails with the last reason.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tunelab._log import logger
from tunelab.executors import Executor, Outcome
from tunelab.study import _liveness
from tunelab.trial import Trial, TrialStatus

if TYPE_CHECKING:  # pragma: no cover
    from tunelab.study._study import Study

__all__ = ["MAX_ATTEMPTS", "SYNC_EVERY", "retry_lost", "sync"]

#: Runs a trial may have in all (fresh start, requeues after a dead driver, retries
#: after a lost worker) before it is failed.
MAX_ATTEMPTS = 3
#: Seconds between two refreshes of a driver's history from a shared store.
SYNC_EVERY = 2.0


def _fingerprint(trial: Trial) -> tuple[Any, ...]:
    return (trial.status, trial.attempt, trial.worker, trial.finished_at,
            trial.system_attrs.get("step"), trial.value)


def sync(study: Study, *, force: bool = False) -> bool:
    """Refresh ``study``'s history from the store when :data:`SYNC_EVERY` seconds have
    passed (or ``force``); requeue orphans of dead drivers; rebuild the scheduler when
    another driver changed something. Returns whether anything changed."""
    now = time.monotonic()
    if not force and now - study._last_sync < SYNC_EVERY:
        return False
    study._last_sync = now
    if study.store.url == "memory":  # one process: nobody else writes
        return False
    # Only what can have changed: trials not finished when last seen, and new ones. A
    # finished trial never changes again, so a sync costs O(active trials), not O(study).
    open_numbers = [n for n, t in study._history.items() if not t.status.is_finished]
    reports = study.searcher.needs_reports
    trials = study.store.get_trials(study._record.id, with_reports=reports,
                                    min_number=study._max_number + 1)
    if open_numbers:
        trials += study.store.get_trials(study._record.id, with_reports=reports,
                                         numbers=open_numbers)
    live_ids = set(study._live)
    changed = False
    orphans = []
    for trial in trials:
        if trial.id in live_ids:
            continue
        known = study._history.get(trial.number)
        if known is None or _fingerprint(known) != _fingerprint(trial):
            study._remember(trial)
            changed = True
        if trial.status is TrialStatus.RUNNING and _liveness.is_orphan(trial, study._worker_id):
            orphans.append(trial)
    if orphans and study._recover_trials(orphans):
        changed = True
        for trial in study.store.get_trials(
            study._record.id, numbers=[t.number for t in orphans],
            with_reports=study.searcher.needs_reports,
        ):
            study._remember(trial)
    if changed and study.scheduler.needs_history:
        study._flush_reports()  # the scheduler is rebuilt from the store: all of it there
        study._restore_scheduler(quiet=True)
    return changed


def retry_lost(study: Study, runner: Executor, outcome: Outcome) -> Outcome | None:
    """Run the trial of a lost run again (see the module docstring). Returns None when
    it was resubmitted, else the outcome to finish the trial with (a failure that names
    the attempts, once they are spent)."""
    live = study._live.get(outcome.trial_id)
    if live is None:
        return outcome
    attempt = live.trial.attempt
    if attempt >= MAX_ATTEMPTS:
        return replace(outcome, error=f"{outcome.error} (attempt {attempt} of {MAX_ATTEMPTS}; "
                                      "no retries left)")
    number = live.trial.number
    checkpoint = study._checkpoints(number).latest_step()
    base = checkpoint if checkpoint is not None else live.resume_step
    # Reports of the lost run after the checkpoint are rerun: keep none of them.
    kept = [r for r in live.pending if r.step <= base]
    if kept:
        study.store.add_reports(live.trial.id, kept)
    live.pending = []
    attrs = {**live.trial.system_attrs, "retried": outcome.error or "the run was lost"}
    trial = study.store.retry_trial(live.trial.id, worker=study._worker_id, step=base,
                                    system_attrs=attrs)
    if trial is None:  # taken over meanwhile: _finish drops the result and says so
        return outcome
    logger.warning("trial %d of %r was lost (%s); running it again from %s (attempt %d of %d)",
                   number, study.name, outcome.error,
                   f"its checkpoint at step {base}" if checkpoint is not None else
                   (f"step {base}" if base else "its start"), trial.attempt, MAX_ATTEMPTS)
    live.trial = trial
    live.resume_step = base
    live.max_step = base
    live.reports = 0
    live.first_step = None
    study._remember(trial)
    runner.submit(study._job(live))
    return None

"""A store that lives in this process's memory: for tests, notebooks and benchmarks."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from tunelab._errors import StudyNotFoundError, TrialNotFoundError
from tunelab.store._base import (
    Store,
    StudyRecord,
    StudySummary,
    as_objectives,
    best_of,
    dumps,
    json_attrs,
    json_value,
    loads,
)
from tunelab.trial import Report, Trial, TrialStatus

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """Keeps everything in dicts; nothing survives the process.

    >>> from tunelab import MemoryStore
    >>> store = MemoryStore()
    >>> store.list_studies()
    []
    """

    def __init__(self) -> None:
        self.url = "memory"
        self._lock = threading.RLock()
        self._studies: dict[str, StudyRecord] = {}
        self._trials: dict[int, dict[int, Trial]] = {}  # study id -> number -> trial
        self._by_id: dict[int, tuple[int, int]] = {}  # trial id -> (study id, number)
        self._reports: dict[int, list[Report]] = {}
        self._next_study = 1
        self._next_trial = 1
        self._environments: dict[str, dict[str, Any]] = {}

    # --------------------------------------------------------------- studies

    def create_study(
        self,
        name: str,
        *,
        metric: str,
        direction: str,
        space: dict[str, Any],
        searcher: dict[str, Any],
        scheduler: dict[str, Any],
        user_attrs: dict[str, Any] | None = None,
        objectives: Sequence[tuple[str, str]] | None = None,
    ) -> StudyRecord:
        attrs = loads(json_attrs(user_attrs))
        pairs = as_objectives(metric, direction, objectives)
        with self._lock:
            if name in self._studies:
                return self._studies[name]
            record = StudyRecord(
                id=self._next_study,
                name=name,
                metric=metric,
                direction=direction,
                space=space,
                searcher=searcher,
                scheduler=scheduler,
                user_attrs=attrs,
                created_at=time.time(),
                objectives=pairs,
            )
            self._next_study += 1
            self._studies[name] = record
            self._trials[record.id] = {}
            return record

    def get_study(self, name: str) -> StudyRecord:
        try:
            return self._studies[name]
        except KeyError:
            raise StudyNotFoundError(
                f"no study named {name!r} in store {self.url!r}; known: {sorted(self._studies)}"
            ) from None

    def list_studies(self) -> list[StudySummary]:
        with self._lock:
            out = []
            for record in self._studies.values():
                trials = self._trials[record.id].values()
                counts: dict[str, int] = {}
                for t in trials:
                    counts[t.status.value] = counts.get(t.status.value, 0) + 1
                stamps = [t.finished_at or t.started_at or t.created_at for t in trials]
                out.append(
                    StudySummary(
                        name=record.name,
                        metric=record.metric,
                        direction=record.direction,
                        n_trials=len(trials),
                        counts=counts,
                        best_value=best_of(
                            [t.value for t in trials if t.status is TrialStatus.COMPLETE],
                            record.direction,
                        ),
                        created_at=record.created_at,
                        last_update=max(stamps) if stamps else None,
                        objectives=record.objectives,
                    )
                )
            return out

    def delete_study(self, name: str) -> None:
        with self._lock:
            record = self.get_study(name)
            for t in self._trials.pop(record.id).values():
                self._by_id.pop(t.id, None)
                self._reports.pop(t.id, None)
            del self._studies[name]

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        value = loads(json_value(key, value))
        with self._lock:
            for name, record in self._studies.items():
                if record.id == study_id:
                    self._studies[name] = replace(
                        record, user_attrs={**record.user_attrs, key: value}
                    )

    # --------------------------------------------------------------- trials

    def _get(self, trial_id: int) -> Trial:
        try:
            study_id, number = self._by_id[trial_id]
        except KeyError:
            raise TrialNotFoundError(f"no trial with id {trial_id} in store {self.url!r}") from None
        return self._trials[study_id][number]

    def _put(self, trial: Trial, study_id: int) -> Trial:
        self._trials[study_id][trial.number] = trial
        return trial

    def create_trial(
        self,
        study_id: int,
        config: dict[str, Any],
        *,
        status: TrialStatus,
        worker: str | None = None,
        user_attrs: dict[str, Any] | None = None,
        system_attrs: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        value: float | None = None,
    ) -> Trial:
        attrs = loads(json_attrs(user_attrs))
        stored_metrics = loads(dumps(metrics or {}))
        with self._lock:
            trials = self._trials[study_id]
            now = time.time()
            running = status is TrialStatus.RUNNING
            trial = Trial(
                number=len(trials),
                status=status,
                config=dict(config),
                created_at=now,
                started_at=now if running else None,
                heartbeat_at=now if running else None,
                worker=worker if running else None,
                user_attrs=attrs,
                system_attrs=loads(dumps(system_attrs or {})),
                metrics=stored_metrics,
                value=value,
                finished_at=now if status.is_finished else None,
                id=self._next_trial,
            )
            self._next_trial += 1
            self._by_id[trial.id] = (study_id, trial.number)
            return self._put(trial, study_id)

    def claim_waiting(self, study_id: int, worker: str) -> Trial | None:
        with self._lock:
            for trial in self._trials[study_id].values():
                if trial.status is TrialStatus.WAITING:
                    now = time.time()
                    return self._put(
                        replace(
                            trial,
                            status=TrialStatus.RUNNING,
                            worker=worker,
                            started_at=now,
                            heartbeat_at=now,
                        ),
                        study_id,
                    )
            return None

    def add_reports(self, trial_id: int, reports: Sequence[Report]) -> None:
        if reports:
            with self._lock:
                self._reports.setdefault(trial_id, []).extend(reports)

    def finish_trial(
        self,
        trial_id: int,
        *,
        status: TrialStatus,
        metrics: dict[str, float] | None = None,
        value: float | None = None,
        error: str | None = None,
        traceback: str | None = None,
        reports: Sequence[Report] = (),
        worker: str | None = None,
        system_attrs: dict[str, Any] | None = None,
    ) -> Trial | None:
        with self._lock:
            if worker is not None:
                owned = self._by_id.get(trial_id)
                current = self._trials[owned[0]][owned[1]] if owned else None
                if current is None or (
                    current.status is not TrialStatus.RUNNING or current.worker != worker
                ):
                    return None
            trial = self._get(trial_id)
            if reports:
                self._reports.setdefault(trial_id, []).extend(reports)
            return self._put(
                replace(
                    trial,
                    status=status,
                    metrics=dict(metrics or {}),
                    value=value,
                    error=error,
                    traceback=traceback,
                    finished_at=time.time(),
                    system_attrs=(
                        trial.system_attrs if system_attrs is None
                        else loads(dumps(system_attrs))
                    ),
                ),
                self._by_id[trial_id][0],
            )

    def _owned(self, trial_id: int, status: TrialStatus, worker: str | None) -> Trial | None:
        if trial_id not in self._by_id:
            raise TrialNotFoundError(f"no trial with id {trial_id} in store {self.url!r}")
        trial = self._get(trial_id)
        if trial.status is not status or (worker is not None and trial.worker != worker):
            return None
        return trial

    def pause_trial(
        self,
        trial_id: int,
        *,
        worker: str,
        metrics: dict[str, float],
        value: float | None,
        reports: Sequence[Report] = (),
        system_attrs: dict[str, Any],
    ) -> Trial | None:
        with self._lock:
            trial = self._owned(trial_id, TrialStatus.RUNNING, worker)
            if trial is None:
                return None
            if reports:
                self._reports.setdefault(trial_id, []).extend(reports)
            return self._put(
                replace(
                    trial,
                    status=TrialStatus.PAUSED,
                    metrics=dict(metrics),
                    value=value,
                    worker=None,
                    heartbeat_at=None,
                    system_attrs=loads(dumps(system_attrs)),
                ),
                self._by_id[trial_id][0],
            )

    def set_trial_system_attrs(self, trial_id: int, attrs: dict[str, Any]) -> None:
        attrs = loads(dumps(attrs))
        with self._lock:
            trial = self._get(trial_id)
            self._put(replace(trial, system_attrs=attrs), self._by_id[trial_id][0])

    def repause_trial(
        self, trial_id: int, *, expected_worker: str | None, step: int,
        system_attrs: dict[str, Any],
    ) -> bool:
        with self._lock:
            if trial_id not in self._by_id:
                return False
            trial = self._get(trial_id)
            if trial.status is not TrialStatus.RUNNING or trial.worker != expected_worker:
                return False
            kept = [r for r in self._reports.get(trial_id, []) if r.step <= step]
            self._reports[trial_id] = kept
            self._put(
                replace(trial, status=TrialStatus.PAUSED, worker=None, heartbeat_at=None,
                        attempt=trial.attempt + 1, system_attrs=loads(dumps(system_attrs))),
                self._by_id[trial_id][0],
            )
            return True

    def retry_trial(
        self, trial_id: int, *, worker: str, step: int, system_attrs: dict[str, Any]
    ) -> Trial | None:
        with self._lock:
            trial = self._owned(trial_id, TrialStatus.RUNNING, worker)
            if trial is None:
                return None
            kept = [r for r in self._reports.get(trial_id, []) if r.step <= step]
            self._reports[trial_id] = kept
            return self._put(
                replace(trial, attempt=trial.attempt + 1, heartbeat_at=time.time(),
                        system_attrs=loads(dumps(system_attrs))),
                self._by_id[trial_id][0],
            )

    def resume_trial(
        self, trial_id: int, *, worker: str, system_attrs: dict[str, Any]
    ) -> Trial | None:
        with self._lock:
            trial = self._owned(trial_id, TrialStatus.PAUSED, None)
            if trial is None:
                return None
            now = time.time()
            return self._put(
                replace(
                    trial,
                    status=TrialStatus.RUNNING,
                    worker=worker,
                    heartbeat_at=now,
                    system_attrs=loads(dumps(system_attrs)),
                ),
                self._by_id[trial_id][0],
            )

    def count_trials(
        self, study_id: int, *, statuses: Sequence[TrialStatus] | None = None
    ) -> int:
        with self._lock:
            trials = self._trials.get(study_id, {}).values()
            if statuses is None:
                return len(trials)
            wanted = set(statuses)
            return sum(1 for t in trials if t.status in wanted)

    def heartbeat(self, trial_ids: Sequence[int]) -> None:
        with self._lock:
            now = time.time()
            for tid in trial_ids:
                if tid not in self._by_id:  # gone (study deleted): nothing to mark
                    continue
                trial = self._get(tid)
                if trial.status is TrialStatus.RUNNING:
                    self._put(replace(trial, heartbeat_at=now), self._by_id[tid][0])

    def requeue_trial(self, trial_id: int, *, expected_worker: str | None, reason: str) -> bool:
        with self._lock:
            if trial_id not in self._by_id:
                return False
            trial = self._get(trial_id)
            if trial.status is not TrialStatus.RUNNING or trial.worker != expected_worker:
                return False
            self._reports.pop(trial_id, None)
            self._put(
                replace(
                    trial,
                    status=TrialStatus.WAITING,
                    worker=None,
                    started_at=None,
                    heartbeat_at=None,
                    attempt=trial.attempt + 1,
                    system_attrs={**trial.system_attrs, "requeued": reason},
                ),
                self._by_id[trial_id][0],
            )
            return True

    def _with_reports(self, trial: Trial) -> Trial:
        return replace(trial, reports=tuple(self._reports.get(trial.id, ())))

    def get_trials(
        self,
        study_id: int,
        *,
        statuses: Sequence[TrialStatus] | None = None,
        with_reports: bool = False,
        min_number: int | None = None,
        numbers: Sequence[int] | None = None,
    ) -> list[Trial]:
        with self._lock:
            trials = list(self._trials.get(study_id, {}).values())
            if statuses is not None:
                wanted = set(statuses)
                trials = [t for t in trials if t.status in wanted]
            if min_number is not None:
                trials = [t for t in trials if t.number >= min_number]
            if numbers is not None:
                picked = set(numbers)
                trials = [t for t in trials if t.number in picked]
            if with_reports:
                trials = [self._with_reports(t) for t in trials]
            return trials

    def get_trial(self, study_id: int, number: int, *, with_reports: bool = True) -> Trial:
        with self._lock:
            try:
                trial = self._trials[study_id][number]
            except KeyError:
                raise TrialNotFoundError(f"no trial number {number!r} in this study") from None
            return self._with_reports(trial) if with_reports else trial

    def set_study_searcher(self, study_id: int, spec: dict[str, Any]) -> None:
        spec = loads(dumps(spec))
        with self._lock:
            for name, record in self._studies.items():
                if record.id == study_id:
                    self._studies[name] = replace(record, searcher=spec)

    def set_study_scheduler(self, study_id: int, spec: dict[str, Any]) -> None:
        spec = loads(dumps(spec))
        with self._lock:
            for name, record in self._studies.items():
                if record.id == study_id:
                    self._studies[name] = replace(record, scheduler=spec)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        value = loads(json_value(key, value))
        with self._lock:
            trial = self._get(trial_id)
            self._put(
                replace(trial, user_attrs={**trial.user_attrs, key: value}),
                self._by_id[trial_id][0],
            )

    # --------------------------------------------------------------- environments

    def save_environment(self, card_hash: str, card: dict[str, Any]) -> None:
        encoded = loads(json_value("environment", card))
        with self._lock:
            self._environments.setdefault(str(card_hash), encoded)

    def get_environment(self, card_hash: str) -> dict[str, Any] | None:
        with self._lock:
            card = self._environments.get(str(card_hash))
            return None if card is None else copy.deepcopy(card)

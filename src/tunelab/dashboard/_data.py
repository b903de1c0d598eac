"""What the dashboard shows, read from a store (never through a Study: opening one would
rebuild its searcher and scheduler on every request).

Trials of a study are cached for a short time (``ttl`` seconds), so that a page polling
several endpoints while a study runs reads the store once per refresh, not once per plot.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunelab._errors import InvalidArgumentError
from tunelab.space import Space
from tunelab.store import Store
from tunelab.store._base import StudyRecord
from tunelab.trial import Trial, TrialStatus

__all__ = ["StudyData", "StoreReader", "trial_row"]


@dataclass
class StudyData:
    """A study's record, space and trials (without reports) as of ``read_at``."""

    record: StudyRecord
    space: Space
    trials: list[Trial]
    read_at: float

    @property
    def by_number(self) -> dict[int, Trial]:
        return {t.number: t for t in self.trials}


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def trial_row(t: Trial) -> dict[str, Any]:
    """One trial as a row of the trial table (no reports)."""
    return {
        "number": t.number,
        "status": t.status.value,
        "value": _finite(t.value),
        "metrics": {k: _finite(v) for k, v in t.metrics.items()},
        "config": t.config,
        "started_at": t.started_at,
        "finished_at": t.finished_at,
        "duration": t.duration,
        "attempt": t.attempt,
        "error": t.error,
        "resource": t.system_attrs.get("resource"),
        "step": t.system_attrs.get("step"),
        "bracket": t.system_attrs.get("bracket"),
        "purpose": t.system_attrs.get("purpose"),
        "rerun_of": t.system_attrs.get("rerun_of"),
    }


_UNFINISHED = (TrialStatus.WAITING, TrialStatus.RUNNING, TrialStatus.PAUSED)


class StoreReader:
    """Cached, read-only access to a store's studies for the dashboard.

    A finished trial's status, values and reports do not change, so a refresh reads only
    the trials added since the last one and those that were not finished then; a study of
    10,000 trials costs a full read once (attributes set later on a finished trial show on
    its own page, which reads the store). While one request refreshes a study, others get
    the copy they already have. Reports of finished trials are kept once read (learning
    curves).
    """

    def __init__(self, store: Store, *, ttl: float = 1.0) -> None:
        self.store = store
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, StudyData] = {}
        self._busy: set[str] = set()
        self._reports: dict[str, dict[int, Trial]] = {}
        self._memo: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._computing: set[tuple[str, str]] = set()

    def studies(self) -> list[dict[str, Any]]:
        out = []
        for s in self.store.list_studies():
            single = len(s.objectives) <= 1
            out.append({
                "name": s.name, "metric": s.metric, "direction": s.direction,
                "objectives": [list(p) for p in s.objectives],
                "n_trials": s.n_trials, "counts": s.counts,
                # several objectives have a front, not one best value
                "best_value": _finite(s.best_value) if single else None,
                "created_at": s.created_at, "last_update": s.last_update,
            })
        return out

    def study(self, name: str, *, fresh: bool = False) -> StudyData:
        """The study ``name`` (raises StudyNotFoundError), refreshed when older than
        ``ttl`` seconds (unless another request is refreshing it right now)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None and not fresh and (
                now - cached.read_at < self.ttl or name in self._busy
            ):
                return cached
            self._busy.add(name)
        try:
            data = self._read(name, cached)
        finally:
            with self._lock:
                self._busy.discard(name)
        with self._lock:
            self._cache[name] = data
            if len(self._cache) > 64:  # many studies: keep the recent ones
                oldest = min(self._cache, key=lambda k: self._cache[k].read_at)
                self._cache.pop(oldest, None)
                self._reports.pop(oldest, None)
                for key in [k for k in self._memo if k[0] == oldest]:
                    del self._memo[key]
        return data

    def _read(self, name: str, cached: StudyData | None) -> StudyData:
        record = self.store.get_study(name)
        if cached is None or (cached.record.id, cached.record.created_at) != (
            record.id, record.created_at
        ):  # new, or deleted and made again (SQLite may reuse the id)
            with self._lock:  # nothing of an older study of that name may be reused
                self._reports.pop(name, None)
                for key in [k for k in self._memo if k[0] == name]:
                    del self._memo[key]
            trials = self.store.get_trials(record.id)
            return StudyData(record, Space.from_dict(record.space), trials, time.monotonic())
        known = {t.number: t for t in cached.trials}
        top = max(known, default=-1)
        open_before = [n for n, t in known.items() if t.status in _UNFINISHED]
        for t in self.store.get_trials(record.id, min_number=top + 1):
            known[t.number] = t
        if open_before:
            for t in self.store.get_trials(record.id, numbers=open_before):
                known[t.number] = t
        trials = [known[n] for n in sorted(known)]
        return StudyData(record, cached.space, trials, time.monotonic())

    def trial(self, name: str, number: int) -> Trial:
        record = self.study(name).record
        return self.store.get_trial(record.id, number, with_reports=True)

    def trials_with_reports(self, name: str, numbers: Sequence[int]) -> list[Trial]:
        """Trials ``numbers`` with their reports; finished ones come from memory after
        their first read."""
        data = self.study(name)
        status = {t.number: t.status for t in data.trials}
        with self._lock:
            kept = self._reports.setdefault(name, {})
            have = {n: kept[n] for n in numbers if n in kept}
        missing = [n for n in numbers if n not in have]
        if missing:
            for t in self.store.get_trials(data.record.id, numbers=missing,
                                           with_reports=True):
                have[t.number] = t
                if t.status.is_finished and status.get(t.number, t.status).is_finished:
                    with self._lock:
                        kept[t.number] = t
        return [have[n] for n in numbers if n in have]

    def memo(self, name: str, key: str, version: Any, compute: Any) -> Any:
        """``compute()``, remembered for study ``name`` while ``version`` is unchanged
        (e.g. the number of complete trials, for importance)."""
        with self._lock:
            hit = self._memo.get((name, key))
            if hit is not None and (hit[0] == version or (name, key) in self._computing):
                return hit[1]  # current, or being recomputed by another request
            self._computing.add((name, key))
        try:
            value = compute()
        finally:
            with self._lock:
                self._computing.discard((name, key))
        with self._lock:
            self._memo[(name, key)] = (version, value)
        return value


def sort_and_filter(
    trials: Sequence[Trial],
    *,
    status: str | None = None,
    sort: str = "number",
    order: str = "asc",
    query: str | None = None,
) -> list[Trial]:
    """The trial table's rows: filtered by status and a text query (on the config and
    error), sorted by ``number``, ``value``, ``duration``, ``status``, ``config.NAME`` or
    ``metrics.NAME`` (missing values last)."""
    rows = list(trials)
    if status:
        wanted = {s.strip().upper() for s in status.split(",") if s.strip()}
        unknown = wanted - {s.value for s in TrialStatus}
        if unknown:
            raise InvalidArgumentError(
                f"unknown status {sorted(unknown)}; allowed: {[s.value for s in TrialStatus]}")
        rows = [t for t in rows if t.status.value in wanted]
    if query:
        q = query.lower()
        rows = [t for t in rows if q in str(t.config).lower() or q in (t.error or "").lower()
                or q == str(t.number)]
    if order not in ("asc", "desc"):
        raise InvalidArgumentError(f"`order` must be 'asc' or 'desc'; got {order!r}")

    def key_of(t: Trial) -> Any:
        if sort == "number":
            return t.number
        if sort == "value":
            return t.value
        if sort == "duration":
            return t.duration
        if sort == "status":
            return t.status.value
        if sort.startswith("config."):
            return t.config.get(sort[7:])
        if sort.startswith("metrics."):
            return t.metrics.get(sort[8:])
        raise InvalidArgumentError(
            f"cannot sort by {sort!r}; use number, value, duration, status, config.NAME or "
            "metrics.NAME")

    keyed = [(key_of(t), t) for t in rows]
    present = [(k, t) for k, t in keyed if k is not None and not (
        isinstance(k, float) and math.isnan(k))]
    missing = [t for k, t in keyed if k is None or (isinstance(k, float) and math.isnan(k))]
    try:
        present.sort(key=lambda kt: (kt[0], kt[1].number), reverse=order == "desc")
    except TypeError:  # mixed types (a categorical of numbers and strings)
        present.sort(key=lambda kt: (str(kt[0]), kt[1].number), reverse=order == "desc")
    return [t for _, t in present] + missing

"""The store interface: the durable record of studies, trials and their reports.

Only the study writes to a store; searchers and schedulers read the history it hands them.
Every backend passes the same conformance suite (``tests/test_store_conformance.py``).
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunelab._errors import InvalidArgumentError
from tunelab.trial import Report, Trial, TrialStatus

__all__ = ["SCHEMA_VERSION", "Store", "StudyRecord", "StudySummary", "dumps", "loads"]

#: The schema version this tunelab writes. Stores with a newer version are refused; older
#: ones are upgraded in place when opened (version 2 added the studies' ``objectives``,
#: version 3 the environment cards).
SCHEMA_VERSION = 3

#: A study's objectives: ``((metric, direction), ...)``, the primary one first.
Objectives = tuple[tuple[str, str], ...]


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} {obj!r} cannot be stored as JSON")


def dumps(obj: Any) -> str:
    """Serialise to compact JSON (no NaN/inf: they are not JSON)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=_default)


def json_value(key: str, value: Any) -> str:
    """Encode a user attribute, or raise InvalidArgumentError naming it."""
    try:
        return dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"user attribute {key!r} must be JSON data (numbers, strings, lists, dicts); {exc}"
        ) from None


def json_attrs(attrs: dict[str, Any] | None) -> str:
    """Encode a dict of user attributes, or raise InvalidArgumentError naming the bad key."""
    attrs = dict(attrs or {})
    try:
        return dumps(attrs)
    except (TypeError, ValueError) as exc:
        for key, value in attrs.items():
            json_value(str(key), value)
        raise InvalidArgumentError(
            f"user attributes must map strings to JSON data; got {attrs!r:.200} ({exc})"
        ) from None


def loads(text: str | None) -> Any:
    """Parse JSON from the store (never pickle)."""
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class StudyRecord:
    """A study as stored: its name, target, space and searcher specs.

    ``objectives`` lists every target metric with its direction, the primary one
    (``metric``, ``direction``) first; a single-objective study has just that one.
    """

    id: int
    name: str
    metric: str
    direction: str
    space: dict[str, Any]
    searcher: dict[str, Any] = field(default_factory=dict)
    scheduler: dict[str, Any] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    objectives: Objectives = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "objectives", as_objectives(self.metric, self.direction, self.objectives)
        )


@dataclass(frozen=True)
class StudySummary:
    """One line of the studies list."""

    name: str
    metric: str
    direction: str
    n_trials: int
    counts: dict[str, int]
    best_value: float | None  # of the primary metric
    created_at: float
    last_update: float | None
    objectives: Objectives = ()


def check_direction(direction: str) -> str:
    d = {"min": "min", "minimize": "min", "max": "max", "maximize": "max"}.get(
        str(direction).lower()
    )
    if d is None:
        raise InvalidArgumentError(
            f"`direction` must be 'min' or 'max' (or 'minimize'/'maximize'); got {direction!r}"
        )
    return d


def as_objectives(metric: str, direction: str, objectives: Any = None) -> Objectives:
    """``objectives`` (pairs of metric and direction, e.g. parsed from JSON) as a tuple of
    tuples, or ``((metric, direction),)`` when there are none. The first must be
    (``metric``, ``direction``)."""
    if not objectives:
        return ((metric, direction),)
    try:
        pairs = tuple((str(m), str(d)) for m, d in objectives)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"`objectives` must be pairs of (metric, direction); got {objectives!r}"
        ) from None
    if pairs[0] != (metric, direction):
        raise InvalidArgumentError(
            f"the first objective must be the study's metric and direction "
            f"{(metric, direction)!r}; got {pairs[0]!r}"
        )
    return pairs


def better(direction: str, a: float, b: float) -> bool:
    """Whether ``a`` is strictly better than ``b``."""
    return a < b if direction == "min" else a > b


def best_of(values: Sequence[float | None], direction: str) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None
    return min(vals) if direction == "min" else max(vals)


class Store(ABC):
    """Abstract store. Backends: :class:`MemoryStore` and :class:`SQLStore`
    (SQLite file by default, PostgreSQL by URL)."""

    url: str

    # --------------------------------------------------------------- studies

    @abstractmethod
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
        """Create a study; if one by that name exists (another process won a race),
        return the existing one. ``objectives`` (default: the one ``metric`` and
        ``direction``) starts with (``metric``, ``direction``)."""

    @abstractmethod
    def get_study(self, name: str) -> StudyRecord:
        """Raise :class:`StudyNotFoundError` when there is none."""

    @abstractmethod
    def list_studies(self) -> list[StudySummary]: ...

    @abstractmethod
    def delete_study(self, name: str) -> None: ...

    @abstractmethod
    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None: ...

    @abstractmethod
    def set_study_searcher(self, study_id: int, spec: dict[str, Any]) -> None:
        """Record the searcher a resumed study continues with."""

    @abstractmethod
    def set_study_scheduler(self, study_id: int, spec: dict[str, Any]) -> None:
        """Record the scheduler a resumed study continues with."""

    # --------------------------------------------------------------- trials

    @abstractmethod
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
        """Insert a trial with the next free number (unique under concurrency).

        A trial created finished (COMPLETE, STOPPED: a warm start from another study)
        carries its ``metrics`` and ``value`` and is stamped finished now."""

    @abstractmethod
    def claim_waiting(self, study_id: int, worker: str) -> Trial | None:
        """Atomically move the lowest-numbered WAITING trial to RUNNING; None if none."""

    @abstractmethod
    def add_reports(self, trial_id: int, reports: Sequence[Report]) -> None:
        """Append per-step reports (one batch, one transaction)."""

    @abstractmethod
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
        """Record a trial's end and any last reports in one transaction.

        With ``worker``, only a trial still RUNNING under that worker is finished; if it
        was taken over meanwhile (requeued, finished elsewhere) nothing is written and
        None is returned, so a result can never overwrite another driver's.
        ``system_attrs``, when given, replaces the trial's system attributes."""

    @abstractmethod
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
        """Move a RUNNING trial owned by ``worker`` to PAUSED with its metrics so far and
        any last reports (one transaction). None if it was taken over meanwhile."""

    @abstractmethod
    def set_trial_system_attrs(self, trial_id: int, attrs: dict[str, Any]) -> None:
        """Replace a trial's system attributes (scheduler bookkeeping)."""

    @abstractmethod
    def repause_trial(
        self, trial_id: int, *, expected_worker: str | None, step: int,
        system_attrs: dict[str, Any],
    ) -> bool:
        """Put a RUNNING trial owned by ``expected_worker`` that was resumed from a pause
        back to PAUSED (``attempt`` + 1), dropping the reports after ``step`` (those of
        the interrupted run). False if the trial moved on meanwhile."""

    @abstractmethod
    def retry_trial(
        self, trial_id: int, *, worker: str, step: int, system_attrs: dict[str, Any]
    ) -> Trial | None:
        """Start a RUNNING trial owned by ``worker`` over in place after its run was lost
        (a worker process or node died): ``attempt`` + 1, the reports after ``step`` (the
        checkpoint it restarts from) dropped, the heartbeat renewed, all in one
        transaction. None if the trial is no longer this worker's."""

    @abstractmethod
    def resume_trial(
        self, trial_id: int, *, worker: str, system_attrs: dict[str, Any]
    ) -> Trial | None:
        """Atomically move a PAUSED trial to RUNNING under ``worker`` (so exactly one
        driver resumes it); None if it is no longer PAUSED."""

    @abstractmethod
    def count_trials(
        self, study_id: int, *, statuses: Sequence[TrialStatus] | None = None
    ) -> int:
        """How many trials the study holds (with one of ``statuses``, when given)."""

    @abstractmethod
    def heartbeat(self, trial_ids: Sequence[int]) -> None:
        """Mark running trials as alive now."""

    @abstractmethod
    def requeue_trial(self, trial_id: int, *, expected_worker: str | None, reason: str) -> bool:
        """Put a RUNNING trial owned by ``expected_worker`` back to WAITING (its reports
        dropped, ``attempt`` + 1). Returns False if the trial moved on meanwhile."""

    @abstractmethod
    def get_trials(
        self,
        study_id: int,
        *,
        statuses: Sequence[TrialStatus] | None = None,
        with_reports: bool = False,
        min_number: int | None = None,
        numbers: Sequence[int] | None = None,
    ) -> list[Trial]:
        """Trials of a study ordered by number: those with one of ``statuses``, a number
        of at least ``min_number``, a number among ``numbers`` (each when given)."""

    @abstractmethod
    def get_trial(self, study_id: int, number: int, *, with_reports: bool = True) -> Trial:
        """Raise :class:`TrialNotFoundError` when there is none."""

    @abstractmethod
    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None: ...

    # --------------------------------------------------------------- environments

    @abstractmethod
    def save_environment(self, card_hash: str, card: dict[str, Any]) -> None:
        """Store an environment card under its hash (nothing happens when one is
        already stored under that hash)."""

    @abstractmethod
    def get_environment(self, card_hash: str) -> dict[str, Any] | None:
        """The card stored under ``card_hash``; None when there is none."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

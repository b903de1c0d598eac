"""Trials: the record of one run, its per-step reports, and the handle an objective gets."""

from __future__ import annotations

import contextlib
import enum
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunelab._checkpoint import CheckpointFolder
from tunelab._errors import TrialError
from tunelab.space import Config

__all__ = [
    "Decision",
    "Report",
    "Trial",
    "TrialHandle",
    "TrialStatus",
    "check_metrics",
    "final_metrics",
]


class TrialStatus(str, enum.Enum):
    """Where a trial stands. ``WAITING`` trials are queued configurations not yet started."""

    WAITING = "WAITING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETE = "COMPLETE"
    STOPPED = "STOPPED"
    FAILED = "FAILED"

    @property
    def is_finished(self) -> bool:
        return self in (TrialStatus.COMPLETE, TrialStatus.STOPPED, TrialStatus.FAILED)

    def __str__(self) -> str:
        return self.value


class Decision(str, enum.Enum):
    """A scheduler's answer to a report: go on, pause (to be resumed later), or stop."""

    CONTINUE = "CONTINUE"
    PAUSE = "PAUSE"
    STOP = "STOP"


@dataclass(frozen=True)
class Report:
    """Metrics a trial reported at one step (epoch, boosting round, ...)."""

    step: int
    metrics: dict[str, float]
    time: float = 0.0


@dataclass(frozen=True)
class Trial:
    """The stored record of a trial. ``value`` is the target metric's final value."""

    number: int
    status: TrialStatus
    config: Config
    metrics: dict[str, float] = field(default_factory=dict)
    value: float | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    traceback: str | None = None
    worker: str | None = None
    heartbeat_at: float | None = None
    attempt: int = 1
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    reports: tuple[Report, ...] = ()
    id: int = 0

    @property
    def is_rerun(self) -> bool:
        """Whether this trial reran a configuration with a given seed outside the search
        (``tunelab repro``, ``seeds``, ``sensitivity``): results and searchers leave such
        trials out, :attr:`Study.trials` lists them."""
        return self.system_attrs.get("scheduler") == "rerun"

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, when both are known."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def to_record(self) -> dict[str, Any]:
        """A flat, JSON-ready dict (config as ``config.NAME``, metrics as ``metrics.NAME``)."""
        out: dict[str, Any] = {
            "number": self.number,
            "status": self.status.value,
            "value": self.value,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "error": self.error,
        }
        out.update({f"config.{k}": v for k, v in self.config.items()})
        out.update({f"metrics.{k}": v for k, v in self.metrics.items()})
        out.update({f"user_attrs.{k}": v for k, v in self.user_attrs.items()})
        return out


def _as_float(name: str, value: object, where: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TrialError(
            f"metric '{name}' {where} must be a real number; got {type(value).__name__} {value!r}"
        )
    f = float(value)
    if not math.isfinite(f):
        raise TrialError(f"metric '{name}' {where} must be finite; got {f!r}")
    return f


def check_metrics(metrics: Mapping[str, object], where: str) -> dict[str, float]:
    """Validate reported or returned metrics: names are strings, values finite numbers."""
    out: dict[str, float] = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not name:
            raise TrialError(f"metric names must be non-empty strings; got {name!r} {where}")
        out[name] = _as_float(name, value, where)
    return out


def final_metrics(result: object, reported: Mapping[str, float], metric: str) -> dict[str, float]:
    """Turn what an objective returned into the trial's final metrics.

    A number is the target metric; a dict holds several metrics; ``None`` means "use what
    was reported". The last reported value of every metric is kept unless the result
    overrides it. Raises :class:`TrialError` naming the bad value.
    """
    out = dict(reported)
    if result is None:
        if metric not in out:
            raise TrialError(
                f"the objective returned None and never reported the target metric "
                f"{metric!r}; return a number or a dict with {metric!r}, or report it"
            )
        return out
    if isinstance(result, Mapping):
        out.update(check_metrics(result, "returned by the objective"))
        if metric not in out:
            raise TrialError(
                f"the objective returned metrics {sorted(result)} without the target metric "
                f"{metric!r}"
            )
        return out
    if isinstance(result, (bool, np.bool_)) or not isinstance(
        result, (int, float, np.integer, np.floating)
    ):
        raise TrialError(
            f"the objective returned {type(result).__name__} {result!r:.200}; it must return "
            f"a number, a dict of metrics including {metric!r}, or None after reporting "
            f"{metric!r}"
        )
    out[metric] = _as_float(metric, result, "returned by the objective")
    return out


Reporter = Callable[[int, dict[str, float]], Decision]


class TrialHandle(dict[str, Any]):
    """What an objective receives: the configuration (it *is* the config dict) plus the
    means to report progress.

    An objective that only needs the configuration treats it as a dict; one that trains
    step by step calls :meth:`report` and looks at the returned :class:`Decision`.

    >>> from tunelab import Float, Space, Study
    >>> def objective(trial):
    ...     for epoch in range(3):
    ...         trial.report(epoch, loss=(trial["x"] - 0.3) ** 2 / (epoch + 1))
    ...     return {"loss": (trial["x"] - 0.3) ** 2 / 3}
    >>> study = Study("doc-handle", Space(x=Float(0, 1)), metric="loss", store="memory")
    >>> study.optimize(objective, n_trials=3)
    >>> len(study.trial(0).reports)
    3
    """

    def __init__(
        self,
        config: Config,
        *,
        number: int,
        seed: int,
        reporter: Reporter | None = None,
        study_name: str = "",
        resource: int | None = None,
        fidelity: Mapping[str, float | int] | None = None,
        trial_dir: str | os.PathLike[str] | None = None,
        keep_checkpoints: int = 1,
        last_step: int = 0,
    ) -> None:
        super().__init__(config)
        self.number = number
        self.seed = seed
        self.study_name = study_name
        #: The resource this run may use, up to and including (e.g. train until this
        #: epoch); None when the scheduler sets no limit.
        self.resource = resource
        #: The value of every fidelity axis at :attr:`resource` (see :class:`tunelab.Axis`).
        self.fidelity: dict[str, float | int] = dict(fidelity or {})
        #: The trial's own folder for artifacts and checkpoints (None outside a study).
        self.trial_dir = None if trial_dir is None else Path(trial_dir)
        #: The step of the checkpoint this run resumed from (0 when it started fresh).
        self.resumed_from = 0
        self._keep = keep_checkpoints
        self._reporter = reporter
        self._last: dict[str, float] = {}
        self._last_step = last_step  # a resumed run starts where the trial paused
        self._decision = Decision.CONTINUE

    @property
    def config(self) -> Config:
        """The configuration as a plain dict."""
        return dict(self)

    @property
    def last_metrics(self) -> dict[str, float]:
        """The latest value of every metric reported so far."""
        return dict(self._last)

    @property
    def should_stop(self) -> bool:
        """Whether the scheduler asked this trial to stop (or pause) at the last report."""
        return self._decision is not Decision.CONTINUE

    @property
    def decision(self) -> Decision:
        """The scheduler's answer to the last report."""
        return self._decision

    # ------------------------------------------------------------------ checkpoints

    def _checkpoints(self) -> CheckpointFolder:
        if self.trial_dir is None:
            raise TrialError(
                "this trial has no artifact folder, so it cannot keep checkpoints; run it "
                "through Study.optimize or Study.ask"
            )
        return CheckpointFolder(self.trial_dir, keep=self._keep)

    def save_checkpoint(self, state: Mapping[str, Any], *, step: int | None = None) -> None:
        """Save a dict of JSON values and NumPy arrays as the checkpoint of ``step`` (by
        default the last reported step). Only the newest checkpoints are kept."""
        self._checkpoints().save(state, self._last_step if step is None else step)

    @contextlib.contextmanager
    def checkpoint(self, *, step: int | None = None) -> Iterator[Path]:
        """A folder to write your own checkpoint files into (``torch.save`` ...); it
        becomes the latest checkpoint when the ``with`` block ends without error.

        >>> import tempfile
        >>> trial = TrialHandle({}, number=0, seed=0, trial_dir=tempfile.mkdtemp())
        >>> with trial.checkpoint(step=2) as folder:
        ...     _ = (folder / "weights.txt").write_text("1 2 3")
        >>> (trial.latest_checkpoint() / "weights.txt").read_text(), trial.resumed_from
        ('1 2 3', 2)
        """
        with self._checkpoints().write(self._last_step if step is None else step) as folder:
            yield folder

    def latest_checkpoint(self) -> Path | None:
        """The folder of the newest checkpoint, or None; sets :attr:`resumed_from`."""
        folder = self._checkpoints()
        step = folder.latest_step()
        if step is None:
            return None
        self.resumed_from = step
        self._last_step = max(self._last_step, step)
        return folder.path(step)

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The newest state saved with :meth:`save_checkpoint`, or None; sets
        :attr:`resumed_from` to its step."""
        folder = self._checkpoints()
        state = folder.load()
        if state is not None:
            self.resumed_from = folder.latest_step() or 0
            self._last_step = max(self._last_step, self.resumed_from)
        return state

    def report(self, step: int, **metrics: float) -> Decision:
        """Record ``metrics`` at ``step`` (an int >= 0) and return the scheduler's decision."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise TrialError(f"`step` must be an integer >= 0; got {step!r}")
        if not metrics:
            raise TrialError(f"report(step={step}) needs at least one metric, e.g. loss=0.1")
        clean = check_metrics(metrics, f"reported at step {step}")
        self._last.update(clean)
        self._last_step = int(step)
        if self._reporter is not None:
            self._decision = self._reporter(int(step), clean)
        return self._decision

    def __repr__(self) -> str:
        return f"TrialHandle(number={self.number}, config={dict(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # hand plain data across processes
        return (dict, (dict(self),))

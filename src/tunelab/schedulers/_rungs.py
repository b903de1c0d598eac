"""Rung bookkeeping shared by successive halving, Hyperband and ASHA.

A *bracket* is a ladder of rungs: resources ``R·η^(i-s)`` for ``i = 0..s`` (rounded up to
whole steps), ending at the maximum resource ``R``. Hyperband (Li et al., JMLR 2018)
runs brackets ``s = s_max .. 0`` with ``s_max = floor(log_η(R / r_min))``; bracket ``s``
starts ``n = ceil((s_max+1)/(s+1) · η^s)`` configurations, and its rung ``i`` keeps
``floor(n · η^-i)`` of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tunelab.schedulers._base import Grant, Scheduler, check_eta, check_resources
from tunelab.trial import Report, Trial, TrialStatus

__all__ = ["BracketPlan", "hyperband_plan", "ladder", "max_rate", "successive_halving_plan"]

_EPS = 1e-9


def max_rate(min_resource: int, max_resource: int, eta: float) -> int:
    """``s_max = floor(log_η(R / r_min))``: the most aggressive bracket's index."""
    return math.floor(math.log(max_resource / min_resource) / math.log(eta) + _EPS)


def ladder(max_resource: int, eta: float, s: int) -> list[int]:
    """The ``s + 1`` rung resources of bracket ``s``, lowest first, ending at ``R``.

    >>> ladder(81, 3, 4)
    [1, 3, 9, 27, 81]
    >>> ladder(100, 2, 2)
    [25, 50, 100]
    """
    rungs: list[int] = []
    for i in range(s + 1):
        r = math.ceil(max_resource * eta ** (i - s) - _EPS)
        if not rungs or r > rungs[-1]:
            rungs.append(r)
    return rungs


@dataclass(frozen=True)
class BracketPlan:
    """One bracket of successive halving: ``rungs[i]`` configurations get ``resources[i]``."""

    s: int
    resources: tuple[int, ...]
    configs: tuple[int, ...]


def successive_halving_plan(n: int, max_resource: int, eta: float, s: int) -> BracketPlan:
    """``n`` configurations at ``R·η^-s``, the best ``floor(n·η^-i)`` (at least 1) at rung i.

    >>> successive_halving_plan(16, 100, 2, 2)
    BracketPlan(s=2, resources=(25, 50, 100), configs=(16, 8, 4))
    """
    resources = ladder(max_resource, eta, s)
    configs = tuple(max(1, math.floor(n * eta ** (-i) + _EPS)) for i in range(len(resources)))
    return BracketPlan(s, tuple(resources), configs)


def hyperband_plan(min_resource: int, max_resource: int, eta: float) -> list[BracketPlan]:
    """The brackets of one Hyperband iteration, ``s = s_max`` down to 0.

    >>> [(b.configs, b.resources) for b in hyperband_plan(1, 81, 3)][:2]
    [((81, 27, 9, 3, 1), (1, 3, 9, 27, 81)), ((34, 11, 3, 1), (3, 9, 27, 81))]
    """
    s_max = max_rate(min_resource, max_resource, eta)
    plans = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * eta**s - _EPS)
        plans.append(successive_halving_plan(n, max_resource, eta, s))
    return plans


@dataclass
class Track:
    """What a rung scheduler knows of one trial."""

    number: int
    bracket: int
    rungs: Sequence[int]
    next_rung: int = 0  # index of the first rung not reached yet
    score: float | None = None  # latest target value, lower is better
    state: str = "running"  # running | paused | done
    grant: int | None = None

    @property
    def reached(self) -> int:
        """Index of the highest rung reached (-1: none)."""
        return self.next_rung - 1


class RungScheduler(Scheduler):
    """Common ground of the rung-based schedulers: resource range, η, per-trial tracks,
    and the crossing of rung milestones by reports."""

    needs_history = True
    min_resource: int
    max_resource: int

    def __init__(self, min_resource: int, max_resource: int, eta: float) -> None:
        self.min_resource, self.max_resource = check_resources(min_resource, max_resource)
        checked = check_eta(eta)
        self.eta: float = eta if isinstance(eta, int) else checked
        self.s_max = max_rate(self.min_resource, self.max_resource, self.eta)
        self.tracks: dict[int, Track] = {}

    # ------------------------------------------------------------------ per bracket

    def bracket_rungs(self, bracket: int) -> Sequence[int]:
        """The rung resources of ``bracket``."""
        raise NotImplementedError

    def record(self, track: Track, rung: int, score: float) -> None:
        """``track`` reached ``rung`` with ``score``."""

    def valid_bracket(self, bracket: object) -> bool:
        return isinstance(bracket, int) and not isinstance(bracket, bool) and bracket >= 0

    def default_bracket(self) -> int:
        return 0

    # ------------------------------------------------------------------ reports

    def crossings(self, track: Track, report: Report) -> list[int]:
        """Note the report's value; return the indices of the rungs it reaches."""
        value = report.metrics.get(self.metric)
        if value is not None:
            track.score = self.score(value)
        if track.score is None:
            return []  # no value to rank yet: the rung counts once the target arrives
        reached = []
        while track.next_rung < len(track.rungs) and report.step >= track.rungs[track.next_rung]:
            rung = track.next_rung
            track.next_rung += 1
            self.record(track, rung, track.score)
            reached.append(rung)
        return reached

    def track(self, trial: Trial, grant: Grant | None = None) -> Track:
        """The track of ``trial``, made on first sight."""
        found = self.tracks.get(trial.number)
        if found is None:
            bracket = grant.bracket if grant is not None else self.bracket_of(trial)
            if not self.valid_bracket(bracket):  # e.g. a trial run under another scheduler
                bracket = self.default_bracket()
            found = Track(trial.number, bracket, self.bracket_rungs(bracket))
            self.tracks[trial.number] = found
        return found

    def restore(self, trials: Sequence[Trial]) -> None:
        """Replay the stored trials: brackets from their attributes, rung values from
        their reports, states from their statuses."""
        self.reset()
        for trial in trials:
            if trial.status is TrialStatus.WAITING or not self.owns(trial):
                continue
            grant_resource = trial.system_attrs.get("resource")
            grant = Grant(
                grant_resource if isinstance(grant_resource, int) else None,
                bracket=self.bracket_of(trial),
            )
            self.on_start(trial, grant)
            track = self.tracks[trial.number]
            for report in trial.reports:
                self.crossings(track, report)
            if trial.status is not TrialStatus.RUNNING:
                self.on_finish(trial)
        self.after_restore()

    def reset(self) -> None:
        self.tracks.clear()

    def after_restore(self) -> None:
        """Called once the history is replayed."""

    def on_finish(self, trial: Trial) -> None:
        track = self.tracks.get(trial.number)
        if track is not None:
            track.state = "paused" if trial.status is TrialStatus.PAUSED else "done"

    def spec(self) -> dict[str, object]:
        return {
            "name": self.name,
            "min_resource": self.min_resource,
            "max_resource": self.max_resource,
            "eta": self.eta,
        }

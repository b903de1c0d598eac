"""Synchronous successive halving and Hyperband (Li et al., JMLR 2018).

A bracket starts ``n`` configurations at its lowest rung. Each trial pauses when it
reaches its rung; once every trial of the rung has arrived (failed ones drop out), the
best ``floor(n·η^-(i+1))`` resume to the next rung and the others stop. While a rung
waits for stragglers, free workers start the next bracket, so no worker sits idle.
Successive halving repeats one bracket shape; Hyperband cycles through brackets
``s = s_max .. 0``.

When the study runs out of new trials (``n_trials`` reached, or the searcher is
exhausted), unfilled brackets close with the trials they have, and their rungs shrink
in proportion (at least one configuration goes on). A study resumed later fills the
brackets it left open first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tunelab._errors import InvalidArgumentError
from tunelab.schedulers._base import Grant, RungInfo
from tunelab.schedulers._rungs import (
    BracketPlan,
    RungScheduler,
    Track,
    hyperband_plan,
    successive_halving_plan,
)
from tunelab.trial import Decision, Report, Trial

__all__ = ["Hyperband", "SuccessiveHalving"]


class _SyncBracket:
    def __init__(self, index: int, plan: BracketPlan) -> None:
        self.index = index
        self.plan = plan
        self.members: list[int] = []
        self.closed = False
        self.entered: list[set[int]] = [set() for _ in plan.resources]
        self.results: list[dict[int, float]] = [{} for _ in plan.resources]
        self.settled = 0  # rungs whose promotions are decided
        self.to_resume: list[tuple[int, int]] = []  # (trial number, rung to run to)

    @property
    def full(self) -> bool:
        return len(self.members) >= self.plan.configs[0]

    def planned(self, rung: int) -> int:
        """How many configurations rung ``rung`` gets (scaled down if the bracket closed
        before it filled up)."""
        if self.full:
            return self.plan.configs[rung]
        share = self.plan.configs[rung] / self.plan.configs[0]
        return max(1, math.floor(len(self.members) * share + 1e-9))


class _SynchronousHalving(RungScheduler):
    """Brackets of synchronous successive halving; subclasses choose their shapes."""

    def __init__(self, min_resource: int, max_resource: int, eta: float) -> None:
        super().__init__(min_resource, max_resource, eta)
        self._brackets: list[_SyncBracket] = []
        self._to_stop: list[int] = []

    def plan_for(self, index: int) -> BracketPlan:
        """The shape of bracket number ``index`` (0, 1, 2, ... in order of creation)."""
        raise NotImplementedError

    def bracket_rungs(self, bracket: int) -> Sequence[int]:
        return self._bracket(bracket).plan.resources

    def _bracket(self, index: int) -> _SyncBracket:
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InvalidArgumentError(f"bracket index must be an integer >= 0; got {index!r}")
        while len(self._brackets) <= index:
            self._brackets.append(_SyncBracket(len(self._brackets),
                                               self.plan_for(len(self._brackets))))
        return self._brackets[index]

    def reset(self) -> None:
        super().reset()
        self._brackets = []
        self._to_stop = []

    # ------------------------------------------------------------------ bookkeeping

    def record(self, track: Track, rung: int, score: float) -> None:
        self._bracket(track.bracket).results[rung][track.number] = score

    def on_start(self, trial: Trial, grant: Grant) -> None:
        track = self.track(trial, grant)
        track.state, track.grant = "running", grant.resource
        bracket = self._bracket(track.bracket)
        if trial.number not in bracket.entered[0]:
            bracket.members.append(trial.number)
            bracket.entered[0].add(trial.number)
        resources = bracket.plan.resources
        if grant.resource is not None:
            for rung, r in enumerate(resources):
                if r <= grant.resource:
                    bracket.entered[rung].add(trial.number)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        track = self.track(trial)
        if not self.crossings(track, report):
            return Decision.CONTINUE
        if track.reached >= len(track.rungs) - 1:
            return Decision.STOP  # the maximum resource: done (the study marks it COMPLETE)
        if track.grant is None or report.step >= track.grant:
            return Decision.PAUSE
        return Decision.CONTINUE

    def _settle(self, bracket: _SyncBracket) -> None:
        """Decide the promotions of every rung whose trials have all arrived."""
        while bracket.settled < len(bracket.plan.resources) - 1:
            rung = bracket.settled
            if rung == 0 and not (bracket.full or bracket.closed):
                return
            entered = bracket.entered[rung]
            if any(self.tracks[n].state in ("running", "promoted") for n in entered):
                return
            # paused here, or further up when a report jumped past several rungs
            candidates = sorted(
                (bracket.results[rung][n], n)
                for n in entered
                if n in bracket.results[rung] and self.tracks[n].state == "paused"
                and self.tracks[n].reached >= rung and n not in bracket.entered[rung + 1]
            )
            wanted = bracket.planned(rung + 1) - len(bracket.entered[rung + 1])
            chosen = candidates[: max(wanted, 0)]
            for _score, number in chosen:
                bracket.entered[rung + 1].add(number)
                if self.tracks[number].reached >= rung + 1:
                    continue  # already there: it waits for that rung's decision
                bracket.to_resume.append((number, rung + 1))
                self.tracks[number].state = "promoted"
            self._to_stop.extend(n for _s, n in candidates[len(chosen):])
            bracket.settled += 1

    def next_grant(self, *, can_start: bool, resume: bool = True) -> Grant | None:
        if not can_start:
            for bracket in self._brackets:
                bracket.closed = True
        for bracket in self._brackets:
            self._settle(bracket)
            if bracket.to_resume and resume:
                number, rung = bracket.to_resume.pop(0)
                return Grant(bracket.plan.resources[rung], trial=number, bracket=bracket.index)
        if not can_start:
            return None
        for bracket in self._brackets:
            if not bracket.closed and not bracket.full:
                return Grant(bracket.plan.resources[0], bracket=bracket.index)
        bracket = self._bracket(len(self._brackets))
        return Grant(bracket.plan.resources[0], bracket=bracket.index)

    def drop_paused(self) -> list[int]:
        dropped, self._to_stop = self._to_stop, []
        for number in dropped:
            self.tracks[number].state = "done"
        return dropped

    def rungs(self) -> list[RungInfo]:
        brackets = self._brackets or [self._preview(i) for i in range(self._period())]
        return [
            RungInfo(b.index, r, b.planned(i) if b.members else b.plan.configs[i])
            for b in brackets
            for i, r in enumerate(b.plan.resources)
        ]

    def _period(self) -> int:
        return 1

    def _preview(self, index: int) -> _SyncBracket:
        return _SyncBracket(index, self.plan_for(index))


class SuccessiveHalving(_SynchronousHalving):
    """Synchronous successive halving with reduction factor ``eta``.

    Each bracket starts ``n_configs`` configurations at ``max_resource·η^-s`` (the lowest
    rung at or above ``min_resource``); the best ``1/η`` go on to each next rung. By
    default ``n_configs = η^s``, so one configuration reaches the maximum resource.

    >>> sh = SuccessiveHalving(min_resource=25, max_resource=100, eta=2, n_configs=16)
    >>> [(r.resource, r.planned) for r in sh.rungs()]
    [(25, 16), (50, 8), (100, 4)]
    """

    name = "successive_halving"

    def __init__(
        self,
        min_resource: int = 1,
        max_resource: int = 81,
        eta: float = 3,
        *,
        n_configs: int | None = None,
    ) -> None:
        super().__init__(min_resource, max_resource, eta)
        if n_configs is not None and (
            isinstance(n_configs, bool) or not isinstance(n_configs, int) or n_configs < 1
        ):
            raise InvalidArgumentError(
                f"`n_configs` must be an integer >= 1 or None; got {n_configs!r}"
            )
        self.n_configs = n_configs
        n = n_configs if n_configs is not None else math.ceil(self.eta**self.s_max - 1e-9)
        self._plan = successive_halving_plan(n, self.max_resource, self.eta, self.s_max)

    def plan_for(self, index: int) -> BracketPlan:
        return self._plan

    def spec(self) -> dict[str, object]:
        return {**super().spec(), "n_configs": self.n_configs}


class Hyperband(_SynchronousHalving):
    """Hyperband (Li et al., JMLR 2018): brackets ``s = s_max .. 0``, then again.

    >>> hb = Hyperband(min_resource=1, max_resource=81, eta=3)
    >>> [(r.bracket, r.resource, r.planned) for r in hb.rungs() if r.bracket == 1]
    [(1, 3, 34), (1, 9, 11), (1, 27, 3), (1, 81, 1)]
    """

    name = "hyperband"

    def __init__(self, min_resource: int = 1, max_resource: int = 81, eta: float = 3) -> None:
        super().__init__(min_resource, max_resource, eta)
        self._plans = hyperband_plan(self.min_resource, self.max_resource, self.eta)

    def plan_for(self, index: int) -> BracketPlan:
        return self._plans[index % len(self._plans)]

    def _period(self) -> int:
        return len(self._plans)

"""Asynchronous successive halving (ASHA, Li et al., MLSys 2020) and asynchronous Hyperband.

Two forms, chosen by ``mode``:

* ``"promotion"`` (the paper's algorithm): a new trial runs to the lowest rung and
  pauses. Whenever a worker is free, the highest rung holding a paused trial in the top
  ``1/η`` of that rung's results promotes it: the trial resumes (from its checkpoint) up
  to the next rung. With nothing to promote, a new trial starts. No worker ever waits.
  Once the study may start no more trials (``n_trials`` reached, searcher exhausted), a
  rung with fewer than η results also promotes its best trial, so that a study always
  ends with a configuration trained to the maximum resource; the other paused trials
  stay PAUSED, and a later ``optimize`` can still promote them.
* ``"stopping"``: every trial is granted the maximum resource; at each rung it goes on
  only if it is in the top ``1/η`` of the results recorded there so far (the first
  arrivals always go on), else it stops.

Asynchronous Hyperband runs several ASHA brackets side by side (bracket ``s`` has its
lowest rung at ``R·η^-s``) and assigns each new trial to the bracket that is furthest
behind its Hyperband share.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from tunelab._errors import InvalidArgumentError
from tunelab.schedulers._base import Grant, RungInfo
from tunelab.schedulers._rungs import RungScheduler, Track, hyperband_plan, ladder
from tunelab.trial import Decision, Report, Trial

__all__ = ["ASHA", "AsyncHyperband"]

_MODES = ("promotion", "stopping")


class _Bracket:
    """One ASHA bracket: sorted results per rung, trials paused per rung, promotions."""

    def __init__(self, rungs: Sequence[int]) -> None:
        self.rungs = list(rungs)
        self.results: list[list[tuple[float, int]]] = [[] for _ in self.rungs]
        self.paused: list[set[int]] = [set() for _ in self.rungs]
        self.promoted: list[set[int]] = [set() for _ in self.rungs]
        self.started = 0


class ASHA(RungScheduler):
    """Asynchronous successive halving.

    Rungs are at ``R·η^-k`` (rounded up to whole steps) down to ``min_resource``.

    >>> from tunelab import ASHA, Float, Space, Study
    >>> def objective(trial):
    ...     state = trial.load_checkpoint() or {"loss": 1.0}
    ...     for epoch in range(trial.resumed_from + 1, trial.resource + 1):
    ...         state["loss"] *= 0.5 + trial["x"] / 2   # smaller x learns faster
    ...         trial.save_checkpoint(state, step=epoch)
    ...         if trial.report(epoch, loss=state["loss"]) != "CONTINUE":
    ...             break
    >>> study = Study("doc-asha", Space(x=Float(0, 1)), metric="loss", store="memory",
    ...               scheduler=ASHA(min_resource=1, max_resource=9, eta=3), seed=1)
    >>> study.optimize(objective, n_trials=9)
    >>> [study.budget().reached(r) for r in (1, 3, 9)]
    [9, 3, 1]
    """

    name = "asha"

    def __init__(
        self,
        min_resource: int = 1,
        max_resource: int = 81,
        eta: float = 3,
        *,
        mode: str = "promotion",
    ) -> None:
        super().__init__(min_resource, max_resource, eta)
        if mode not in _MODES:
            raise InvalidArgumentError(f"`mode` must be one of {list(_MODES)}; got {mode!r}")
        self.mode = mode
        self._brackets: dict[int, _Bracket] = {}
        self._setup_brackets()

    # ------------------------------------------------------------------ brackets

    def _bracket_ids(self) -> list[int]:
        """Bracket ``s`` = the number of rungs below the top."""
        return [self.s_max]

    def _weights(self) -> dict[int, float]:
        return {s: 1.0 for s in self._bracket_ids()}

    def _setup_brackets(self) -> None:
        self._brackets = {s: _Bracket(ladder(self.max_resource, self.eta, s))
                          for s in self._bracket_ids()}

    def bracket_rungs(self, bracket: int) -> Sequence[int]:
        return self._brackets[bracket].rungs

    def valid_bracket(self, bracket: object) -> bool:
        return bracket in self._brackets

    def default_bracket(self) -> int:
        return self._bracket_ids()[0]

    def reset(self) -> None:
        super().reset()
        self._setup_brackets()

    def _keep(self, n: int) -> int:
        return math.floor(n / self.eta + 1e-9)

    # ------------------------------------------------------------------ decisions

    def record(self, track: Track, rung: int, score: float) -> None:
        bisect.insort(self._brackets[track.bracket].results[rung], (score, track.number))

    def _promotable(self, bracket: _Bracket, drain: bool) -> tuple[int, int] | None:
        """The best paused trial in a top 1/η, highest rung first: (number, rung). When
        ``drain``, a rung with fewer than η results still promotes its best one."""
        for rung in range(len(bracket.rungs) - 2, -1, -1):
            if not bracket.paused[rung]:
                continue
            results = bracket.results[rung]
            keep = self._keep(len(results))
            if drain:
                keep = max(keep, 1)
            for _score, number in results[:keep]:
                if number in bracket.paused[rung]:
                    return number, rung
        return None

    def next_grant(self, *, can_start: bool, resume: bool = True) -> Grant | None:
        if self.mode == "promotion" and resume:
            for s, bracket in self._brackets.items():
                found = self._promotable(bracket, drain=not can_start)
                if found is not None:
                    number, rung = found
                    bracket.paused[rung].discard(number)
                    bracket.promoted[rung].add(number)
                    return Grant(bracket.rungs[rung + 1], trial=number, bracket=s)
        if not can_start:
            return None
        s = self._choose_bracket()
        first = self._brackets[s].rungs[0] if self.mode == "promotion" else self.max_resource
        return Grant(first, bracket=s)

    def _choose_bracket(self) -> int:
        weights = self._weights()
        return min(
            weights, key=lambda s: (self._brackets[s].started / weights[s], -s)
        )

    def on_start(self, trial: Trial, grant: Grant) -> None:
        track = self.track(trial, grant)
        track.state, track.grant = "running", grant.resource
        bracket = self._brackets[track.bracket]
        if grant.trial is None:
            bracket.started += 1
        else:  # restored or resumed: it left the rung it paused at
            for paused in bracket.paused:
                paused.discard(trial.number)

    def on_report(self, trial: Trial, report: Report) -> Decision:
        track = self.track(trial)
        reached = self.crossings(track, report)
        if not reached:
            return Decision.CONTINUE
        top = len(track.rungs) - 1
        if track.reached >= top:
            return Decision.STOP  # the maximum resource: done (the study marks it COMPLETE)
        if self.mode == "promotion":
            if track.grant is None or report.step >= track.grant:
                return Decision.PAUSE
            return Decision.CONTINUE
        bracket = self._brackets[track.bracket]
        for rung in reached:
            results = bracket.results[rung]
            rank = bisect.bisect_left(results, (track.score if track.score is not None
                                                else math.inf, track.number))
            if rank >= max(1, self._keep(len(results))):
                return Decision.STOP
            bracket.promoted[rung].add(track.number)
        return Decision.CONTINUE

    def on_finish(self, trial: Trial) -> None:
        super().on_finish(trial)
        track = self.tracks.get(trial.number)
        if track is None:
            return
        bracket = self._brackets[track.bracket]
        if track.state == "paused" and 0 <= track.reached < len(track.rungs) - 1:
            bracket.paused[track.reached].add(trial.number)
        else:
            for paused in bracket.paused:
                paused.discard(trial.number)

    def after_restore(self) -> None:
        # A trial that reached rung k+1 (or runs towards it) was promoted from rung k.
        for track in self.tracks.values():
            bracket = self._brackets[track.bracket]
            for rung in range(min(track.reached, len(track.rungs) - 1)):
                bracket.promoted[rung].add(track.number)

    def rungs(self) -> list[RungInfo]:
        return [RungInfo(s, r) for s, b in self._brackets.items() for r in b.rungs]

    def spec(self) -> dict[str, object]:
        return {**super().spec(), "mode": self.mode}


class AsyncHyperband(ASHA):
    """Asynchronous Hyperband: ASHA brackets ``s = s_max .. 0`` side by side.

    A new trial joins the bracket furthest behind its share of Hyperband's bracket sizes
    (deterministic, so a resumed study assigns the same way).

    >>> [(r.bracket, r.resource) for r in AsyncHyperband(1, 27, eta=3).rungs()]
    [(3, 1), (3, 3), (3, 9), (3, 27), (2, 3), (2, 9), (2, 27), (1, 9), (1, 27), (0, 27)]
    """

    name = "async_hyperband"

    def _bracket_ids(self) -> list[int]:
        return list(range(self.s_max, -1, -1))

    def _weights(self) -> dict[int, float]:
        plans = hyperband_plan(self.min_resource, self.max_resource, self.eta)
        return {plan.s: float(plan.configs[0]) for plan in plans}

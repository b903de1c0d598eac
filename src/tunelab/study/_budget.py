"""Budget accounting: resource consumed, and how many configurations reached each rung."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tunelab.schedulers import Scheduler
from tunelab.trial import Trial, TrialStatus

__all__ = ["BudgetSummary", "RungCount", "budget_summary", "consumed_by", "max_step_of"]


@dataclass(frozen=True)
class RungCount:
    """How many configurations of ``bracket`` reached ``resource`` (and how many the
    scheduler planned, when it plans)."""

    bracket: int
    resource: int
    planned: int | None
    reached: int


@dataclass(frozen=True)
class BudgetSummary:
    """Resource consumed by a study, in steps and in full-training equivalents.

    ``full_resource`` is the scheduler's maximum resource (or the most steps any trial
    ran); one full-training equivalent is one configuration trained that far.
    """

    consumed: float
    full_resource: int | None
    trials: int
    rungs: tuple[RungCount, ...] = ()

    @property
    def full_equivalents(self) -> float | None:
        if not self.full_resource:
            return None
        return self.consumed / self.full_resource

    def reached(self, resource: int, bracket: int | None = None) -> int:
        """Configurations that reached ``resource`` (in ``bracket``, or in all)."""
        return sum(r.reached for r in self.rungs
                   if r.resource == resource and (bracket is None or r.bracket == bracket))

    def table(self) -> str:
        """A plain-text summary, one line per rung."""
        full = self.full_equivalents
        lines = [
            f"resource consumed: {self.consumed:g} steps"
            + (f" = {full:.2f} full trainings of {self.full_resource} steps" if full else "")
            + f" over {self.trials} trials"
        ]
        if self.rungs:
            lines.append(f"{'bracket':>7}  {'resource':>8}  {'planned':>7}  {'reached':>7}")
            for r in self.rungs:
                planned = "-" if r.planned is None else str(r.planned)
                lines.append(f"{r.bracket:>7}  {r.resource:>8}  {planned:>7}  {r.reached:>7}")
        return "\n".join(lines)


def max_step_of(trial: Trial) -> int:
    """The furthest step a trial reached (reports and recorded progress)."""
    steps = [r.step for r in trial.reports]
    return max([int(trial.system_attrs.get("step", 0)), *steps])


def consumed_by(trial: Trial) -> float:
    """Steps a trial consumed: recorded at each pause and finish; for a running trial,
    plus what it reported since."""
    recorded = trial.system_attrs.get("consumed")
    if recorded is None:
        return float(max((r.step for r in trial.reports), default=0))
    extra = 0
    if trial.status is TrialStatus.RUNNING:
        extra = max(0, max((r.step for r in trial.reports), default=0)
                    - int(trial.system_attrs.get("step", 0)))
    return float(recorded) + extra


def budget_summary(trials: Sequence[Trial], scheduler: Scheduler) -> BudgetSummary:
    """The budget of ``trials`` (with their reports) under ``scheduler``'s rungs."""
    ran = [t for t in trials if t.status is not TrialStatus.WAITING]
    full = scheduler.max_resource
    if full is None:
        full = max((max_step_of(t) for t in ran), default=0) or None
    rungs = []
    for info in scheduler.rungs():
        reached = sum(
            1 for t in ran
            if scheduler.owns(t) and scheduler.bracket_of(t) == info.bracket
            and max_step_of(t) >= info.resource
        )
        rungs.append(RungCount(info.bracket, info.resource, info.planned, reached))
    return BudgetSummary(
        consumed=sum(consumed_by(t) for t in ran),
        full_resource=full,
        trials=len(ran),
        rungs=tuple(rungs),
    )

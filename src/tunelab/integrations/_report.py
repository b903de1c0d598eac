"""What every training-framework callback shares: report one metric per epoch or boosting
round to the trial, and say whether the scheduler wants the run to end."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tunelab._errors import InvalidArgumentError
from tunelab.trial import Decision

__all__ = ["StepReporter"]


class StepReporter:
    """Reports ``{metric: value}`` at a step to ``trial`` (a :class:`~tunelab.TrialHandle`)
    and remembers the scheduler's answer.

    >>> from tunelab import TrialHandle
    >>> trial = TrialHandle({}, number=0, seed=0)
    >>> reporter = StepReporter(trial, "val_loss", None, "the test")
    >>> reporter.report(1, 0.5), trial.last_metrics
    (False, {'val_loss': 0.5})
    """

    def __init__(self, trial: Any, monitor: str, metric: str | None, owner: str) -> None:
        if not callable(getattr(trial, "report", None)) or not hasattr(trial, "decision"):
            raise InvalidArgumentError(
                f"{owner} needs the tunelab trial handle the objective received; got "
                f"{type(trial).__name__} {trial!r:.80}"
            )
        for label, value in (("monitor", monitor), ("metric", metric)):
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidArgumentError(
                    f"{owner}: `{label}` must be a non-empty string; got {value!r}")
        self.trial = trial
        self.monitor = monitor
        self.metric = metric or monitor
        self.owner = owner
        #: The decision at the last report (CONTINUE before any).
        self.decision = Decision.CONTINUE

    def missing(self, available: Iterable[str]) -> InvalidArgumentError:
        """The error for a monitored metric the framework did not log."""
        return InvalidArgumentError(
            f"{self.owner}: the monitored metric {self.monitor!r} was not logged; "
            f"logged: {sorted(available)}"
        )

    def report(self, step: int, value: Any) -> bool:
        """Report ``value`` at ``step``; True when the run should end (PAUSE or STOP)."""
        # A NaN (a diverged run) is refused by the trial: TrialError fails the trial.
        self.decision = Decision(self.trial.report(int(step), **{self.metric: float(value)}))
        return self.decision is not Decision.CONTINUE

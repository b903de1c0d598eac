"""Reading a study's results: best trial, leaderboard, records, DataFrame, export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunelab._errors import TunelabError, require_extra
from tunelab.store._base import better
from tunelab.study._objectives import describe, pareto
from tunelab.trial import Trial, TrialStatus

if TYPE_CHECKING:
    from tunelab.space import Config, Space
    from tunelab.store import Store
    from tunelab.store._base import StudyRecord

__all__ = ["ResultsMixin"]


class ResultsMixin:
    """Result accessors shared by :class:`Study`; they always read the store."""

    name: str
    metric: str
    direction: str
    objectives: tuple[tuple[str, str], ...]
    space: Space
    store: Store
    _record: StudyRecord

    @property
    def trials(self) -> list[Trial]:
        """Every trial, ordered by number (without per-step reports; see :meth:`trial`)."""
        return self.store.get_trials(self._record.id)

    def trial(self, number: int) -> Trial:
        """One trial with its reports."""
        return self.store.get_trial(self._record.id, number, with_reports=True)

    def completed(self) -> list[Trial]:
        """The complete trials of the search with a value (reruns left out: see
        :attr:`Trial.is_rerun`); best trial, leaderboard and Pareto front use these."""
        return [
            t
            for t in self.store.get_trials(self._record.id, statuses=[TrialStatus.COMPLETE])
            if t.value is not None and not t.is_rerun
        ]

    @property
    def is_multi_objective(self) -> bool:
        """Whether the study has more than one objective (see :meth:`pareto_front`)."""
        return len(self.objectives) > 1

    def pareto_front(self) -> list[Trial]:
        """The complete trials that no other complete trial dominates (at least as good
        in every objective, better in one), best primary metric first. For a
        single-objective study: the trials that share the best value."""
        return pareto(self.completed(), self.objectives)

    def leaderboard(self, k: int | None = 10) -> list[Trial]:
        """The ``k`` best complete trials, best first (all when ``k`` is None); a
        multi-objective study ranks them by its primary metric."""
        done = self.completed()
        done.sort(key=lambda t: (t.value if self.direction == "min" else -t.value, t.number))  # type: ignore[operator]
        return done if k is None else done[:k]

    @property
    def best_trial(self) -> Trial:
        """The best complete trial; raises TunelabError when none has completed, and on a
        multi-objective study, which has a Pareto front instead (as Optuna does)."""
        if self.is_multi_objective:
            raise TunelabError(
                f"study {self.name!r} has {len(self.objectives)} objectives "
                f"({describe(self.objectives)}) and no single best trial; use "
                f"study.pareto_front() (or study.leaderboard() to rank by {self.metric!r})"
            )
        best: Trial | None = None
        for t in self.completed():
            if best is None or better(self.direction, t.value, best.value):  # type: ignore[arg-type]
                best = t
        if best is None:
            raise TunelabError(f"study {self.name!r} has no complete trial yet")
        return best

    @property
    def best_value(self) -> float:
        value = self.best_trial.value
        assert value is not None
        return value

    @property
    def best_config(self) -> Config:
        return dict(self.best_trial.config)

    def records(self) -> list[dict[str, Any]]:
        """Trials as flat dicts (``config.x``, ``metrics.loss``...): no pandas needed."""
        return [t.to_record() for t in self.trials]

    def to_dataframe(self) -> Any:
        """Trials as a pandas DataFrame (needs ``pip install 'tunelab[pandas]'``)."""
        pd: Any = require_extra("pandas", "pandas", "Study.to_dataframe()")
        return pd.DataFrame(self.records())

    @property
    def user_attrs(self) -> dict[str, Any]:
        return dict(self.store.get_study(self.name).user_attrs)

    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach JSON data to the study."""
        self.store.set_study_user_attr(self._record.id, key, value)

    def set_trial_user_attr(self, number: int, key: str, value: Any) -> None:
        """Attach JSON data to a trial."""
        trial = self.store.get_trial(self._record.id, number, with_reports=False)
        self.store.set_trial_user_attr(trial.id, key, value)

    def export(self) -> dict[str, Any]:
        """The whole study as JSON-ready data: ``{"study": {...}, "trials": [...]}``."""
        trials = self.store.get_trials(self._record.id, with_reports=True)
        return {
            "study": {
                "name": self.name,
                "metric": self.metric,
                "direction": self.direction,
                "objectives": [list(pair) for pair in self.objectives],
                "space": self.space.to_dict(),
                "searcher": self._record.searcher,
                "user_attrs": self.user_attrs,
                "created_at": self._record.created_at,
            },
            "trials": [
                {
                    "number": t.number,
                    "status": t.status.value,
                    "config": t.config,
                    "metrics": t.metrics,
                    "value": t.value,
                    "reports": [{"step": r.step, "metrics": r.metrics, "time": r.time}
                                for r in t.reports],
                    "created_at": t.created_at,
                    "started_at": t.started_at,
                    "finished_at": t.finished_at,
                    "duration": t.duration,
                    "attempt": t.attempt,
                    "error": t.error,
                    "traceback": t.traceback,
                    "user_attrs": t.user_attrs,
                }
                for t in trials
            ],
        }

"""scikit-learn: :class:`TuneSearchCV`, a drop-in for ``GridSearchCV`` driven by a tunelab
study (any searcher, any scheduler, every trial recorded in a store)."""

from __future__ import annotations

import copy
import math
import numbers
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunelab._errors import InvalidArgumentError, MissingExtraError, TrialError
from tunelab.integrations._sklearn_cv import FixedSplits, SubsampledSplits
from tunelab.schedulers import Scheduler, make_scheduler
from tunelab.searchers import Searcher
from tunelab.space import Space
from tunelab.study import Study
from tunelab.trial import Decision, Trial, TrialHandle

try:
    from sklearn.base import is_classifier
    from sklearn.model_selection import check_cv
    from sklearn.model_selection._search import BaseSearchCV
    from sklearn.utils import check_random_state, indexable
except ImportError as exc:  # pragma: no cover - exercised without scikit-learn only
    raise MissingExtraError(
        "TuneSearchCV needs the 'scikit-learn' package, which is not installed; "
        "install it with: pip install 'tunelab[sklearn]'"
    ) from exc

__all__ = ["TuneSearchCV"]

#: Schedulers TuneSearchCV builds from a name, over ``[min_resources, max_resources]``.
_RUNG_SCHEDULERS = ("asha", "async_hyperband", "hyperband", "successive_halving")
_REPORTED_PREFIXES = ("mean_test_", "std_test_", "mean_train_")


@dataclass
class _Run:
    """What one ``fit`` needs while it searches (dropped when it returns)."""

    space: Space
    target: str
    splits: FixedSplits
    scheduler: Scheduler | None
    seed: int | None
    subsample_seed: int
    stratify: bool
    resource: str | None
    done: dict[int, int] = field(default_factory=dict)
    abort: BaseException | None = None
    last_error: BaseException | None = None


class TuneSearchCV(BaseSearchCV):
    """Cross-validated search over a tunelab :class:`~tunelab.Space`, with the contract
    of scikit-learn's ``GridSearchCV``: ``fit``, ``best_params_``, ``best_score_``,
    ``best_estimator_``, ``cv_results_``, ``refit``, ``scoring`` (one or several
    metrics), ``n_jobs`` (folds of a trial in parallel), and ``predict``/``score``
    delegated to the refitted estimator.

    Each configuration is a trial of a tunelab study (``study_`` after ``fit``) chosen
    by ``searcher`` (default TPE); ``n_trials`` configurations are tried (fewer when a
    grid runs out), for at most ``timeout`` seconds. The study lives in ``store``
    (default: in memory) under ``study_name`` (default: a fresh name per fit; an
    existing study is continued, and ``cv_results_`` shows this fit's evaluations).
    Its target metric is named like the ``cv_results_`` column it comes from:
    ``mean_test_score``, or ``mean_test_<name>`` for the ``refit`` metric of a
    multi-metric search (the first scorer when ``refit`` is not a name); every
    ``mean_test_*``, ``std_test_*`` and ``mean_train_*`` value is recorded too.

    **Multi-fidelity.** ``resource="n_samples"`` trains each fold on a nested, seeded
    (stratified for classifiers) subsample of its training part; ``resource`` naming an
    estimator parameter (``"n_estimators"``, ``"max_iter"``, ``"clf__max_iter"``) sets
    it to the granted budget. ``scheduler`` (``"asha"`` by default, ``"hyperband"``,
    ``"successive_halving"``, ``"async_hyperband"``, or a scheduler object whose
    resource range is in the resource's units) decides which trials get more;
    ``min_resources``/``max_resources`` (``"auto"``: the smallest training fold or the
    estimator's own value of the parameter, and that divided by ``factor**3``) and
    ``factor`` (the scheduler's eta) set the range of a scheduler given by name. Each
    evaluation is a row of ``cv_results_`` with its ``n_resources`` and tunelab
    ``trial`` number; the best row is chosen among those at the largest budget
    evaluated, and the best estimator is refitted on all the data. Every budget is
    trained from scratch (no warm start).

    A candidate whose every fit fails is a FAILED trial in the store and has no row in
    ``cv_results_`` (scikit-learn refuses to format a batch with no successful fit);
    one whose score is NaN (some folds failed, ``error_score=np.nan``) has its row,
    and fails in the store, which keeps only finite metrics.

    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from tunelab import Float, Space
    >>> from tunelab.integrations import TuneSearchCV
    >>> X, y = load_iris(return_X_y=True)
    >>> search = TuneSearchCV(LogisticRegression(max_iter=500),
    ...                       Space(C=Float(1e-3, 1e2, log=True)),
    ...                       n_trials=6, cv=3, random_state=0)
    >>> float(search.fit(X, y).best_score_) > 0.9
    True
    >>> len(search.cv_results_["params"]), len(search.study_.trials)
    (6, 6)
    """

    _parameter_constraints: dict = {  # noqa: RUF012 - scikit-learn's own convention
        **BaseSearchCV._parameter_constraints,
        **dict.fromkeys(
            ("space", "searcher", "scheduler", "n_trials", "timeout", "resource",
             "min_resources", "max_resources", "factor", "random_state", "store",
             "study_name"),
            "no_validation",  # checked in fit, with tunelab's messages
        ),
    }

    def __init__(
        self,
        estimator: Any,
        space: Space | Mapping[str, Any],
        *,
        searcher: Searcher | str | Mapping[str, Any] | None = None,
        scheduler: Scheduler | str | Mapping[str, Any] | None = None,
        n_trials: int = 10,
        timeout: float | None = None,
        resource: str | None = None,
        min_resources: int | str = "auto",
        max_resources: int | str = "auto",
        factor: float = 3,
        scoring: Any = None,
        n_jobs: int | None = None,
        refit: bool | str | Callable[..., int] = True,
        cv: Any = None,
        verbose: int = 0,
        pre_dispatch: int | str = "2*n_jobs",
        random_state: Any = None,
        error_score: Any = np.nan,
        return_train_score: bool = False,
        store: Any = None,
        study_name: str | None = None,
    ) -> None:
        super().__init__(
            estimator=estimator, scoring=scoring, n_jobs=n_jobs, refit=refit, cv=cv,
            verbose=verbose, pre_dispatch=pre_dispatch, error_score=error_score,
            return_train_score=return_train_score,
        )
        self.space = space
        self.searcher = searcher
        self.scheduler = scheduler
        self.n_trials = n_trials
        self.timeout = timeout
        self.resource = resource
        self.min_resources = min_resources
        self.max_resources = max_resources
        self.factor = factor
        self.random_state = random_state
        self.store = store
        self.study_name = study_name

    # ------------------------------------------------------------------ set-up

    def _target(self) -> str:
        """The ``cv_results_`` column the study optimises."""
        scoring, refit = self.scoring, self.refit
        if scoring is None or isinstance(scoring, str):
            return "mean_test_score"
        if callable(scoring):
            return f"mean_test_{refit}" if isinstance(refit, str) else "mean_test_score"
        if isinstance(refit, str):
            return f"mean_test_{refit}"
        names = list(scoring)
        if not names:
            raise InvalidArgumentError("`scoring` must name at least one scorer; got none")
        return f"mean_test_{names[0]}"

    def _checked_space(self) -> Space:
        space = self.space
        if isinstance(space, Mapping):
            space = Space.from_dict(space) if all(
                isinstance(v, Mapping) for v in space.values()) else Space(dict(space))
        if not isinstance(space, Space):
            raise InvalidArgumentError(
                f"`space` must be a tunelab.Space or a mapping of parameter name -> "
                f"Float/Int/Categorical (or spec dict); got {type(space).__name__}"
            )
        known = self.estimator.get_params(deep=True)
        unknown = [name for name in space.names if name not in known]
        if unknown:
            raise InvalidArgumentError(
                f"`space` names {unknown}, which {type(self.estimator).__name__} has no "
                f"parameter for; allowed: {sorted(known)}"
            )
        return space

    def _check_counts(self) -> None:
        n, timeout = self.n_trials, self.timeout
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise InvalidArgumentError(f"`n_trials` must be an integer >= 1; got {n!r}")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
            or not timeout > 0
        ):
            raise InvalidArgumentError(f"`timeout` must be a number > 0 or None; got {timeout!r}")

    def _auto_range(self, splits: FixedSplits, y: Any) -> tuple[int, int]:
        """``(min_resources, max_resources)`` with "auto" worked out."""
        factor = self.factor
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not factor > 1:
            raise InvalidArgumentError(f"`factor` must be a number > 1 (often 3); got {factor!r}")
        if self.resource == "n_samples":
            top = min(len(train) for train, _ in splits.splits)
        else:
            top = self.estimator.get_params(deep=True)[self.resource]
        high = top if self.max_resources == "auto" else self.max_resources
        if isinstance(high, bool) or not isinstance(high, numbers.Integral) or high < 1:
            raise InvalidArgumentError(
                f"`max_resources` must be an integer >= 1 or 'auto'; got {high!r}"
                + (f" (the estimator's {self.resource}={top!r})"
                   if self.max_resources == "auto" else "")
            )
        low = self.min_resources
        if low == "auto":
            low = max(1, round(int(high) / float(factor) ** 3))
            if self.resource == "n_samples" and y is not None and is_classifier(self.estimator):
                low = max(low, 2 * len(np.unique(np.asarray(y))))
            low = min(low, int(high))
        if isinstance(low, bool) or not isinstance(low, numbers.Integral) or not (
            1 <= low <= high
        ):
            raise InvalidArgumentError(
                f"`min_resources` must be an integer in [1, max_resources={high}] or 'auto'; "
                f"got {low!r}"
            )
        return int(low), int(high)

    def _make_scheduler(self, splits: FixedSplits, y: Any) -> Scheduler | None:
        given = self.scheduler
        if self.resource is None:
            if given is None:
                return None
            scheduler = make_scheduler(copy.deepcopy(given))
            if scheduler.max_resource is not None:
                raise InvalidArgumentError(
                    f"scheduler {scheduler!r} grants budgets, but `resource` is None; set "
                    "resource='n_samples' or to an estimator parameter such as "
                    "'n_estimators' or 'max_iter'"
                )
            return scheduler
        if not isinstance(self.resource, str):
            raise InvalidArgumentError(
                f"`resource` must be 'n_samples', an estimator parameter name or None; "
                f"got {self.resource!r}"
            )
        known = self.estimator.get_params(deep=True)
        if self.resource != "n_samples" and self.resource not in known:
            raise InvalidArgumentError(
                f"`resource` {self.resource!r} is neither 'n_samples' nor a parameter of "
                f"{type(self.estimator).__name__}; allowed: 'n_samples', {sorted(known)}"
            )
        if given is None or isinstance(given, str):
            name = given or "asha"
            if name not in _RUNG_SCHEDULERS:
                raise InvalidArgumentError(
                    f"`scheduler` {name!r} cannot be built from min/max_resources; use one "
                    f"of {list(_RUNG_SCHEDULERS)} or pass a scheduler object"
                )
            low, high = self._auto_range(splits, y)
            return make_scheduler({"name": name, "min_resource": low, "max_resource": high,
                                   "eta": self.factor})
        scheduler = make_scheduler(copy.deepcopy(given))
        if scheduler.max_resource is None:
            raise InvalidArgumentError(
                f"scheduler {scheduler!r} grants no budget, so `resource` "
                f"{self.resource!r} cannot vary; give it a max_resource, or use 'asha'"
            )
        return scheduler

    def _seeds(self) -> tuple[int | None, int]:
        state = self.random_state
        if state is None:
            return None, int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        if isinstance(state, numbers.Integral) and not isinstance(state, bool):
            return int(state), int(state)
        try:
            seed = int(check_random_state(state).randint(2**31 - 1))
        except ValueError:
            raise InvalidArgumentError(
                f"`random_state` must be None, an int or a numpy RandomState; got {state!r}"
            ) from None
        return seed, seed

    def fit(self, X: Any, y: Any = None, **params: Any) -> TuneSearchCV:
        """Search: run the trials, then refit the best configuration on all the data.

        ``params`` go to the estimator's ``fit`` (``groups`` to the splitter)."""
        space = self._checked_space()
        self._check_counts()
        if self.resource is not None and self.resource in space:
            raise InvalidArgumentError(
                f"`resource` {self.resource!r} is also in the space; the scheduler sets it, "
                "so leave it out of the space"
            )
        X, y = indexable(X, y)
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = FixedSplits(list(cv.split(X, y, params.get("groups"))))
        seed, subsample_seed = self._seeds()
        self._run = _Run(
            space=space, target=self._target(), splits=splits,
            scheduler=self._make_scheduler(splits, y), seed=seed,
            subsample_seed=subsample_seed, stratify=is_classifier(self.estimator),
            resource=self.resource,
        )
        try:
            super().fit(X, y, **params)
        finally:
            del self._run
        return self

    # ------------------------------------------------------------------ search

    def _run_search(self, evaluate_candidates: Callable[..., dict[str, Any]],
                    callback_ctx: Any = None) -> None:
        run = self._run
        searcher = copy.deepcopy(self.searcher) if isinstance(self.searcher, Searcher) else (
            self.searcher)
        study = Study(
            self.study_name or f"TuneSearchCV-{uuid.uuid4().hex[:8]}", run.space,
            metric=run.target, direction="max", searcher=searcher,
            scheduler=run.scheduler, store="memory" if self.store is None else self.store,
            seed=run.seed,
        )
        self.study_ = study
        self.study_name_ = study.name
        evaluated = [0]

        def evaluate(trial: TrialHandle, budget: int | None) -> dict[str, float]:
            candidate = dict(trial)
            cv: Any = run.splits
            more: dict[str, list[Any]] = {"trial": [trial.number]}
            if budget is not None:
                more["n_resources"] = [budget]
                if run.resource == "n_samples":
                    cv = SubsampledSplits(run.splits, budget, run.subsample_seed, run.stratify)
                else:
                    candidate[str(run.resource)] = budget
            try:
                results = evaluate_candidates([candidate], cv=cv, more_results=more)
            except Exception as exc:
                run.last_error = exc
                if self.error_score == "raise":
                    run.abort = exc
                raise
            evaluated[0] += 1
            return _row_metrics(results, run.target)

        def objective(trial: TrialHandle) -> dict[str, float] | None:
            if run.resource is None:
                return evaluate(trial, None)
            for budget in self._budgets(study, trial):
                metrics = evaluate(trial, budget)
                run.done[trial.number] = budget
                if trial.report(budget, **metrics) is not Decision.CONTINUE:
                    break
            return None

        def stop_on_error(_: Study, trial: Trial) -> None:
            if run.abort is not None:
                raise run.abort

        study.optimize(objective, n_trials=int(self.n_trials), timeout=self.timeout,
                       callbacks=[stop_on_error])
        if evaluated[0] == 0:
            if run.last_error is not None:  # as GridSearchCV: "All the N fits failed" ...
                raise run.last_error
            raise TrialError(
                f"every trial of {study.name!r} failed, so there is no result to choose from; "
                f"the last error: {run.last_error}"
            ) from run.last_error

    def _budgets(self, study: Study, trial: TrialHandle) -> list[int]:
        """The budgets to evaluate in this run: the scheduler's rungs of the trial's
        bracket above what it already reached, up to its grant (one run may pass several
        rungs, as under ASHA's stopping mode)."""
        run = self._run
        assert run.scheduler is not None and trial.resource is not None
        grant = int(trial.resource)
        record = study.trial(trial.number)
        done = run.done.get(trial.number, int(record.system_attrs.get("step", 0) or 0))
        bracket = run.scheduler.bracket_of(record)
        rungs = {r.resource for r in run.scheduler.rungs() if r.bracket == bracket}
        budgets = sorted(r for r in rungs | {grant} if done < r <= grant)
        return budgets or [grant]

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without ``study_`` (its store holds locks and connections); the
        trials stay in the store, under ``study_name_``."""
        state = dict(super().__getstate__())
        state.pop("study_", None)
        return state

    @staticmethod
    def _select_best_index(refit: Any, refit_metric: str, results: dict[str, Any]) -> int:
        """The best row among those evaluated at the largest budget (scores at smaller
        budgets do not compare); a callable ``refit`` chooses among all rows."""
        if callable(refit) or "n_resources" not in results:
            return int(BaseSearchCV._select_best_index(refit, refit_metric, results))
        budgets = np.asarray(results["n_resources"])
        rows = np.flatnonzero(budgets == budgets.max())
        ranks = np.asarray(results[f"rank_test_{refit_metric}"])[rows]
        return int(rows[np.argmin(ranks)])


def _row_metrics(results: Mapping[str, Any], target: str) -> dict[str, float]:
    """The finite metrics of the newest row of ``results``; TrialError when the target
    is not among them."""
    row = len(results["params"]) - 1
    metrics: dict[str, float] = {}
    for key, column in results.items():
        if key.startswith(_REPORTED_PREFIXES) or key in ("mean_fit_time", "mean_score_time"):
            value = float(np.asarray(column)[row])
            if math.isfinite(value):
                metrics[key] = value
    if target not in metrics:
        present = sorted(k for k in results if k.startswith("mean_test_"))
        if target not in present:
            raise TrialError(
                f"the search optimises {target!r}, but the scorers gave {present}; set "
                f"`refit` to the name of the metric to optimise"
            )
        raise TrialError(
            f"{target} is {results[target][row]!r}: some fits failed (see cv_results_ and "
            "the warnings); the store keeps only finite metrics"
        )
    return metrics

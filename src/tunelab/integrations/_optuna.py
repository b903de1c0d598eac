"""Optuna-style objectives: ``trial.suggest_*``, ``trial.report``, ``trial.should_prune``
and ``raise TrialPruned()`` run unchanged under a tunelab study.

The space is *defined by running*: the first ``n_startup_trials`` runs (Optuna's
samplers also start at random) draw every parameter the objective asks for at random
(each categorical cycling through its choices, so every branch is visited early) and
record what was asked. From those runs tunelab builds a :class:`~tunelab.Space`:

* a parameter asked in every run is unconditional;
* a parameter asked in only some runs is *conditional* on the first categorical (or
  integer) parameter asked in all of them whose values decide exactly when it is asked
  (``svc_c`` is asked iff ``classifier == "SVC"`` gives ``when={"classifier": "SVC"}``);
* a parameter no such parent explains, or one first asked after the start-up runs (a
  branch they never took), stays outside the space: it is drawn at random whenever it
  is asked and recorded in the trial's ``user_attrs["undiscovered"]``. Raise
  ``n_startup_trials`` or pass ``space=`` when that matters.

The start-up runs become trials of the study (copied in with
:meth:`~tunelab.Study.warm_start`, pruned ones as STOPPED; failed ones are logged and
dropped), then the study's searcher and scheduler take over. Optuna counts steps from 0,
tunelab from 1: ``trial.report(v, step)`` reports tunelab step ``step + 1``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunelab._errors import InvalidArgumentError, InvalidSpaceError, TrialError
from tunelab._log import logger
from tunelab.schedulers import Scheduler
from tunelab.searchers import Searcher
from tunelab.space import Categorical, Float, Int, Param, Space
from tunelab.space._serialize import params_from_dict
from tunelab.study import Study
from tunelab.trial import Decision, Trial, TrialHandle, TrialStatus

__all__ = ["OptunaTrial", "TrialPruned", "infer_space", "optimize_optuna"]

_DIRECTIONS = {"minimize": "min", "maximize": "max", "min": "min", "max": "max"}


class TrialPruned(Exception):
    """Raise it in an objective to end a trial the scheduler pruned (``optuna.TrialPruned``
    works too when Optuna is installed)."""


def is_pruned(exc: BaseException) -> bool:
    """Whether ``exc`` is tunelab's or Optuna's TrialPruned (Optuna is never imported
    here: only an objective that imported it can raise its exception)."""
    if isinstance(exc, TrialPruned):
        return True
    optuna = sys.modules.get("optuna")
    pruned = getattr(optuna, "TrialPruned", None)
    return isinstance(pruned, type) and isinstance(exc, pruned)


class OptunaTrial:
    """The ``trial`` an Optuna-style objective receives.

    In a study it wraps the tunelab :class:`~tunelab.TrialHandle`: a parameter of the
    space gets the configuration's value, any other is drawn from what the objective
    declared; outside one (``handle=None``) every parameter is drawn.

    >>> trial = OptunaTrial(None, seed=0)
    >>> lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    >>> 1e-4 <= lr <= 1e-1, trial.suggest_float("lr", 1e-4, 1e-1, log=True) == lr
    (True, True)
    >>> trial.suggest_categorical("opt", ["sgd", "adam"]) in ("sgd", "adam")
    True
    """

    def __init__(
        self,
        handle: TrialHandle | None,
        *,
        seed: int = 0,
        number: int | None = None,
        metric: str = "value",
        resume_step: int = 0,
        cycle: int | None = None,
    ) -> None:
        self._handle = handle
        self._rng = np.random.default_rng(seed)
        self._metric = metric
        self._resume_step = resume_step
        self._cycle = cycle
        self.number: int = handle.number if handle is not None and number is None else (
            number or 0)
        #: Every value suggested so far, by name.
        self.params: dict[str, Any] = {}
        #: The tunelab parameter each name was declared as.
        self.distributions: dict[str, Param] = {}
        self.user_attrs: dict[str, Any] = {}
        #: Names drawn at random because the space does not hold them.
        self.undiscovered: list[str] = []
        #: ``(optuna step, value)`` of every report.
        self.intermediate_values: dict[int, float] = {}
        self._pruned = False

    # ------------------------------------------------------------------ suggest

    def _suggest(self, name: str, param: Param) -> Any:
        if name in self.params:
            return self.params[name]
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"a parameter name must be a non-empty string; got {name!r}")
        param.check(name)  # InvalidSpaceError naming the bad bound/step/choice
        if self._handle is not None and name in self._handle:
            value = self._handle[name]
        else:
            if self._handle is not None:
                self.undiscovered.append(name)
            if isinstance(param, Categorical) and self._cycle is not None:
                value = param.choices[self._cycle % len(param.choices)]
            else:
                value = param.sample(self._rng)
        self.params[name] = value
        self.distributions[name] = param
        return value

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None,
        log: bool = False,
    ) -> float:
        """A float in ``[low, high]``, on a log scale with ``log=True`` or a grid of
        ``step``."""
        return float(self._suggest(name, Float(low, high, log=log, step=step)))

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        """An integer in ``[low, high]`` (both included)."""
        return int(self._suggest(name, Int(low, high, log=log, step=step)))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        """One of ``choices`` (None, bool, int, float or str values)."""
        return self._suggest(name, Categorical(list(choices)))

    def suggest_uniform(self, name: str, low: float, high: float) -> float:
        """Optuna's old name for ``suggest_float(name, low, high)``."""
        return self.suggest_float(name, low, high)

    def suggest_loguniform(self, name: str, low: float, high: float) -> float:
        """Optuna's old name for ``suggest_float(name, low, high, log=True)``."""
        return self.suggest_float(name, low, high, log=True)

    def suggest_discrete_uniform(self, name: str, low: float, high: float, q: float) -> float:
        """Optuna's old name for ``suggest_float(name, low, high, step=q)``."""
        return self.suggest_float(name, low, high, step=q)

    # ------------------------------------------------------------------ pruning

    def report(self, value: float, step: int) -> None:
        """Report an intermediate ``value`` at Optuna ``step`` (tunelab step ``step+1``)."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise InvalidArgumentError(f"`step` must be an integer >= 0; got {step!r}")
        self.intermediate_values[int(step)] = float(value)
        # A trial resumed by a promotion runs again from the start: steps it already
        # reported are not reported twice.
        if self._handle is not None and step + 1 > self._resume_step:
            self._handle.report(int(step) + 1, **{self._metric: float(value)})

    def should_prune(self) -> bool:
        """Whether the scheduler stopped (or paused) this trial at its last report."""
        return self._handle is not None and self._handle.decision is not Decision.CONTINUE

    def set_user_attr(self, key: str, value: Any) -> None:
        """Keep ``value`` with the trial (JSON values)."""
        self.user_attrs[key] = value


# ---------------------------------------------------------------------- space inference


@dataclass
class _Run:
    """A start-up run: what it asked, and how it ended."""

    params: dict[str, Any]
    distributions: dict[str, Param]
    metrics: dict[str, float] | None
    status: TrialStatus
    user_attrs: dict[str, Any] = field(default_factory=dict)


def _parent(name: str, runs: Sequence[_Run], order: Sequence[str]) -> tuple[str, list[Any]] | None:
    """The first discrete parameter whose values decide exactly when ``name`` is asked."""
    with_it = [r for r in runs if name in r.params]
    for candidate in order:
        if candidate == name or not all(candidate in r.params for r in with_it):
            continue
        if not isinstance(with_it[0].distributions[candidate], (Categorical, Int)):
            continue
        values = {_key(r.params[candidate]) for r in with_it}
        decides = all((name in r.params) == (_key(r.params[candidate]) in values)
                      for r in runs if candidate in r.params)
        if decides:
            return candidate, [r.params[candidate] for r in _unique(with_it, candidate)]
    return None


def _key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


def _unique(runs: Iterable[_Run], name: str) -> list[_Run]:
    seen, out = set(), []
    for r in runs:
        if _key(r.params[name]) not in seen:
            seen.add(_key(r.params[name]))
            out.append(r)
    return out


def infer_space(runs: Sequence[_Run]) -> Space:
    """The space the start-up runs asked for (see the module docstring)."""
    order: list[str] = []
    first: dict[str, Param] = {}
    for r in runs:
        for name, param in r.distributions.items():
            if name not in first:
                order.append(name)
                first[name] = param
    if not order:
        raise InvalidSpaceError(
            "the objective asked for no parameter in its start-up runs; call "
            "trial.suggest_float/suggest_int/suggest_categorical in it"
        )
    params: dict[str, Param] = {}
    for name in order:
        param = first[name]
        if all(name in r.params for r in runs):
            params[name] = param
            continue
        parent = _parent(name, runs, list(params))
        if parent is None:
            logger.warning(
                "parameter %r was asked in only some start-up runs and no categorical or "
                "integer parameter decides when; it is drawn at random whenever asked", name)
            continue
        spec = {**param.to_dict(), "when": {parent[0]: parent[1]}}
        params[name] = params_from_dict({name: spec})[name]
    return Space(params)


# ---------------------------------------------------------------------- the driver

OptunaObjective = Callable[[OptunaTrial], Any]


def _as_metrics(result: Any, names: Sequence[str]) -> dict[str, float]:
    """An objective's return value as ``{metric: value}``: a number for one objective, a
    sequence of as many numbers as ``directions`` for several."""
    if len(names) == 1:
        return {names[0]: float(result)}
    if isinstance(result, (str, bytes)) or not isinstance(result, Sequence) or (
        len(result) != len(names)
    ):
        raise TrialError(
            f"a study with {len(names)} directions needs the objective to return "
            f"{len(names)} values; got {result!r:.200}"
        )
    return {name: float(v) for name, v in zip(names, result, strict=True)}


def _startup(objective: OptunaObjective, count: int, seed: int | None,
             names: Sequence[str]) -> list[_Run]:
    """Run the objective ``count`` times with every parameter drawn at random."""
    seeds = np.random.SeedSequence(seed).generate_state(max(count, 1))
    runs: list[_Run] = []
    last_error: BaseException | None = None
    for k in range(count):
        trial = OptunaTrial(None, seed=int(seeds[k]), number=k, cycle=k)
        status, metrics = TrialStatus.COMPLETE, None
        try:
            metrics = _as_metrics(objective(trial), names)
        except Exception as exc:
            if is_pruned(exc) and trial.intermediate_values and len(names) == 1:
                status = TrialStatus.STOPPED
                metrics = {names[0]: trial.intermediate_values[max(trial.intermediate_values)]}
            else:
                logger.warning("start-up run %d of the objective failed (not recorded): "
                               "%s: %s", k, type(exc).__name__, exc)
                status, last_error = TrialStatus.FAILED, exc
        runs.append(_Run(dict(trial.params), dict(trial.distributions), metrics, status,
                         dict(trial.user_attrs)))
    if count and all(r.status is TrialStatus.FAILED for r in runs):
        raise InvalidArgumentError(
            f"all {count} start-up runs of the objective failed, so no space could be "
            f"inferred; the last error: {type(last_error).__name__}: {last_error}"
        ) from last_error
    return runs


def _as_trials(runs: Sequence[_Run], space: Space, metric: str) -> list[Trial]:
    out = []
    for number, r in enumerate(runs):
        if r.status is TrialStatus.FAILED or r.metrics is None:
            continue
        config = {name: value for name, value in r.params.items() if name in space}
        attrs = dict(r.user_attrs)
        extra = sorted(set(r.params) - set(config))
        if extra:
            attrs["undiscovered"] = {name: r.params[name] for name in extra}
        out.append(Trial(number=number, status=r.status, config=config,
                         metrics=dict(r.metrics), value=r.metrics[metric], user_attrs=attrs))
    return out


def optimize_optuna(
    objective: OptunaObjective,
    n_trials: int,
    *,
    direction: str | Sequence[str] = "minimize",
    study_name: str | None = None,
    store: Any = "memory",
    searcher: Searcher | str | Mapping[str, Any] | None = None,
    scheduler: Scheduler | str | Mapping[str, Any] | None = None,
    seed: int | None = None,
    space: Space | Mapping[str, Any] | None = None,
    n_startup_trials: int = 5,
    timeout: float | None = None,
) -> Study:
    """Run an Optuna-style ``objective(trial)`` for ``n_trials`` trials in a tunelab
    study and return the study (``study.best_trial.config``, ``study.best_value``...).

    ``direction`` is ``"minimize"`` or ``"maximize"``; the target metric is named
    ``"value"``. A list of directions (Optuna's ``directions=``) makes a multi-objective
    study: the objective returns one value per direction, recorded as ``value_0``,
    ``value_1``... (``study.pareto_front()``); such objectives cannot be pruned.

    Without ``space`` the first ``n_startup_trials`` trials discover it (see
    :mod:`tunelab.integrations._optuna`); an existing study of that name is continued
    with its stored space. ``scheduler`` prunes through ``trial.should_prune()``:
    :class:`~tunelab.MedianStopping` plays Optuna's ``MedianPruner``, ASHA its
    ``SuccessiveHalvingPruner`` (a paused trial that is promoted runs the objective
    again from its start, and its old steps are not reported twice).

    >>> from tunelab.integrations import optimize_optuna
    >>> def objective(trial):
    ...     x = trial.suggest_float("x", -10, 10)
    ...     kind = trial.suggest_categorical("kind", ["square", "abs"])
    ...     return (x - 2) ** 2 if kind == "square" else abs(x - 2)
    >>> study = optimize_optuna(objective, n_trials=30, seed=0)
    >>> sorted(study.space.names), len(study.trials), study.best_value < 1
    (['kind', 'x'], 30, True)
    """
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise InvalidArgumentError(f"`n_trials` must be an integer >= 1; got {n_trials!r}")
    if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int) or (
        n_startup_trials < 1
    ):
        raise InvalidArgumentError(
            f"`n_startup_trials` must be an integer >= 1; got {n_startup_trials!r}")
    directions = [direction] if isinstance(direction, str) else list(direction)
    if not directions or any(d not in _DIRECTIONS for d in directions):
        raise InvalidArgumentError(
            f"`direction` must be one of {sorted(_DIRECTIONS)} or a list of them; "
            f"got {direction!r}")
    names = ["value"] if isinstance(direction, str) else [
        f"value_{i}" for i in range(len(directions))]
    if not callable(objective):
        raise InvalidArgumentError(f"`objective` must be callable; got {objective!r}")
    options: dict[str, Any] = {
        "metric": names[0] if len(names) == 1 else names,
        "direction": _DIRECTIONS[directions[0]] if len(names) == 1 else [
            _DIRECTIONS[d] for d in directions],
        "searcher": searcher, "scheduler": scheduler, "store": store, "seed": seed,
    }
    existing = None
    if study_name is not None and space is None:
        try:
            existing = Study(study_name, **options)
        except KeyError:  # StudyNotFoundError: a new study
            existing = None
    started = 0
    if existing is not None:
        study = existing
    elif space is not None:
        study = Study(study_name, space, **options)
    else:
        started = min(n_startup_trials, n_trials)
        runs = _startup(objective, started, seed, names)
        study = Study(study_name, infer_space([r for r in runs if r.status is not
                                               TrialStatus.FAILED]), **options)
        study.warm_start(_as_trials(runs, study.space, study.metric),
                         statuses=(TrialStatus.COMPLETE, TrialStatus.STOPPED))
    study.optimize(_adapter(objective, study, names), n_trials=n_trials - started,
                   timeout=timeout)
    return study


def _adapter(objective: OptunaObjective, study: Study,
             names: Sequence[str]) -> Callable[[TrialHandle], Any]:
    """The tunelab objective that runs ``objective`` on an :class:`OptunaTrial`."""

    def run(handle: TrialHandle) -> Any:
        resume = int(study.trial(handle.number).system_attrs.get("step", 0) or 0)
        trial = OptunaTrial(handle, seed=handle.seed, metric=study.metric, resume_step=resume)
        try:
            result = objective(trial)
            if len(names) > 1:
                result = _as_metrics(result, names)
        except Exception as exc:
            if not is_pruned(exc):
                raise
            if handle.decision is Decision.CONTINUE:  # pruned by the objective itself
                handle._decision = Decision.STOP
            result = None
        finally:
            attrs = dict(trial.user_attrs)
            if trial.undiscovered:
                attrs["undiscovered"] = {n: trial.params[n] for n in trial.undiscovered}
            for key, value in attrs.items():
                study.set_trial_user_attr(handle.number, key, value)
        return result

    return run

"""The methods the harness compares: tunelab's searchers and the peers' optimizers.

A :class:`Method` says what it is, which problems it applies to, and whether its tool is
installed here. tunelab methods give a :class:`~tunelab.Searcher` and, for the
multi-fidelity ones, a :class:`~tunelab.Scheduler` (they run through ``Study.optimize``
with the simulated executor); peer methods give a :class:`PeerOptimizer`, an
ask/report/tell adapter that the runner drives with the same event-driven simulated clock.

tunelab's multi-fidelity methods pair the random searcher with a scheduler at
``min_resource=1``, ``max_resource`` = the problem's number of steps and ``eta=3``
(MedianStopping: its defaults, ``max_resource`` = the number of steps).

Peers keep their documented defaults, with these exceptions, all stated in the report:

* Optuna's HyperbandPruner gets ``max_resource`` = the problem's number of steps.
* SMAC3 runs with ``deterministic=True`` (no re-evaluation of a configuration on several
  seeds) and its random forest with ``n_jobs=1`` (one process per run, as every other
  method) and ``max_leaf_nodes=None`` (the default 2**20 makes scikit-learn's best-first
  tree builder cost ~0.2 s per fit; trees of a few hundred points never reach that limit).
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness.spaces import (
    all_float,
    grid_points_for_budget,
    grid_size,
    optuna_suggest,
    to_configspace,
)
from benchmarks.problems.base import Problem
from tunelab import (
    ASHA,
    AsyncHyperband,
    GridSearcher,
    Hyperband,
    MedianStopping,
    RandomSearcher,
    Scheduler,
    Searcher,
    SobolSearcher,
    SuccessiveHalving,
)
from tunelab.searchers import make_searcher
from tunelab.searchers.grid import MAX_GRID
from tunelab.space import Config

__all__ = [
    "METHODS",
    "NOT_INSTALLED",
    "PEER_NOTES",
    "Method",
    "PeerOptimizer",
    "get_method",
]

#: Peers that did not install here, with the reason (the exact resolver output).
NOT_INSTALLED = {
    "dehb": (
        "`pip install dehb` would downgrade numpy 2.4.6 -> 1.26.4: DEHB 0.1.2 (the latest "
        "release) declares `Requires-Dist: numpy <2.0,>=1.18.2`, so it was not installed"
    ),
    "torch": (
        "Optuna's GPSampler imports torch (`ModuleNotFoundError: No module named 'torch'`); "
        "torch is not in the bench extra (PyPI's Linux wheel pulls ~3 GB of CUDA libraries)"
    ),
}


#: How the peers are set up, where it departs from a bare default (printed in reports).
PEER_NOTES = (
    "Optuna samplers and pruners use their defaults, except HyperbandPruner's "
    "`max_resource` = the problem's number of steps (`min_resource=1`); studies are in "
    "memory and driven by `ask`/`tell`, pruners see every step through `trial.report`.",
    "SMAC3 runs with `deterministic=True` (a configuration is not re-run on other seeds) "
    "and its random forest with `n_jobs=1` (one process per run, like every method) and "
    "`max_leaf_nodes=None` (the default 2**20 makes scikit-learn's best-first tree builder "
    "cost ~0.2 s per fit; trees on a few hundred points never reach it). smac-hb uses "
    "budgets 1..max_steps (steps); a configuration promoted to a higher budget is trained "
    "again from scratch, as SMAC's Hyperband assumes, and those steps count. SMAC3's "
    "proposals follow the iteration order of Python sets, so runs use `PYTHONHASHSEED=0` "
    "(set by `python -m benchmarks.run` and in the worker processes) to reproduce.",
    "tunelab-grid takes, per continuous float, the number of values for which the grid "
    "size is closest to the budget (in full-fidelity evaluations), and visits it in a "
    "seeded random order; a grid smaller than the budget ends the run early.",
)


class PeerOptimizer(ABC):
    """An ask/report/tell adapter around a peer's optimizer (minimal, loop-agnostic)."""

    #: Set when the optimizer has nothing left to propose.
    exhausted: bool = False

    @abstractmethod
    def ask(self) -> tuple[Any, Config]:
        """A new trial: an opaque token and its configuration."""

    def report(self, token: Any, step: int, value: float) -> bool:
        """The metric after ``step`` (1-based); return True to stop the trial here."""
        return False

    @abstractmethod
    def tell(self, token: Any, value: float, stopped: bool) -> None:
        """The trial ended with ``value`` (its last step's), early when ``stopped``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the optimizer holds (temporary folders...)."""


@dataclass(frozen=True)
class Method:
    """One competitor. ``tool`` is the package that provides it."""

    name: str
    tool: str
    description: str
    #: Modules that must import for the method to run.
    requires: tuple[str, ...] = ()
    #: Uses intermediate results to stop trials early (needs ``max_steps > 1``).
    multi_fidelity: bool = False
    #: Only for all-float, unconditional spaces.
    all_float_only: bool = False
    make_searcher: Callable[[Problem, int, int], Searcher] | None = field(
        default=None, repr=False, compare=False
    )
    make_peer: Callable[[Problem, int, int, int], PeerOptimizer] | None = field(
        default=None, repr=False, compare=False
    )
    #: tunelab only: the scheduler of a run ``(problem, seed, budget)``; None: FIFO.
    make_scheduler: Callable[[Problem, int, int], Scheduler] | None = field(
        default=None, repr=False, compare=False
    )
    #: A further applicability check: the reason it does not apply, or None.
    check: Callable[[Problem], str | None] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def is_tunelab(self) -> bool:
        return self.make_searcher is not None

    def not_installed(self) -> str | None:
        """Why the method cannot run here, or None when it can."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                return NOT_INSTALLED.get(module, f"module {module!r} is not installed")
        if self.make_searcher is None and self.make_peer is None:
            return f"{self.tool} imports, but the harness has no adapter for it yet"
        return None

    def not_applicable(self, problem: Problem) -> str | None:
        """Why the method does not apply to ``problem``, or None when it does."""
        if self.multi_fidelity and problem.max_steps <= 1:
            return "black-box problem (one step): nothing to stop early"
        if self.all_float_only and not all_float(problem.space):
            return "not an all-float space"
        if self.check is not None:
            return self.check(problem)
        return None


# --------------------------------------------------------------------------- tunelab


def _tunelab_random(problem: Problem, seed: int, budget: int) -> Searcher:
    return RandomSearcher(seed=seed)


def _tunelab_sobol(problem: Problem, seed: int, budget: int) -> Searcher:
    return SobolSearcher(seed=seed)


_GRID_TOO_BIG: dict[str, bool] = {}


def _grid_check(problem: Problem) -> str | None:
    key = problem.space.to_json()
    if key not in _GRID_TOO_BIG:
        _GRID_TOO_BIG[key] = grid_size(problem.space, 1, limit=MAX_GRID + 1) > MAX_GRID
    if _GRID_TOO_BIG[key]:
        return (f"the grid has more than {MAX_GRID:,} points even with one value per "
                "continuous float (GridSearcher enumerates every Int and Categorical value)")
    return None


def _tunelab_grid(problem: Problem, seed: int, budget: int) -> Searcher:
    n_configs = max(1, budget // max(problem.max_steps, 1))
    points = grid_points_for_budget(problem.space, n_configs)
    return GridSearcher(points=points, shuffle=True, seed=seed)


def _tunelab_named(name: str, **options: Any) -> Callable[[Problem, int, int], Searcher]:
    """tunelab's registered searcher ``name`` (with ``options``) for a run."""

    def make(problem: Problem, seed: int, budget: int) -> Searcher:
        return make_searcher({"name": name, **options}, seed=seed)

    return make


#: The reduction factor of tunelab's rung schedulers in the benchmark.
ETA = 3


def _scheduler(kind: str) -> Callable[[Problem, int, int], Scheduler]:
    """tunelab's scheduler ``kind`` for a problem: resource 1 .. max_steps, eta 3."""

    def make(problem: Problem, seed: int, budget: int) -> Scheduler:
        top = int(problem.max_steps)
        if kind == "sh":
            return SuccessiveHalving(1, top, ETA)
        if kind == "hyperband":
            return Hyperband(1, top, ETA)
        if kind == "asha":
            return ASHA(1, top, ETA, mode="promotion")
        if kind == "asha-stop":
            return ASHA(1, top, ETA, mode="stopping")
        if kind == "async-hb":
            return AsyncHyperband(1, top, ETA, mode="promotion")
        if kind == "median":
            return MedianStopping(max_resource=top)
        raise KeyError(kind)

    return make


# --------------------------------------------------------------------------- Optuna


def _quiet_optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


class OptunaPeer(PeerOptimizer):
    """An Optuna study driven through ``ask``/``tell``; pruners see every step."""

    def __init__(self, problem: Problem, sampler: Any, pruner: Any | None) -> None:
        optuna = _quiet_optuna()
        self._optuna = optuna
        self.space = problem.space
        self.pruner = pruner
        # A fixed name: HyperbandPruner assigns brackets by a hash of the study name.
        self.study = optuna.create_study(
            study_name="tunelab-bench",
            direction="minimize" if problem.direction == "min" else "maximize",
            sampler=sampler,
            pruner=pruner if pruner is not None else optuna.pruners.NopPruner(),
        )

    def ask(self) -> tuple[Any, Config]:
        trial = self.study.ask()
        return trial, optuna_suggest(trial, self.space)

    def report(self, token: Any, step: int, value: float) -> bool:
        if self.pruner is None:
            return False
        token.report(value, step)
        return bool(token.should_prune())

    def tell(self, token: Any, value: float, stopped: bool) -> None:
        if stopped:
            self.study.tell(token, state=self._optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(token, value)


def _optuna(sampler_name: str, pruner_name: str | None = None) -> Callable[..., PeerOptimizer]:
    def make(problem: Problem, seed: int, budget: int, workers: int) -> PeerOptimizer:
        optuna = _quiet_optuna()
        samplers = optuna.samplers
        sampler = {
            "random": lambda: samplers.RandomSampler(seed=seed),
            "tpe": lambda: samplers.TPESampler(seed=seed),
            "gp": lambda: samplers.GPSampler(seed=seed),
            "cmaes": lambda: samplers.CmaEsSampler(seed=seed),
        }[sampler_name]()
        pruners = optuna.pruners
        pruner = None
        if pruner_name == "median":
            pruner = pruners.MedianPruner()
        elif pruner_name == "sha":
            pruner = pruners.SuccessiveHalvingPruner()
        elif pruner_name == "hyperband":
            pruner = pruners.HyperbandPruner(min_resource=1, max_resource=problem.max_steps)
        return OptunaPeer(problem, sampler, pruner)

    return make


# --------------------------------------------------------------------------- SMAC3


class SmacPeer(PeerOptimizer):
    """SMAC3 through its ask/tell interface. With ``multi_fidelity``, the Hyperband
    facade picks a budget (a number of steps) per trial; the trial stops there."""

    def __init__(self, problem: Problem, seed: int, budget: int, multi_fidelity: bool) -> None:
        import logging

        from smac import HyperparameterOptimizationFacade, MultiFidelityFacade, Scenario
        from smac.model.random_forest import RandomForest

        for name in ("smac", "distributed", "dask"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self._sign = 1.0 if problem.direction == "min" else -1.0
        self._tmp = tempfile.mkdtemp(prefix="tunelab-bench-smac-")
        cs, self._decode = to_configspace(problem.space, seed)
        steps = max(problem.max_steps, 1)
        n_trials = max(budget // steps, 1) if not multi_fidelity else budget
        kwargs: dict[str, Any] = {}
        if multi_fidelity:
            kwargs = {"min_budget": 1, "max_budget": steps}
        scenario = Scenario(
            cs,
            deterministic=True,
            n_trials=n_trials,
            seed=seed,
            output_directory=Path(self._tmp) / "out",
            **kwargs,
        )
        facade = MultiFidelityFacade if multi_fidelity else HyperparameterOptimizationFacade
        model = RandomForest(
            configspace=cs,
            log_y=True,
            n_trees=10,
            bootstrapping=True,
            ratio_features=1.0,
            min_samples_split=2,
            min_samples_leaf=1,
            max_depth=2**20,
            max_leaf_nodes=None,  # type: ignore[arg-type]
            seed=seed,
            n_jobs=1,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.smac = facade(
                scenario,
                target_function=_never_called,
                model=model,
                overwrite=True,
                logging_level=40,
            )
        self.multi_fidelity = multi_fidelity

    def ask(self) -> tuple[Any, Config]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = self.smac.ask()
        return info, self._decode(dict(info.config))

    def report(self, token: Any, step: int, value: float) -> bool:
        return self.multi_fidelity and token.budget is not None and step >= round(token.budget)

    def tell(self, token: Any, value: float, stopped: bool) -> None:
        from smac.runhistory.dataclasses import TrialValue

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.smac.tell(token, TrialValue(cost=self._sign * value), save=False)

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)


def _never_called(config: Any, seed: int = 0, budget: float = 0.0) -> float:
    raise RuntimeError("the harness drives SMAC through ask/tell")  # pragma: no cover


def _smac(multi_fidelity: bool) -> Callable[..., PeerOptimizer]:
    def make(problem: Problem, seed: int, budget: int, workers: int) -> PeerOptimizer:
        return SmacPeer(problem, seed, budget, multi_fidelity)

    return make


# --------------------------------------------------------------------------- registry

_ALL = [
    Method("tunelab-random", "tunelab", "RandomSearcher", make_searcher=_tunelab_random),
    Method("tunelab-sobol", "tunelab", "SobolSearcher (scrambled)", make_searcher=_tunelab_sobol),
    Method(
        "tunelab-grid",
        "tunelab",
        "GridSearcher, points per float chosen so the grid is ~ the budget, seeded shuffle",
        make_searcher=_tunelab_grid,
        check=_grid_check,
    ),
    *(
        Method(
            f"tunelab-{kind}",
            "tunelab",
            what,
            multi_fidelity=True,
            make_searcher=_tunelab_random,
            make_scheduler=_scheduler(kind),
        )
        for kind, what in (
            ("sh", "RandomSearcher + SuccessiveHalving (synchronous; eta=3, resource "
                   "1..max_steps, n_configs = eta^s_max)"),
            ("hyperband", "RandomSearcher + Hyperband (synchronous brackets s_max..0; eta=3, "
                          "resource 1..max_steps)"),
            ("asha", "RandomSearcher + ASHA, promotion form (paused trials resume from their "
                     "checkpoint; eta=3, resource 1..max_steps)"),
            ("asha-stop", "RandomSearcher + ASHA, stopping form (eta=3, resource "
                          "1..max_steps)"),
            ("async-hb", "RandomSearcher + AsyncHyperband, promotion form (eta=3, resource "
                         "1..max_steps)"),
            ("median", "RandomSearcher + MedianStopping (grace_period=1, min_samples=3, "
                       "max_resource=max_steps)"),
        )
    ),
    Method("tunelab-tpe", "tunelab", "TPESearcher (defaults: multivariate, gamma 0.1, 24 "
           "candidates, 10 Sobol start-up points)", make_searcher=_tunelab_named("tpe")),
    Method("tunelab-gp", "tunelab", "GPSearcher (defaults)", make_searcher=_tunelab_named("gp")),
    Method("tunelab-evolution", "tunelab", "RegularizedEvolution (defaults: population 25, "
           "tournament 10)", make_searcher=_tunelab_named("evolution")),
    Method("tunelab-bohb", "tunelab", "BOHB: TPESearcher(multi_fidelity=True, "
           "random_fraction=1/3) + Hyperband (eta=3, resource 1..max_steps)",
           multi_fidelity=True,
           make_searcher=_tunelab_named("tpe", multi_fidelity=True, random_fraction=1 / 3),
           make_scheduler=_scheduler("hyperband")),
    Method("tunelab-tpe-asha", "tunelab", "TPESearcher(multi_fidelity=True) + ASHA, promotion "
           "form (eta=3, resource 1..max_steps)", multi_fidelity=True,
           make_searcher=_tunelab_named("tpe", multi_fidelity=True),
           make_scheduler=_scheduler("asha")),
    Method("optuna-random", "optuna", "RandomSampler", ("optuna",), make_peer=_optuna("random")),
    Method("optuna-tpe", "optuna", "TPESampler (defaults)", ("optuna",), make_peer=_optuna("tpe")),
    Method(
        "optuna-gp", "optuna", "GPSampler (defaults)", ("optuna", "torch"), make_peer=_optuna("gp")
    ),
    Method(
        "optuna-cmaes",
        "optuna",
        "CmaEsSampler (defaults)",
        ("optuna", "cmaes"),
        all_float_only=True,
        make_peer=_optuna("cmaes"),
    ),
    Method(
        "optuna-tpe-median",
        "optuna",
        "TPESampler + MedianPruner (defaults)",
        ("optuna",),
        multi_fidelity=True,
        make_peer=_optuna("tpe", "median"),
    ),
    Method(
        "optuna-tpe-sha",
        "optuna",
        "TPESampler + SuccessiveHalvingPruner (defaults)",
        ("optuna",),
        multi_fidelity=True,
        make_peer=_optuna("tpe", "sha"),
    ),
    Method(
        "optuna-tpe-hyperband",
        "optuna",
        "TPESampler + HyperbandPruner (min_resource=1, max_resource=max_steps)",
        ("optuna",),
        multi_fidelity=True,
        make_peer=_optuna("tpe", "hyperband"),
    ),
    Method(
        "optuna-random-median",
        "optuna",
        "RandomSampler + MedianPruner (defaults)",
        ("optuna",),
        multi_fidelity=True,
        make_peer=_optuna("random", "median"),
    ),
    Method(
        "optuna-random-sha",
        "optuna",
        "RandomSampler + SuccessiveHalvingPruner (defaults)",
        ("optuna",),
        multi_fidelity=True,
        make_peer=_optuna("random", "sha"),
    ),
    Method(
        "optuna-random-hyperband",
        "optuna",
        "RandomSampler + HyperbandPruner (min_resource=1, max_resource=max_steps)",
        ("optuna",),
        multi_fidelity=True,
        make_peer=_optuna("random", "hyperband"),
    ),
    Method(
        "smac-hpo",
        "smac",
        "SMAC3 HyperparameterOptimizationFacade (random forest, full fidelity)",
        ("smac",),
        make_peer=_smac(False),
    ),
    Method(
        "smac-hb",
        "smac",
        "SMAC3 MultiFidelityFacade (Hyperband, eta=3, budget = steps)",
        ("smac",),
        multi_fidelity=True,
        make_peer=_smac(True),
    ),
    Method("dehb", "dehb", "DEHB (differential evolution + Hyperband)", ("dehb",)),
]

#: Every method by name, in report order.
METHODS: dict[str, Method] = {m.name: m for m in _ALL}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; known: {list(METHODS)}") from None

"""Suites: which problems, methods, seeds, budgets and workers a benchmark run uses.

Budgets are per family. For black-box problems (one step) the budget is a number of
evaluations; for multi-fidelity ones it is given in *full-fidelity evaluations* and
converted to steps (``budget x max_steps``), the resource every method may consume.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.harness.methods import METHODS, get_method
from benchmarks.harness.runner import RunTask
from benchmarks.problems import FAMILIES, Problem
from benchmarks.problems import family as load_family

__all__ = ["SUITES", "Plan", "Suite", "plan"]


@dataclass(frozen=True)
class Suite:
    name: str
    seeds: int
    families: tuple[str, ...]
    methods: tuple[str, ...]
    #: family -> budget (evaluations; full-fidelity evaluations for multi-fidelity problems)
    budgets: dict[str, int]
    #: family -> simulated workers (real problems always run with one)
    workers: dict[str, int]
    #: method -> at most this many problems per family (the first ones of each family), or
    #: {family: at most this many} (families not named: none)
    subsets: dict[str, int | dict[str, int]] = field(default_factory=dict)
    #: family -> at most this many problems of the family
    max_problems: dict[str, int] = field(default_factory=dict)
    #: family -> the only methods run on it (families not named: every method)
    family_methods: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def subset_limit(self, method: str, family: str) -> int | None:
        limit = self.subsets.get(method)
        if isinstance(limit, dict):
            return limit.get(family, 0)
        return limit
    description: str = ""

    def budget(self, problem: Problem) -> int:
        base = self.budgets.get(problem.family, self.budgets["default"])
        return base * max(int(problem.max_steps), 1)

    def n_workers(self, problem: Problem) -> int:
        if problem.real:
            return 1
        return self.workers.get(problem.family, self.workers["default"])


ALL_METHODS = tuple(METHODS)

SUITES: dict[str, Suite] = {
    "smoke": Suite(
        "smoke",
        seeds=2,
        families=("synthetic",),
        methods=("tunelab-random", "optuna-random"),
        budgets={"default": 10},
        workers={"default": 1},
        description="CI slice: synthetic smoke problems, tiny budgets, two methods.",
    ),
    "quick": Suite(
        "quick",
        seeds=20,
        families=tuple(FAMILIES),
        methods=ALL_METHODS,
        budgets={
            "default": 100,
            "synthetic": 100,
            "bbob": 100,
            "tabular": 100,
            "mf-synthetic": 20,
            "yahpo": 20,
            "pmlb": 20,
        },
        workers={"default": 1, "mf-synthetic": 4, "yahpo": 4},
        subsets={"smac-hpo": {"synthetic": 1}, "smac-hb": {"yahpo": 1}, "optuna-gp": 1},
        max_problems={"pmlb": 1},
        family_methods={"pmlb": ("tunelab-random", "tunelab-sobol", "optuna-tpe")},
        description=(
            "`make bench`: every family, 20 seeds; SMAC3 (~0.1 s of CPU per trial) on one "
            "problem (smac-hpo on the first synthetic one, smac-hb on the first YAHPO one), "
            "optuna-gp on the first problem of each family, and PMLB (real training, about 0.3 s "
            "of CPU per full evaluation) on one problem with three methods and no pruners "
            "(a pruned PMLB trial still trains its whole curve: `evaluate` returns all "
            "steps at once; optuna-tpe's first 10 trials are Optuna's random sampler), so "
            "that the suite fits in 15 minutes on 2 cores."
        ),
    ),
    "full": Suite(
        "full",
        seeds=30,
        families=tuple(FAMILIES),
        methods=ALL_METHODS,
        budgets={
            "default": 200,
            "synthetic": 200,
            "bbob": 200,
            "tabular": 200,
            "mf-synthetic": 100,
            "yahpo": 100,
            "pmlb": 50,
        },
        workers={"default": 1, "mf-synthetic": 4, "yahpo": 4},
        description="Everything: every problem of the full suites, every method, 30 seeds.",
    ),
}

#: Rough CPU cost of one trial relative to random search, to start long runs first.
_COST = {"smac": 60.0, "optuna-gp": 40.0, "optuna-cmaes": 4.0, "optuna-tpe": 4.0}


def _cost(method: str, problem: Problem, budget: int) -> float:
    per_trial = next((c for k, c in _COST.items() if method.startswith(k)), 1.0)
    trials = budget / max(problem.max_steps, 1)
    return per_trial * trials * (200.0 if problem.real else 1.0)


def _subset_text(suite: Suite, method: str) -> str:
    limit = suite.subsets[method]
    if isinstance(limit, int):
        return f"the first {limit} problem(s) of each family"
    return ", ".join(f"the first {n} {fam} problem(s)" for fam, n in limit.items())


@dataclass
class Plan:
    suite: Suite
    seeds: list[int]
    problems: list[Problem]
    methods: list[str]
    tasks: list[RunTask]
    #: {"method", "problem" (None: every problem), "kind", "reason"}
    skipped: list[dict[str, Any]]
    #: family -> why it is missing (module not written yet, data not found...)
    missing_families: dict[str, str]


def _load(family: str, suite: str) -> list[Problem]:
    module = FAMILIES[family]
    if importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(f"{module} does not exist yet")
    return load_family(family, suite)


def plan(
    suite_name: str,
    *,
    seeds: int | None = None,
    families: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
) -> Plan:
    """Every run of a suite, with what was left out and why."""
    suite = SUITES[suite_name]
    fams = list(families or suite.families)
    for fam in fams:
        if fam not in FAMILIES:
            raise KeyError(f"unknown family {fam!r}; known: {list(FAMILIES)}")
    names = list(methods or suite.methods)
    for name in names:
        get_method(name)
    seed_list = list(range(seeds if seeds is not None else suite.seeds))
    problems: list[Problem] = []
    missing: dict[str, str] = {}
    by_family: dict[str, list[Problem]] = {}
    for fam in fams:
        try:
            found = _load(fam, suite.name)
        except Exception as exc:  # a family not written yet, or its data missing
            missing[fam] = f"{type(exc).__name__}: {exc}"
            continue
        limit = suite.max_problems.get(fam)
        found = found[:limit] if limit else found
        by_family[fam] = found
        problems += found
    skipped: list[dict[str, Any]] = []
    runnable: list[str] = []
    for name in names:
        reason = get_method(name).not_installed()
        if reason:
            skipped.append({"method": name, "problem": None, "kind": "not installed",
                            "reason": reason})
        else:
            runnable.append(name)
    tasks: list[RunTask] = []
    for fam, fam_problems in by_family.items():
        for index, problem in enumerate(fam_problems):
            budget = suite.budget(problem)
            workers = suite.n_workers(problem)
            for name in runnable:
                method = get_method(name)
                reason = method.not_applicable(problem)
                if reason:
                    skipped.append({"method": name, "problem": problem.name,
                                    "kind": "not applicable", "reason": reason})
                    continue
                allowed = suite.family_methods.get(fam)
                if allowed is not None and name not in allowed:
                    skipped.append({"method": name, "problem": problem.name,
                                    "kind": "not selected",
                                    "reason": f"the {suite.name} suite runs only "
                                              f"{', '.join(allowed)} on {fam}"})
                    continue
                limit = suite.subset_limit(name, fam)
                if limit is not None and index >= limit:
                    skipped.append({"method": name, "problem": problem.name,
                                    "kind": "not selected",
                                    "reason": f"the {suite.name} suite runs {name} on "
                                              f"{_subset_text(suite, name)}"})
                    continue
                for seed in seed_list:
                    tasks.append(RunTask(name, fam, suite.name, problem.name, seed, budget,
                                         workers, _cost(name, problem, budget)))
    return Plan(suite, seed_list, problems, names, tasks, skipped, missing)

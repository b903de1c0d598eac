"""Suites: which problems, methods, seeds, budgets and workers a benchmark run uses.

Budgets are per family. For black-box problems (one step) the budget is a number of
evaluations; for multi-fidelity ones it is given in *full-fidelity evaluations* and
converted to steps (``budget x max_steps``), the resource every method may consume.

Each suite also fixes how the incumbent is chosen (``incumbent``, see
:mod:`benchmarks.harness.runner`): ``"last"`` (a trial's value at the last step it ran,
stopped trials included: the quick suite, whose committed report was produced that way)
or ``"full"`` (only results at full fidelity count: the full and multi-fidelity suites).
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
    #: "last" or "full": which results may become the incumbent (see the runner)
    incumbent: str = "last"
    #: Extra runs at other worker counts (e.g. for utilization):
    #: (method, family, workers); reported apart from the main comparison.
    extra_workers: tuple[tuple[str, str, int], ...] = ()
    #: method -> its largest budget (full-fidelity evaluations) for seeds from
    #: ``uncapped_seeds`` on: methods too costly to run to the suite's budget every time
    budget_caps: dict[str, int] = field(default_factory=dict)
    #: family (or "default") -> seeds below this run every method to the full budget
    #: (caps apply from there on)
    uncapped_seeds: dict[str, int] = field(default_factory=dict)
    #: The report this suite writes: "search" (search-<suite>.md) or "multi-fidelity"
    report: str = "search"
    #: The name of its data and report files (default ``search-<suite>``)
    slug: str = ""
    #: family -> the problem list (a problem family's suite name) it takes its problems
    #: from (default: the suite's own name)
    problem_suites: dict[str, str] = field(default_factory=dict)

    @property
    def file_slug(self) -> str:
        return self.slug or f"search-{self.name}"

    def subset_limit(self, method: str, family: str) -> int | None:
        limit = self.subsets.get(method)
        if isinstance(limit, dict):
            return limit.get(family, 0)
        return limit
    description: str = ""

    def budget(self, problem: Problem) -> int:
        base = self.budgets.get(problem.family, self.budgets["default"])
        return base * max(int(problem.max_steps), 1)

    def run_budget(self, method: str, problem: Problem, seed: int) -> int:
        """The budget of one run: the problem's, or the method's cap (see
        ``budget_caps``)."""
        budget = self.budget(problem)
        cap = self.budget_caps.get(method)
        if cap is not None and seed >= self.uncapped_below(problem.family):
            budget = min(budget, cap * max(int(problem.max_steps), 1))
        return budget

    def uncapped_below(self, family: str) -> int:
        """Seeds below this run every method of ``family`` to the full budget."""
        return self.uncapped_seeds.get(family, self.uncapped_seeds.get("default", 0))

    def n_workers(self, problem: Problem) -> int:
        if problem.real:
            return 1
        return self.workers.get(problem.family, self.workers["default"])


ALL_METHODS = tuple(METHODS)
#: The methods of the quick suite as its committed report ran them (before tunelab's
#: schedulers and Optuna's random-sampler pruners were added).
QUICK_METHODS = (
    "tunelab-random", "tunelab-sobol", "tunelab-grid", "optuna-random", "optuna-tpe",
    "optuna-gp", "optuna-cmaes", "optuna-tpe-median", "optuna-tpe-sha",
    "optuna-tpe-hyperband", "smac-hpo", "smac-hb", "dehb",
)
#: The multi-fidelity suite: tunelab's schedulers, random search at full fidelity, and
#: Optuna's pruners with TPE and with random sampling.
MF_METHODS = (
    "tunelab-random", "tunelab-sh", "tunelab-hyperband", "tunelab-asha",
    "tunelab-asha-stop", "tunelab-async-hb", "tunelab-median", "tunelab-bohb",
    "tunelab-tpe-asha", "tunelab-tpe",
    "optuna-random", "optuna-tpe",
    "optuna-tpe-median", "optuna-tpe-sha", "optuna-tpe-hyperband",
    "optuna-random-median", "optuna-random-sha", "optuna-random-hyperband",
)
#: Budgets (in full-fidelity evaluations = multiples of the maximum resource) at which the
#: multi-fidelity report reads regret; the runs go to the largest.
MF_BUDGETS = (5, 10, 20, 50, 100)
#: Optuna's pairs start hundreds to thousands of trials at 100 x and TPE's cost per trial
#: grows with the trials (measured: ~70 s of CPU for the six pairs per lcbench task and
#: seed at 100 x, against ~9 s for everything else): they run to MF_CAP x for seeds >=
#: MF_UNCAPPED_SEEDS (costs per run in docs/benchmarks/multi-fidelity.md). The `terrible`
#: Hartmann variants are left out of the mf suite for the same reason (TPE + SHA: 110-170 s
#: of CPU per run at 100 x).
MF_CAPPED = ("optuna-tpe-median", "optuna-tpe-sha", "optuna-tpe-hyperband",
             "optuna-random-median", "optuna-random-sha", "optuna-random-hyperband")
MF_CAP = 20
#: family -> seeds run to 100 x by every method: all 20 of the suite's seeds (the lcbench
#: pairs took 1.2 CPU-hours for seeds 10..19); with ``--seeds`` above 20 the further
#: seeds' pairs stop at MF_CAP x
MF_UNCAPPED_SEEDS = {"mf-synthetic": 20, "yahpo": 20}



def _mf_capping(seeds: int) -> str:
    """What the mf suite's description says about Optuna's capped pairs."""
    lc, hart = MF_UNCAPPED_SEEDS["yahpo"], MF_UNCAPPED_SEEDS["mf-synthetic"]
    if min(lc, hart) >= seeds:
        return ("Every method runs to 100 x on every seed (Optuna's (sampler, pruner) pairs "
                "cost about 70 s of CPU per lcbench task and seed at 100 x).")
    return (f"On lcbench, Optuna's (sampler, pruner) pairs cost too much CPU to run to 100 x "
            f"for every seed on 2 cores, so they run to {MF_CAP} x, except for seeds "
            f"0..{lc - 1}, where every method runs to 100 x; on Hartmann every method runs "
            f"to 100 x on {'every seed' if hart >= seeds else f'seeds 0..{hart - 1}'}.")


#: The model-based comparison (issue 5): tunelab's TPE and evolution against Optuna's TPE
#: at full fidelity (GPs: the ``model-gp`` suite; BOHB: the ``mf`` suite).
MODEL_METHODS = ("tunelab-random", "tunelab-tpe", "tunelab-evolution", "optuna-random",
                 "optuna-tpe")

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
        methods=QUICK_METHODS,
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
        incumbent="last",
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
        incumbent="full",
    ),
    "model": Suite(
        "model",
        seeds=20,
        families=("synthetic", "tabular"),
        methods=MODEL_METHODS,
        budgets={"default": 200, "synthetic": 100, "tabular": 200},
        workers={"default": 1},
        incumbent="full",
        slug="search-model",
        problem_suites={"synthetic": "quick", "tabular": "full"},
        description=(
            "Model-based search: synthetic functions at 100 evaluations, the tabular "
            "benchmarks (fcnet, HPOBench MLP, NAS-Bench-201) at 200 evaluations (read at 50, "
            "100 and 200), one worker, 20 seeds. GPs are compared in the model-gp suite, "
            "BOHB in the mf suite."
        ),
    ),
    "model-gp": Suite(
        "model-gp",
        seeds=10,
        families=("synthetic",),
        methods=("tunelab-gp", "optuna-gp", "tunelab-tpe", "optuna-tpe", "tunelab-random"),
        budgets={"default": 100},
        workers={"default": 1},
        max_problems={"synthetic": 3},
        incumbent="full",
        problem_suites={"synthetic": "quick"},
        description=(
            "Gaussian-process BO: tunelab's GPSearcher against Optuna's GPSampler (which "
            "needs torch) on Branin, Hartmann-3 and Hartmann-6 at 100 evaluations, 10 seeds "
            "(Optuna's GP costs ~0.1-0.8 s of CPU per trial here), with both TPEs and random "
            "search for reference."
        ),
    ),
    "mf": Suite(
        "mf",
        seeds=20,
        families=("mf-synthetic", "yahpo"),
        methods=MF_METHODS,
        budgets={"default": max(MF_BUDGETS)},
        workers={"default": 4},
        incumbent="full",
        extra_workers=(("tunelab-asha", "yahpo", 16),),
        budget_caps={m: MF_CAP for m in MF_CAPPED},
        uncapped_seeds=MF_UNCAPPED_SEEDS,
        report="multi-fidelity",
        slug="multi-fidelity",
        description=(
            "The multi-fidelity comparison: YAHPO lcbench (10 tasks, 52 epochs) and "
            "multi-fidelity Hartmann (mfh3 and mfh6, 100 steps); 4 simulated workers; "
            "20 seeds; runs go to 100 x the maximum resource in consumed steps and "
            "regret is read at 5, 10, 20, 50 and 100 x; only full-fidelity results count "
            "as incumbents. " + _mf_capping(20) +
            " tunelab-asha also runs with 16 workers on lcbench, for the utilization table."
        ),
    ),
}

#: Rough CPU cost of one trial relative to random search, to start long runs first.
_COST = {"smac": 60.0, "optuna-gp": 40.0, "optuna-cmaes": 4.0, "optuna-tpe": 4.0}


def _cost(method: str, problem: Problem, budget: int) -> float:
    per_trial = next((c for k, c in _COST.items() if method.startswith(k)), 1.0)
    trials = budget / max(problem.max_steps, 1)
    if get_method(method).multi_fidelity:
        trials *= 4.0  # stopping early starts several configurations per full evaluation
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
            found = _load(fam, suite.problem_suites.get(fam, suite.name))
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
                    run_budget = suite.run_budget(name, problem, seed)
                    tasks.append(RunTask(name, fam, suite.problem_suites.get(fam, suite.name),
                                         problem.name, seed,
                                         run_budget, workers,
                                         _cost(name, problem, run_budget), suite.incumbent))
                for extra, extra_family, extra_workers in suite.extra_workers:
                    if extra != name or extra_family != fam or problem.real:
                        continue
                    for seed in seed_list:
                        tasks.append(RunTask(name, fam, suite.problem_suites.get(fam, suite.name),
                                         problem.name, seed, budget,
                                             extra_workers, _cost(name, problem, budget),
                                             suite.incumbent))
    return Plan(suite, seed_list, problems, names, tasks, skipped, missing)

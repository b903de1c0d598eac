"""Run one (method, problem, seed, budget, workers) and record its anytime trace.

Budgets are counted the same way for everyone, in *steps* of the problem: for a black-box
problem (one step per run) that is the number of evaluations; for a multi-fidelity one it
is the consumed resource (epochs, boosting rounds...). A new trial starts (and a paused
one resumes) whenever a simulated worker is free and fewer steps than the budget have been
consumed (and, on black-box problems, fewer trials than the budget have started); trials
already running finish, and metrics are read off the trace at the budget, so the
overshoot counts for no one.

* tunelab methods run through ``Study.optimize`` (in-memory store) with tunelab's
  :class:`~tunelab.executors.SimulatedExecutor` and its ``step_budget``, and the method's
  scheduler when it has one (paused trials resume where they paused: checkpoints).
* Peers run through :func:`run_peer_loop`, the same event-driven loop written out: N
  simulated workers, a heap of step events at ``start + cumulative cost``, ties broken by
  creation order, every step reported to the peer (its pruner) at its virtual time. A
  trial that ends frees its worker before the next event is processed, as in the
  executor. The test suite checks that both loops give identical traces for the same
  searcher.
* ``real`` problems (PMLB) train for real inside ``evaluate``; they run the same way with
  one worker, so the "simulated" seconds are the measured training seconds.

Incumbents (what "best so far" means), per suite (:data:`INCUMBENT_MODES`):

* ``"last"``: every trial that ends (completes or is stopped early) offers its value at the
  last step it ran; the best of those is the incumbent. For tunelab this is what the
  study's callbacks see (trials that finish; paused trials are not offered).
* ``"full"``: only a result at full fidelity counts: the value of a trial at step
  ``max_steps``. A trial stopped or paused at a lower rung never becomes the incumbent;
  before the first full-fidelity result the regret is 1. The trace then has one point per
  full-fidelity result (at the steps and virtual time it arrived). On black-box problems
  (one step) both modes are the same.

The objective of trial ``n`` evaluates with seed :func:`eval_seed` ``(run seed, n)``, for
every method alike: the noise of the n-th evaluation is common to all methods.

Each run also measures worker utilization on the virtual clock: busy worker-seconds (a
trial occupies its worker from its start or resume to its end or pause) over ``workers x
makespan``, split at the moment the step budget ran out (after it, no trial starts).
"""

from __future__ import annotations

import heapq
import math
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchmarks.harness.methods import Method, PeerOptimizer, get_method
from benchmarks.problems.base import Problem
from tunelab import SimStep, SimulatedExecutor, Study, TrialStatus
from tunelab.space import Config, config_key

__all__ = [
    "INCUMBENT_MODES",
    "RunResult",
    "RunTask",
    "Trace",
    "eval_seed",
    "run_many",
    "run_one",
    "run_peer_loop",
]


#: How the incumbent is chosen (see the module docstring).
INCUMBENT_MODES = ("last", "full")


def eval_seed(run_seed: int, number: int) -> int:
    """The evaluation seed of trial ``number`` in a run seeded ``run_seed`` (32 bits)."""
    return int(np.random.SeedSequence([run_seed, number, 0x7E57]).generate_state(1)[0])


# --------------------------------------------------------------------------- trace


@dataclass
class Trace:
    """The anytime trace of a run: one point after each finished trial."""

    evals: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best: list[float | None] = field(default_factory=list)
    regret: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[Any]]:
        return asdict(self)


class _Recorder:
    """Builds the trace. With ``incumbent="full"`` only full-fidelity results are points."""

    def __init__(self, problem: Problem, incumbent: str = "last") -> None:
        if incumbent not in INCUMBENT_MODES:
            raise ValueError(f"incumbent must be one of {INCUMBENT_MODES}; got {incumbent!r}")
        self.problem = problem
        self.incumbent = incumbent
        self.trace = Trace()
        self.best: float | None = None
        self.ended = 0  # trials that ended (any way), for the "last" mode's trial count
        self.full = 0  # results at full fidelity
        self.steps_run = 0  # steps consumed when the last trial ended

    def end(self, value: float | None, steps: int, seconds: float, trial_steps: int) -> None:
        """A trial ended after ``trial_steps`` steps with ``value``."""
        self.ended += 1
        self.steps_run = max(self.steps_run, steps)
        full = trial_steps >= max(int(self.problem.max_steps), 1)
        if full and value is not None:
            self.full += 1
        if self.incumbent == "last" or full:
            self.add(value, steps, seconds)

    def add(self, value: float | None, steps: int, seconds: float) -> None:
        if value is not None and math.isfinite(value):
            better = (
                self.best is None
                or (value < self.best if self.problem.direction == "min" else value > self.best)
            )
            if better:
                self.best = float(value)
        t = self.trace
        t.evals.append(len(t.evals) + 1)
        t.steps.append(int(steps))
        t.seconds.append(float(seconds))
        t.best.append(self.best)
        t.regret.append(1.0 if self.best is None else float(self.problem.regret(self.best)))


class Utilization:
    """Busy intervals of simulated workers, and the moment the step budget ran out.

    ``open(key, t, step)`` when a trial starts or resumes on a worker (at ``step``, its
    steps so far), ``close(key, t, step)`` when it ends or pauses; ``budget_out(t)`` once
    the budget's last step ran. :meth:`summary` gives busy worker-seconds, the makespan
    (the last close), the utilization ``busy / (workers x makespan)``, the same split at
    the budget-out moment (before it trials may start; in the tail after it none does and
    running ones finish), and the *straggler*: the run that ended last (when it started
    relative to the budget-out, from and to which step, and its seconds per step against
    the median run's).
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        #: (start, end, key, first step, last step)
        self.intervals: list[tuple[float, float, Any, int, int]] = []
        self._open: dict[Any, tuple[float, int]] = {}
        self.budget_time: float | None = None

    def open(self, key: Any, at: float, step: int = 0) -> None:
        self._open[key] = (at, step)

    def close(self, key: Any, at: float, step: int = 0) -> None:
        found = self._open.pop(key, None)
        if found is not None:
            self.intervals.append((found[0], at, key, found[1], step))

    def budget_out(self, at: float) -> None:
        if self.budget_time is None:
            self.budget_time = at

    def summary(self) -> dict[str, float]:
        makespan = max((b for _, b, *_ in self.intervals), default=0.0)
        busy = sum(b - a for a, b, *_ in self.intervals)
        out = {
            "workers": float(self.workers),
            "busy_s": busy,
            "makespan_s": makespan,
            "utilization": busy / (self.workers * makespan) if makespan > 0 else 1.0,
        }
        cut = self.budget_time if self.budget_time is not None else makespan
        before = sum(max(0.0, min(b, cut) - a) for a, b, *_ in self.intervals)
        tail = makespan - cut
        out.update({
            "budget_time_s": cut,
            "utilization_before_budget": before / (self.workers * cut) if cut > 0 else 1.0,
            "idle_before_budget_s": self.workers * cut - before,
            "tail_s": tail,
            "idle_tail_s": self.workers * tail - (busy - before),
        })
        ran = [(b - a) / (s1 - s0) for a, b, _, s0, s1 in self.intervals if s1 > s0]
        if self.intervals and ran:
            a, b, _, s0, s1 = max(self.intervals, key=lambda iv: (iv[1], iv[0]))
            per_step = (b - a) / (s1 - s0) if s1 > s0 else 0.0
            median = float(np.median(ran))
            out.update({
                "last_start_s": a,
                "last_from_step": float(s0),
                "last_to_step": float(s1),
                "last_seconds_per_step": per_step,
                "median_seconds_per_step": median,
            })
        return out

    @classmethod
    def from_log(
        cls, workers: int, log: Iterable[tuple[float, int, str, int]], budget: int
    ) -> Utilization:
        """From a :class:`~tunelab.SimulatedExecutor` log: ``start``/``resume`` open,
        ``paused``/``stopped``/``finish``/``failed`` close; the ``budget``-th ``report``
        is the budget-out moment."""
        util = cls(workers)
        reports = 0
        for at, number, kind, step in log:
            if kind in ("start", "resume"):
                util.open(number, at, step)
            elif kind in ("paused", "stopped", "finish", "failed"):
                util.close(number, at, step)
            elif kind == "report":
                reports += 1
                if reports == budget:
                    util.budget_out(at)
        return util


#: A per-process store of curves, ``(problem, evaluation seed, config) -> curve``, shared
#: by the runs of one (problem, seed): tunelab's methods all draw trial n's configuration
#: from ``RandomSearcher(seed)``, and Optuna's random-sampler methods share theirs, so they
#: evaluate the same configurations with the same evaluation seeds. A hit returns exactly
#: what ``evaluate`` returned the first time (problems are deterministic in (config,
#: seed)); only the CPU time inside ``evaluate`` changes. Not used for real problems.
CurveCache = dict[tuple[str, int, str], list[SimStep]]


class _Evaluator:
    """Calls ``problem.evaluate`` and adds up the CPU time spent inside it."""

    def __init__(self, problem: Problem, cache: CurveCache | None = None) -> None:
        self.problem = problem
        self.cpu = 0.0
        self.cache = None if problem.real else cache

    def __call__(self, config: Mapping[str, Any], seed: int) -> list[SimStep]:
        t0 = time.process_time()
        try:
            if self.cache is None:
                curve = list(self.problem.evaluate(config, seed))
            else:
                key = (self.problem.name, seed, config_key(config))
                found = self.cache.get(key)
                if found is None:
                    found = self.cache[key] = list(self.problem.evaluate(config, seed))
                curve = found
        finally:
            self.cpu += time.process_time() - t0
        return [SimStep(dict(s.metrics), float(s.seconds)) for s in curve]


# --------------------------------------------------------------------------- results


@dataclass
class RunResult:
    """One run: what ran, how it ended, its totals and its trace."""

    method: str
    problem: str
    family: str
    seed: int
    budget: int
    workers: int
    status: str = "ok"  # "ok" or "error"
    error: str | None = None
    trials: int = 0
    steps: int = 0
    seconds: float = 0.0
    cpu_total_s: float = 0.0
    cpu_eval_s: float = 0.0
    overhead_ms: float | None = None
    wall_s: float = 0.0
    #: "last" or "full" (see the module docstring)
    incumbent: str = "last"
    #: Configurations started, and results at full fidelity (max_steps).
    configs: int = 0
    full_evals: int = 0
    #: Worker utilization on the virtual clock (see :class:`Utilization`).
    utilization: dict[str, float] | None = None
    trace: Trace = field(default_factory=Trace)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["trace"] = self.trace.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        """The inverse of :meth:`to_dict` (for the ``--resume`` journal)."""
        known = {f for f in cls.__dataclass_fields__}
        fields = {k: v for k, v in data.items() if k in known and k != "trace"}
        return cls(**fields, trace=Trace(**data.get("trace", {})))

    @property
    def key(self) -> tuple[str, str, int, int, int]:
        """What identifies a run: method, problem, seed, budget and workers."""
        return (self.method, self.problem, self.seed, self.budget, self.workers)


# --------------------------------------------------------------------------- tunelab


def _run_tunelab(
    method: Method,
    problem: Problem,
    seed: int,
    budget: int,
    workers: int,
    evaluate: _Evaluator,
    recorder: _Recorder,
) -> tuple[int, Utilization]:
    """Run a tunelab method; returns the configurations started and the utilization."""
    assert method.make_searcher is not None
    searcher = method.make_searcher(problem, seed, budget)
    scheduler = (method.make_scheduler(problem, seed, budget)
                 if method.make_scheduler is not None else None)
    study = Study(
        f"bench-{method.name}-{uuid.uuid4().hex[:8]}",
        problem.space,
        metric=problem.metric,
        direction=problem.direction,
        searcher=searcher,
        scheduler=scheduler,
        store="memory",
    )
    executor = SimulatedExecutor(workers, step_budget=budget)

    def objective(trial: Any) -> list[SimStep]:
        return evaluate(trial.config, eval_seed(seed, trial.number))

    def on_trial(_study: Study, trial: Any) -> None:
        # Called for trials that finish (COMPLETE, STOPPED, FAILED), not on pauses.
        # A trial that reaches max_steps ends COMPLETE; its value is that step's metric.
        ok = trial.status in (TrialStatus.COMPLETE, TrialStatus.STOPPED)
        ran = int(trial.system_attrs.get("step", 0)) if ok else 0
        recorder.end(trial.value if ok else None, executor.steps_run, executor.now, ran)

    study.optimize(
        objective,
        n_trials=budget if problem.max_steps <= 1 else None,
        executor=executor,
        callbacks=[on_trial],
    )
    configs = sum(1 for entry in executor.log if entry[2] == "start")
    recorder.steps_run = executor.steps_run  # paused trials at the end are not called back
    study.store.close()
    return configs, Utilization.from_log(workers, executor.log, budget)


# --------------------------------------------------------------------------- peers


@dataclass
class _PeerTrial:
    token: Any
    curve: list[SimStep]
    done: int = 0


def run_peer_loop(
    peer: PeerOptimizer,
    problem: Problem,
    seed: int,
    budget: int,
    workers: int,
    evaluate: Callable[[Config, int], list[SimStep]],
    on_trial: Callable[[float | None, int, float, int], None],
    *,
    utilization: Utilization | None = None,
) -> int:
    """Drive ``peer`` on a virtual clock with ``workers`` simulated workers; returns the
    number of trials started.

    The same semantics as ``Study.optimize`` with the step-budgeted SimulatedExecutor:
    start trials while a worker is free and the budget allows, then process step events
    in (time, creation order) until one trial ends, and repeat. ``on_trial(value, steps
    consumed, virtual now, steps the trial ran)`` is called after each finished trial.
    ``utilization`` collects the workers' busy intervals.
    """
    max_trials = budget if problem.max_steps <= 1 else None
    events: list[tuple[float, int, int]] = []
    running: dict[int, _PeerTrial] = {}
    seq = started = steps_run = 0
    now = 0.0
    metric = problem.metric

    def push(at: float, number: int) -> None:
        nonlocal seq
        heapq.heappush(events, (at, seq, number))
        seq += 1

    while True:
        while (
            len(running) < workers
            and steps_run < budget
            and (max_trials is None or started < max_trials)
            and not peer.exhausted
        ):
            token, config = peer.ask()
            number = started
            started += 1
            curve = evaluate(config, eval_seed(seed, number))
            if not curve:
                raise ValueError(f"{problem.name}: evaluate returned an empty curve")
            running[number] = _PeerTrial(token, curve)
            if utilization is not None:
                utilization.open(number, now, 0)
            push(now + curve[0].seconds, number)
        if not running:
            break
        at, _, number = heapq.heappop(events)
        now = at
        trial = running[number]
        step = trial.curve[trial.done]
        trial.done += 1
        steps_run += 1
        if utilization is not None and steps_run == budget:
            utilization.budget_out(at)
        value = float(step.metrics[metric])
        stop = peer.report(trial.token, trial.done, value)
        if not stop and trial.done < len(trial.curve):
            push(at + trial.curve[trial.done].seconds, number)
            continue
        del running[number]
        if utilization is not None:
            utilization.close(number, now, trial.done)
        peer.tell(trial.token, value, stopped=trial.done < len(trial.curve))
        on_trial(value, steps_run, now, trial.done)
    return started


# --------------------------------------------------------------------------- one run


def run_one(
    method: Method | str,
    problem: Problem,
    seed: int,
    budget: int,
    workers: int = 1,
    *,
    incumbent: str = "last",
    raise_errors: bool = False,
    cache: CurveCache | None = None,
) -> RunResult:
    """Run ``method`` on ``problem`` for ``budget`` steps with ``workers`` simulated workers.

    ``incumbent`` is ``"last"`` or ``"full"`` (see the module docstring). Deterministic
    in ``seed`` (except the CPU and wall timings, and the seconds of real problems);
    SMAC3 also needs a fixed ``PYTHONHASHSEED`` (``run_many`` and the CLI set it to 0).
    Errors are recorded in the result unless ``raise_errors``. ``cache`` (see
    :data:`CurveCache`) reuses curves evaluated by earlier runs of the same problem.

    In ``"full"`` mode ``trials`` counts the configurations started (the overhead is per
    configuration) and ``steps``/``seconds`` are the run's totals; in ``"last"`` mode
    ``trials`` counts the trials that ended and ``steps``/``seconds`` are read at the last
    one, as before.
    """
    if isinstance(method, str):
        method = get_method(method)
    if problem.real:
        workers = 1
    result = RunResult(method.name, problem.name, problem.family, seed, budget, workers,
                       incumbent=incumbent)
    reason = method.not_installed() or method.not_applicable(problem)
    if reason is not None:
        raise ValueError(f"{method.name} cannot run on {problem.name}: {reason}")
    # Problems may compute their reference optimum lazily (PMLB): not on the run's clock.
    _ = (problem.optimum, problem.worst)
    evaluate = _Evaluator(problem, cache)
    recorder = _Recorder(problem, incumbent)
    util = Utilization(workers)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        if method.is_tunelab:
            result.configs, util = _run_tunelab(method, problem, seed, budget, workers,
                                                evaluate, recorder)
        else:
            assert method.make_peer is not None
            peer = method.make_peer(problem, seed, budget, workers)
            try:
                result.configs = run_peer_loop(peer, problem, seed, budget, workers, evaluate,
                                               recorder.end, utilization=util)
            finally:
                peer.close()
    except Exception as exc:
        if raise_errors:
            raise
        result.status, result.error = "error", f"{type(exc).__name__}: {exc}"
    result.cpu_total_s = time.process_time() - cpu0
    result.wall_s = time.perf_counter() - wall0
    result.cpu_eval_s = evaluate.cpu
    trace = recorder.trace
    result.trace = trace
    result.full_evals = recorder.full
    if incumbent == "full":
        result.trials = result.configs
        summary = util.summary()
        result.utilization = summary
        result.steps = recorder.steps_run
        result.seconds = summary["makespan_s"]
    else:
        result.trials = len(trace.evals)
        result.steps = trace.steps[-1] if trace.steps else 0
        result.seconds = trace.seconds[-1] if trace.seconds else 0.0
    if result.trials:
        overhead = (result.cpu_total_s - result.cpu_eval_s) / result.trials
        result.overhead_ms = max(overhead, 0.0) * 1000.0
    return result


# --------------------------------------------------------------------------- many runs


@dataclass(frozen=True)
class RunTask:
    """What a worker process needs to rebuild a run: the problem by family/suite/name."""

    method: str
    family: str
    suite: str
    problem: str
    seed: int
    budget: int
    workers: int
    cost: float = 1.0  # a rough relative cost, to start the long runs first
    incumbent: str = "last"

    @property
    def key(self) -> tuple[str, str, int, int, int]:
        """Same as :attr:`RunResult.key` for the run this task makes."""
        return (self.method, self.problem, self.seed, self.budget, self.workers)


_PROBLEMS: dict[tuple[str, str], dict[str, Problem]] = {}


def _resolve(family: str, suite: str, name: str) -> Problem:
    key = (family, suite)
    if key not in _PROBLEMS:
        from benchmarks.problems import family as load_family

        _PROBLEMS[key] = {p.name: p for p in load_family(family, suite)}
    return _PROBLEMS[key][name]


def _run_bundle(bundle: Sequence[RunTask]) -> list[RunResult]:
    """The runs of one (problem, seed), one after the other, sharing a curve cache."""
    cache: CurveCache = {}
    out = []
    for task in bundle:
        problem = _resolve(task.family, task.suite, task.problem)
        out.append(run_one(task.method, problem, task.seed, task.budget, task.workers,
                           incumbent=task.incumbent, cache=cache))
    return out


def _bundles(tasks: Sequence[RunTask]) -> list[list[int]]:
    """Task indices grouped by (family, problem, seed), costliest group first."""
    groups: dict[tuple[str, str, str, int], list[int]] = {}
    for i, task in enumerate(tasks):
        groups.setdefault((task.family, task.suite, task.problem, task.seed), []).append(i)
    return sorted(groups.values(), key=lambda g: -sum(tasks[i].cost for i in g))


_WARM = {"optuna": ("optuna", "optuna.samplers"), "smac": ("smac", "ConfigSpace"),
         "cmaes": ("cmaes",), "tunelab": ("scipy.stats.qmc",)}


def _warm_up(methods: Sequence[str]) -> None:
    """Import what the methods use once per process, outside every run's CPU clock."""
    import importlib

    modules: list[str] = []
    for name in methods:
        method = get_method(name)
        for key in (method.tool, *method.requires):
            modules += [m for m in _WARM.get(key, ()) if m not in modules]
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:
            continue
    if "optuna-gp" in methods:
        try:  # Optuna's GPSampler runs on torch: one thread, like every other run
            import torch

            torch.set_num_threads(1)
        except ImportError:
            pass


def run_many(
    tasks: Sequence[RunTask],
    jobs: int = 1,
    *,
    problems: Mapping[str, Problem] | None = None,
    progress: Callable[[int, int, RunResult], None] | None = None,
) -> list[RunResult]:
    """Run every task, ``jobs`` at a time in worker processes (``jobs=1``: in this
    process). The runs of one (problem, seed) run together in one process and share a
    :data:`CurveCache`. ``problems`` (name -> Problem) skips the registry lookup in this
    process. Results come back in the order of ``tasks``."""
    results: list[RunResult | None] = [None] * len(tasks)
    bundles = _bundles(tasks)
    methods = sorted({t.method for t in tasks})
    done = 0
    if jobs <= 1:
        _warm_up(methods)
        for bundle in bundles:
            cache: CurveCache = {}
            for i in bundle:
                task = tasks[i]
                problem = (problems or {}).get(task.problem) or _resolve(
                    task.family, task.suite, task.problem
                )
                result = run_one(task.method, problem, task.seed, task.budget, task.workers,
                                 incumbent=task.incumbent, cache=cache)
                results[i] = result
                done += 1
                if progress is not None:
                    progress(done, len(tasks), result)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = multiprocessing.get_context("spawn")
        # SMAC3 iterates over sets: fix the workers' hash seed so that runs reproduce.
        saved = os.environ.get("PYTHONHASHSEED")
        os.environ["PYTHONHASHSEED"] = "0"
        try:
            with ProcessPoolExecutor(
                jobs, mp_context=context, initializer=_warm_up, initargs=(methods,)
            ) as pool:
                futures = {
                    pool.submit(_run_bundle, [tasks[i] for i in bundle]): bundle
                    for bundle in bundles
                }
                for future in as_completed(futures):
                    for i, result in zip(futures[future], future.result(), strict=True):
                        results[i] = result
                        done += 1
                        if progress is not None:
                            progress(done, len(tasks), result)
        finally:
            if saved is None:
                os.environ.pop("PYTHONHASHSEED", None)
            else:
                os.environ["PYTHONHASHSEED"] = saved
    return [r for r in results if r is not None]


def iter_traces(runs: Iterable[Mapping[str, Any]]) -> Iterable[dict[str, Any]]:
    """Flat rows (one per trace point) of run dicts, for the CSV."""
    for run in runs:
        trace = run["trace"]
        for i in range(len(trace["evals"])):
            yield {
                "family": run["family"],
                "problem": run["problem"],
                "method": run["method"],
                "seed": run["seed"],
                "evals": trace["evals"][i],
                "steps": trace["steps"][i],
                "seconds": trace["seconds"][i],
                "best": trace["best"][i],
                "regret": trace["regret"][i],
                "workers": run.get("workers"),
            }

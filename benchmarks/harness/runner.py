"""Run one (method, problem, seed, budget, workers) and record its anytime trace.

Budgets are counted the same way for everyone, in *steps* of the problem: for a black-box
problem (one step per run) that is the number of evaluations; for a multi-fidelity one it
is the consumed resource (epochs, boosting rounds...). A new trial starts whenever a
simulated worker is free and fewer steps than the budget have been consumed (and, on
black-box problems, fewer trials than the budget have started); trials already running
finish, and metrics are read off the trace at the budget, so the overshoot counts for no
one.

* tunelab methods run through ``Study.optimize`` (in-memory store) with tunelab's
  :class:`~tunelab.executors.SimulatedExecutor`, extended here only by the step budget.
* Peers run through :func:`run_peer_loop`, the same event-driven loop written out: N
  simulated workers, a heap of step events at ``start + cumulative cost``, ties broken by
  creation order, every step reported to the peer (its pruner) at its virtual time. A
  trial that ends frees its worker before the next event is processed, as in the
  executor. The test suite checks that both loops give identical traces for the same
  searcher.
* ``real`` problems (PMLB) train for real inside ``evaluate``; they run the same way with
  one worker, so the "simulated" seconds are the measured training seconds.

The objective of trial ``n`` evaluates with seed :func:`eval_seed` ``(run seed, n)``, for
every method alike: the noise of the n-th evaluation is common to all methods.
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
from tunelab.space import Config

__all__ = [
    "RunResult",
    "RunTask",
    "Trace",
    "eval_seed",
    "run_many",
    "run_one",
    "run_peer_loop",
]


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
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.trace = Trace()
        self.best: float | None = None

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


class _Evaluator:
    """Calls ``problem.evaluate`` and adds up the CPU time spent inside it."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.cpu = 0.0

    def __call__(self, config: Mapping[str, Any], seed: int) -> list[SimStep]:
        t0 = time.process_time()
        try:
            curve = self.problem.evaluate(config, seed)
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
    trace: Trace = field(default_factory=Trace)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["trace"] = self.trace.to_dict()
        return out


# --------------------------------------------------------------------------- tunelab


class _StepBudgetExecutor(SimulatedExecutor):
    """tunelab's simulated executor that starts no trial once ``step_budget`` steps ran."""

    def __init__(self, workers: int, step_budget: int) -> None:
        super().__init__(workers)
        self.step_budget = step_budget

    def can_start(self) -> bool:
        return self.steps_run < self.step_budget and super().can_start()


def _run_tunelab(
    method: Method,
    problem: Problem,
    seed: int,
    budget: int,
    workers: int,
    evaluate: _Evaluator,
    recorder: _Recorder,
) -> None:
    assert method.make_searcher is not None
    searcher = method.make_searcher(problem, seed, budget)
    study = Study(
        f"bench-{method.name}-{uuid.uuid4().hex[:8]}",
        problem.space,
        metric=problem.metric,
        direction=problem.direction,
        searcher=searcher,
        store="memory",
    )
    executor = _StepBudgetExecutor(workers, budget)

    def objective(trial: Any) -> list[SimStep]:
        return evaluate(trial.config, eval_seed(seed, trial.number))

    def on_trial(_study: Study, trial: Any) -> None:
        ok = trial.status in (TrialStatus.COMPLETE, TrialStatus.STOPPED)
        recorder.add(trial.value if ok else None, executor.steps_run, executor.now)

    study.optimize(
        objective,
        n_trials=budget if problem.max_steps <= 1 else None,
        executor=executor,
        callbacks=[on_trial],
    )
    study.store.close()


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
    on_trial: Callable[[float | None, int, float], None],
) -> None:
    """Drive ``peer`` on a virtual clock with ``workers`` simulated workers.

    The same semantics as ``Study.optimize`` with the step-budgeted SimulatedExecutor:
    start trials while a worker is free and the budget allows, then process step events
    in (time, creation order) until one trial ends, and repeat. ``on_trial(value, steps
    consumed, virtual now)`` is called after each finished trial.
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
            push(now + curve[0].seconds, number)
        if not running:
            break
        at, _, number = heapq.heappop(events)
        now = at
        trial = running[number]
        step = trial.curve[trial.done]
        trial.done += 1
        steps_run += 1
        value = float(step.metrics[metric])
        stop = peer.report(trial.token, trial.done, value)
        if not stop and trial.done < len(trial.curve):
            push(at + trial.curve[trial.done].seconds, number)
            continue
        del running[number]
        peer.tell(trial.token, value, stopped=trial.done < len(trial.curve))
        on_trial(value, steps_run, now)


# --------------------------------------------------------------------------- one run


def run_one(
    method: Method | str,
    problem: Problem,
    seed: int,
    budget: int,
    workers: int = 1,
    *,
    raise_errors: bool = False,
) -> RunResult:
    """Run ``method`` on ``problem`` for ``budget`` steps with ``workers`` simulated workers.

    Deterministic in ``seed`` (except the CPU and wall timings, and the seconds of real
    problems); SMAC3 also needs a fixed ``PYTHONHASHSEED`` (``run_many`` and the CLI set
    it to 0). Errors are recorded in the result unless ``raise_errors``.
    """
    if isinstance(method, str):
        method = get_method(method)
    if problem.real:
        workers = 1
    result = RunResult(method.name, problem.name, problem.family, seed, budget, workers)
    reason = method.not_installed() or method.not_applicable(problem)
    if reason is not None:
        raise ValueError(f"{method.name} cannot run on {problem.name}: {reason}")
    # Problems may compute their reference optimum lazily (PMLB): not on the run's clock.
    _ = (problem.optimum, problem.worst)
    evaluate = _Evaluator(problem)
    recorder = _Recorder(problem)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        if method.is_tunelab:
            _run_tunelab(method, problem, seed, budget, workers, evaluate, recorder)
        else:
            assert method.make_peer is not None
            peer = method.make_peer(problem, seed, budget, workers)
            try:
                run_peer_loop(peer, problem, seed, budget, workers, evaluate, recorder.add)
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


_PROBLEMS: dict[tuple[str, str], dict[str, Problem]] = {}


def _resolve(family: str, suite: str, name: str) -> Problem:
    key = (family, suite)
    if key not in _PROBLEMS:
        from benchmarks.problems import family as load_family

        _PROBLEMS[key] = {p.name: p for p in load_family(family, suite)}
    return _PROBLEMS[key][name]


def _run_task(task: RunTask) -> RunResult:
    problem = _resolve(task.family, task.suite, task.problem)
    return run_one(task.method, problem, task.seed, task.budget, task.workers)


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


def run_many(
    tasks: Sequence[RunTask],
    jobs: int = 1,
    *,
    problems: Mapping[str, Problem] | None = None,
    progress: Callable[[int, int, RunResult], None] | None = None,
) -> list[RunResult]:
    """Run every task, ``jobs`` at a time in worker processes (``jobs=1``: in this
    process). ``problems`` (name -> Problem) skips the registry lookup in this process.
    Results come back in the order of ``tasks``."""
    results: list[RunResult | None] = [None] * len(tasks)
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].cost)
    methods = sorted({t.method for t in tasks})
    if jobs <= 1:
        _warm_up(methods)
        for done, i in enumerate(order, 1):
            task = tasks[i]
            problem = (problems or {}).get(task.problem) or _resolve(
                task.family, task.suite, task.problem
            )
            results[i] = run_one(task.method, problem, task.seed, task.budget, task.workers)
            if progress is not None:
                progress(done, len(tasks), results[i])  # type: ignore[arg-type]
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
                futures = {pool.submit(_run_task, tasks[i]): i for i in order}
                for done, future in enumerate(as_completed(futures), 1):
                    i = futures[future]
                    results[i] = future.result()
                    if progress is not None:
                        progress(done, len(tasks), results[i])  # type: ignore[arg-type]
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
            }

"""The simulated-time executor: same seed, same events; workers respected; time adds up."""

from __future__ import annotations

import pytest

import tunelab
from tunelab import Decision, Float, Int, SimStep, SimulatedExecutor, Space, Study, TrialStatus

SPACE = Space(x=Float(0, 1), epochs=Int(1, 5))


def curve(trial):
    """``epochs`` steps; each costs 1 + 9x seconds; the loss falls with steps."""
    cost = 1.0 + 9.0 * trial["x"]
    steps = range(1, trial["epochs"] + 1)
    return [SimStep({"loss": trial["x"] + 1.0 / step}, cost) for step in steps]


def run(workers: int, seed: int = 0, n: int = 30, scheduler=None, **kwargs):
    sim = SimulatedExecutor(workers, **kwargs)
    study = Study("sim", SPACE, metric="loss", seed=seed, store="memory", scheduler=scheduler,
                  searcher="random")  # the same configurations whatever the worker count
    study.optimize(curve, n_trials=n, executor=sim)
    return study, sim


def test_same_seed_same_event_order_and_times():
    _, first = run(4, seed=3)
    _, second = run(4, seed=3)
    assert first.log == second.log and first.now == second.now
    _, other = run(4, seed=4)
    assert other.log != first.log


def test_worker_count_is_respected_and_used():
    for workers in (1, 3, 8):
        _, sim = run(workers, n=40)
        active = peak = 0
        for _, _, kind, _ in sorted(sim.log, key=lambda e: (e[0], e[2] != "finish")):
            if kind == "start":
                active += 1
                peak = max(peak, active)
            elif kind in ("finish", "stopped", "paused", "failed"):
                active -= 1
        assert peak == workers


def test_virtual_time_adds_up():
    study, sim = run(1, n=20)
    trials = study.trials
    total = sum((1.0 + 9.0 * t.config["x"]) * t.config["epochs"] for t in trials)
    assert sim.now == pytest.approx(total)
    assert sim.steps_run == sum(t.config["epochs"] for t in trials)
    # with W workers the work is the same and the makespan is between total/W and total
    _, sim4 = run(4, n=20)
    assert sim4.steps_run == sim.steps_run
    assert total / 4 - 1e-9 <= sim4.now <= total
    starts = [e[0] for e in sim4.log if e[2] == "start"]
    assert starts[:4] == [0.0] * 4 and starts == sorted(starts)


def test_reports_arrive_in_virtual_time_order_across_workers():
    seen = []

    class Recorder(tunelab.FIFOScheduler):
        def on_report(self, trial, report):
            seen.append(report.step)
            return Decision.CONTINUE

    study, sim = run(3, n=12, scheduler=Recorder())
    report_times = [e[0] for e in sim.log if e[2] == "report"]
    assert report_times == sorted(report_times) and len(seen) == len(report_times)
    full = study.trial(0)
    assert [r.step for r in full.reports] == list(range(1, full.config["epochs"] + 1))
    assert full.value == pytest.approx(full.config["x"] + 1.0 / full.config["epochs"])


def test_a_stopped_trial_frees_its_worker_at_that_moment():
    class StopAtOne(tunelab.FIFOScheduler):
        def on_report(self, trial, report):
            return Decision.STOP

    study, sim = run(1, n=10, scheduler=StopAtOne())
    assert all(t.status is TrialStatus.STOPPED for t in study.trials)
    assert sim.steps_run == 10
    assert sim.now == pytest.approx(sum(1.0 + 9.0 * t.config["x"] for t in study.trials))


def test_time_budget_stops_new_trials():
    study, sim = run(2, n=1000, time_budget=50.0)
    starts = [e[0] for e in sim.log if e[2] == "start"]
    assert max(starts) < 50.0 and len(study.trials) < 1000
    assert all(t.status is TrialStatus.COMPLETE for t in study.trials)


def test_a_hard_budget_end_stops_running_trials_at_once():
    _, soft = run(4, n=1000, step_budget=40)
    study, hard = run(4, n=1000, step_budget=40, at_budget="stop")
    assert hard.steps_run == 40 and soft.steps_run > 40  # soft: running trials finish
    assert hard.now < soft.now
    assert not hard._trials and not [t for t in study.trials if t.status is TrialStatus.RUNNING]
    # the 40th step ends the run: nothing is logged after it, and the same events led there
    last_report = max(e[0] for e in hard.log if e[2] == "report")
    assert max(e[0] for e in hard.log) == last_report == hard.now
    assert [e for e in hard.log if e[2] == "start"] == [
        e for e in soft.log if e[2] == "start" and e[0] <= hard.now]
    stopped = [t for t in study.trials if t.status is TrialStatus.STOPPED]
    assert stopped and all(t.value is not None for t in stopped if t.system_attrs.get("step"))


@pytest.mark.parametrize(
    ("objective", "reason"),
    [
        (lambda t: [], "non-empty list of SimStep"),
        (lambda t: 0.5, "non-empty list of SimStep"),
        (lambda t: [SimStep({"loss": 1.0}, -1.0)], "seconds must be a finite number >= 0"),
        (lambda t: [SimStep({"loss": float("nan")}, 1.0)], "must be finite"),
        (lambda t: [SimStep({"acc": 1.0}, 1.0)], "never reported the target metric 'loss'"),
        (lambda t: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_bad_curves_fail_their_trial(objective, reason):
    sim = SimulatedExecutor(2)
    study = Study("bad", SPACE, metric="loss", store="memory", seed=0)
    study.optimize(objective, n_trials=3, executor=sim)
    assert [t.status for t in study.trials] == [TrialStatus.FAILED] * 3
    assert all(reason in t.error for t in study.trials)


def test_a_thousand_trials_take_well_under_a_second_per_hundred():
    import time

    start = time.process_time()
    study, sim = run(4, n=1000)
    assert len(study.trials) == 1000 and sim.steps_run > 1000
    assert time.process_time() - start < 5.0


def test_bad_arguments():
    with pytest.raises(tunelab.InvalidArgumentError, match="`workers` must be an integer >= 1"):
        SimulatedExecutor(0)
    with pytest.raises(tunelab.InvalidArgumentError, match="`time_budget` must be a number > 0"):
        SimulatedExecutor(2, time_budget=0)
    with pytest.raises(tunelab.InvalidArgumentError, match="`at_budget` must be one of"):
        SimulatedExecutor(2, at_budget="pause")

"""Multi-fidelity schedulers: exact rung schedules, promotions and stops on hand-made
curves, pause and resume from checkpoints, failures that must not stall a rung, and
scheduler state rebuilt from the store."""

from __future__ import annotations

import os
from collections import Counter

import pytest

import tunelab
from tunelab import (
    ASHA,
    AsyncHyperband,
    Axis,
    Decision,
    Float,
    Hyperband,
    MedianStopping,
    SimStep,
    SimulatedExecutor,
    Space,
    Study,
    SuccessiveHalving,
    TrialStatus,
)
from tunelab.schedulers import hyperband_plan, ladder, make_scheduler, successive_halving_plan

SPACE = Space(x=Float(0, 1))
# Enqueued in this order; the loss of a trial is its x at every step.
XS = [0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4]


def _flat_curve(steps: int, seconds: float = 1.0):
    def curve(trial):
        return [SimStep({"loss": trial["x"]}, seconds) for _ in range(steps)]

    return curve


def _study(scheduler, name="s", store="memory", **kwargs) -> Study:
    return Study(name, SPACE, metric="loss", store=store, scheduler=scheduler, seed=0, **kwargs)


def _enqueue(study: Study, xs=XS) -> None:
    for x in xs:
        study.enqueue({"x": x})


def _events(sim: SimulatedExecutor, kinds: set[str]) -> list[tuple[int, str, int]]:
    return [(number, kind, step) for _t, number, kind, step in sim.log if kind in kinds]


# --------------------------------------------------------------------------- plans


@pytest.mark.parametrize(
    ("low", "high", "eta", "expected"),
    [
        # Li et al. (JMLR 2018), Table 1: R = 81, eta = 3
        (1, 81, 3, [
            ((81, 27, 9, 3, 1), (1, 3, 9, 27, 81)),
            ((34, 11, 3, 1), (3, 9, 27, 81)),
            ((15, 5, 1), (9, 27, 81)),
            ((8, 2), (27, 81)),
            ((5,), (81,)),
        ]),
        (1, 16, 2, [
            ((16, 8, 4, 2, 1), (1, 2, 4, 8, 16)),
            ((10, 5, 2, 1), (2, 4, 8, 16)),
            ((7, 3, 1), (4, 8, 16)),
            ((5, 2), (8, 16)),
            ((5,), (16,)),
        ]),
        # R / r_min = 50 is no power of 4: rung resources are rounded up to whole steps
        (2, 100, 4, [
            ((16, 4, 1), (7, 25, 100)),
            ((6, 1), (25, 100)),
            ((3,), (100,)),
        ]),
        (10, 10, 3, [((1,), (10,))]),
    ],
)
def test_hyperband_brackets_match_the_paper(low, high, eta, expected):
    plans = hyperband_plan(low, high, eta)
    assert [(p.configs, p.resources) for p in plans] == expected
    assert [p.s for p in plans] == list(range(len(expected) - 1, -1, -1))


def test_ladders_and_successive_halving_plans():
    assert ladder(81, 3, 2) == [9, 27, 81]
    assert ladder(100, 2, 2) == [25, 50, 100]
    assert successive_halving_plan(16, 100, 2, 2).configs == (16, 8, 4)
    assert successive_halving_plan(5, 9, 3, 2).configs == (5, 1, 1)  # never below one
    sh = SuccessiveHalving(min_resource=3, max_resource=27, eta=3)
    assert [(r.resource, r.planned) for r in sh.rungs()] == [(3, 9), (9, 3), (27, 1)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_resource": 0}, "`min_resource` must be an integer >= 1"),
        ({"max_resource": 2.5}, "`max_resource` must be an integer >= 1"),
        ({"min_resource": 9, "max_resource": 3}, "must be <= `max_resource` (3)"),
        ({"eta": 1}, "`eta` must be a number > 1"),
        ({"eta": True}, "`eta` must be a number > 1"),
    ],
)
def test_bad_scheduler_arguments_are_named(kwargs, message):
    for cls in (SuccessiveHalving, Hyperband, ASHA, AsyncHyperband):
        with pytest.raises(tunelab.InvalidArgumentError, match=message.replace("(", r"\(")
                           .replace(")", r"\)")):
            cls(**kwargs)
    with pytest.raises(tunelab.InvalidArgumentError, match="`mode` must be one of"):
        ASHA(mode="eager")
    with pytest.raises(tunelab.InvalidArgumentError, match="`n_configs` must be an integer"):
        SuccessiveHalving(n_configs=0)
    with pytest.raises(tunelab.InvalidArgumentError, match="unknown scheduler 'hb'"):
        make_scheduler("hb")


# --------------------------------------------------------------------------- synchronous


def test_successive_halving_runs_its_rungs_exactly():
    # 16 configurations at 25 epochs, the best 8 continue to 50, the best 4 to 100
    sim = SimulatedExecutor(4)
    study = _study(SuccessiveHalving(min_resource=25, max_resource=100, eta=2, n_configs=16))
    study.optimize(_flat_curve(100), n_trials=16, executor=sim)
    budget = study.budget()
    assert [(r.resource, r.planned, r.reached) for r in budget.rungs] == [
        (25, 16, 16), (50, 8, 8), (100, 4, 4)]
    assert budget.consumed == sim.steps_run == 16 * 25 + 8 * 25 + 4 * 50
    assert budget.full_equivalents == pytest.approx(8.0)
    trials = study.trials
    best4 = sorted(trials, key=lambda t: t.config["x"])[:4]
    assert {t.number for t in trials if t.status is TrialStatus.COMPLETE} == {
        t.number for t in best4}
    assert Counter(t.status for t in trials) == {TrialStatus.COMPLETE: 4, TrialStatus.STOPPED: 12}


@pytest.mark.parametrize(("low", "high", "eta"), [(1, 81, 3), (1, 16, 2), (2, 100, 4)])
def test_hyperband_iteration_runs_every_bracket_as_planned(low, high, eta):
    plans = hyperband_plan(low, high, eta)
    n_trials = sum(p.configs[0] for p in plans)
    sim = SimulatedExecutor(3)
    study = _study(Hyperband(low, high, eta))
    study.optimize(_flat_curve(high), n_trials=n_trials, executor=sim)
    reached = {(r.bracket, r.resource): r.reached for r in study.budget().rungs}
    for index, plan in enumerate(plans):
        for configs, resource in zip(plan.configs, plan.resources, strict=True):
            assert reached[(index, resource)] == configs, (index, resource)
    statuses = Counter(t.status for t in study.trials)
    assert statuses[TrialStatus.COMPLETE] == sum(p.configs[-1] for p in plans)
    assert set(statuses) <= {TrialStatus.COMPLETE, TrialStatus.STOPPED}


def test_synchronous_rung_never_leaves_workers_idle():
    """While bracket 0 waits for a straggler at its first rung, the next bracket starts."""

    def curve(trial):
        seconds = 50.0 if trial["x"] == 0.5 else 1.0  # trial 0 is slow
        return [SimStep({"loss": trial["x"]}, seconds) for _ in range(9)]

    sim = SimulatedExecutor(4)
    study = _study(SuccessiveHalving(1, 9, 3))
    _enqueue(study)
    study.optimize(curve, n_trials=200, executor=sim)
    first_pause_of_0 = next(t for t, n, kind, _s in sim.log if n == 0 and kind == "paused")
    starts_of_bracket_1 = [t for t, n, kind, _s in sim.log if kind == "start" and n >= 9]
    assert first_pause_of_0 == 50.0
    assert min(starts_of_bracket_1) < first_pause_of_0
    # nobody was idle before the straggler arrived: 3 workers kept busy on others
    busy_steps_before = sum(1 for t, n, kind, _s in sim.log
                            if kind == "report" and n != 0 and t <= 50.0)
    assert busy_steps_before == 3 * 50


def test_failed_trial_does_not_stall_a_rung():
    def curve(trial):
        if trial["x"] == 0.1:
            raise RuntimeError("diverged")
        return [SimStep({"loss": trial["x"]}, 1.0) for _ in range(9)]

    study = _study(SuccessiveHalving(1, 9, 3))
    _enqueue(study)
    study.optimize(curve, n_trials=9, executor=SimulatedExecutor(2))
    by_x = {t.config["x"]: t for t in study.trials}
    assert by_x[0.1].status is TrialStatus.FAILED
    # the 8 others settle rung 0; the best 3 of them (0.2, 0.3, 0.4) go on, 0.2 finishes
    assert {x for x, t in by_x.items() if t.system_attrs["step"] >= 3} == {0.2, 0.3, 0.4}
    assert [x for x, t in by_x.items() if t.status is TrialStatus.COMPLETE] == [0.2]
    assert all(t.status is not TrialStatus.PAUSED for t in study.trials)


def test_worker_killed_mid_trial_does_not_stall_a_rung():
    def objective(trial):
        state = trial.load_checkpoint() or {"epochs": 0}
        for epoch in range(trial.resumed_from + 1, trial.resource + 1):
            if trial["x"] == 0.9:
                os._exit(3)  # the worker process dies
            state["epochs"] += 1
            trial.save_checkpoint(state, step=epoch)
            if trial.report(epoch, loss=trial["x"]) is not Decision.CONTINUE:
                return None
        return None

    study = _study(SuccessiveHalving(1, 9, 3))
    _enqueue(study)
    study.optimize(objective, n_trials=9, workers=2)
    by_x = {t.config["x"]: t for t in study.trials}
    assert "exited with code 3" in by_x[0.9].error
    assert by_x[0.1].status is TrialStatus.COMPLETE
    assert Counter(t.status for t in study.trials) == {
        TrialStatus.COMPLETE: 1, TrialStatus.STOPPED: 7, TrialStatus.FAILED: 1}


# --------------------------------------------------------------------------- ASHA


def test_asha_promotion_on_hand_made_curves():
    sim = SimulatedExecutor(1)
    study = _study(ASHA(min_resource=1, max_resource=9, eta=3))
    _enqueue(study)
    study.optimize(_flat_curve(9), n_trials=9, executor=sim)
    # Worked out by hand from the paper's rule (promote the best paused trial in a rung's
    # top floor(n/3), highest rung first; else start a new trial):
    assert _events(sim, {"resume"}) == [(2, "resume", 1), (4, "resume", 1), (6, "resume", 1),
                                         (2, "resume", 3)]
    status = {t.number: (t.status, t.system_attrs["step"]) for t in study.trials}
    assert status[2] == (TrialStatus.COMPLETE, 9)
    assert status[4] == status[6] == (TrialStatus.PAUSED, 3)
    assert {n for n, (s, step) in status.items() if step == 1} == {0, 1, 3, 5, 7, 8}
    assert all(s is TrialStatus.PAUSED for n, (s, _) in status.items() if n != 2)
    assert study.best_trial.number == 2
    # only new steps are consumed when a trial resumes
    assert study.budget().consumed == sim.steps_run == 9 + 3 * 2 + 6


def test_asha_stopping_on_hand_made_curves():
    sim = SimulatedExecutor(1)
    study = _study(ASHA(min_resource=1, max_resource=9, eta=3, mode="stopping"))
    _enqueue(study)
    study.optimize(_flat_curve(9), n_trials=9, executor=sim)
    status = {t.number: (t.status, t.system_attrs["step"]) for t in study.trials}
    assert status == {
        0: (TrialStatus.COMPLETE, 9),  # first arrivals go on
        1: (TrialStatus.STOPPED, 1),
        2: (TrialStatus.COMPLETE, 9),
        3: (TrialStatus.STOPPED, 1),
        4: (TrialStatus.STOPPED, 1),
        5: (TrialStatus.STOPPED, 1),
        6: (TrialStatus.STOPPED, 3),  # top 2 of 7 at rung 1, not top 1 of 3 at rung 3
        7: (TrialStatus.STOPPED, 1),
        8: (TrialStatus.STOPPED, 1),
    }
    assert _events(sim, {"resume"}) == []


def test_async_hyperband_spreads_trials_over_brackets_by_hyperband_shares():
    sim = SimulatedExecutor(4)
    study = _study(AsyncHyperband(1, 27, 3))
    study.optimize(_flat_curve(27), n_trials=200, executor=sim)
    per_bracket = Counter(t.system_attrs["bracket"] for t in study.trials)
    shares = {p.s: p.configs[0] for p in hyperband_plan(1, 27, 3)}  # 27, 12, 6, 4
    total = sum(shares.values())
    for s, n in shares.items():
        assert per_bracket[s] == pytest.approx(200 * n / total, abs=1.5)
    # bracket s pauses its new trials first at rung 27 * 3**-s
    firsts = {s: min(t.system_attrs["step"] for t in study.trials
                     if t.system_attrs["bracket"] == s) for s in shares}
    assert firsts == {3: 1, 2: 3, 1: 9, 0: 27}


# --------------------------------------------------------------------------- median


def test_median_stopping_on_hand_made_curves():
    def objective(trial):
        for epoch in range(1, 5):
            if trial.report(epoch, loss=trial["x"]) is not Decision.CONTINUE:
                return None
        return None

    study = _study(MedianStopping(grace_period=2, min_samples=3))
    _enqueue(study, [0.2, 0.4, 0.6, 0.5, 0.3, 0.9])
    study.optimize(objective, n_trials=6)
    steps = {t.config["x"]: (t.status, len(study.trial(t.number).reports))
             for t in study.trials}
    # the first three run through; median of finished running averages is 0.4
    assert steps[0.2] == steps[0.4] == steps[0.6] == (TrialStatus.COMPLETE, 4)
    assert steps[0.5] == (TrialStatus.STOPPED, 2)  # 0.5 > 0.4 once past the grace period
    assert steps[0.3] == (TrialStatus.COMPLETE, 4)
    assert steps[0.9] == (TrialStatus.STOPPED, 2)


# --------------------------------------------------------------------------- checkpoints


def _counting_objective(trial):
    """Trains one 'epoch' per step; its state proves where it resumed from."""
    state = trial.load_checkpoint()
    if state is None:
        state = {"epochs": 0, "history": [], "weights": __import__("numpy").zeros(3)}
        assert trial.resumed_from == 0
    else:
        assert state["epochs"] == trial.resumed_from  # resumed exactly where it paused
        state["history"] = list(state["history"])
    for epoch in range(trial.resumed_from + 1, trial.resource + 1):
        state["epochs"] += 1
        state["history"].append(epoch)
        state["weights"] = state["weights"] + 1
        decision = trial.report(epoch, loss=trial["x"] / state["epochs"])
        trial.save_checkpoint(state, step=epoch)
        if decision is not Decision.CONTINUE:
            break
    return None


@pytest.mark.parametrize("workers", [1, 2])
def test_promoted_trial_resumes_from_its_checkpoint(tmp_path, workers):
    study = _study(SuccessiveHalving(1, 9, 3), store=str(tmp_path / "t.db"),
                   artifacts=tmp_path / "art")
    _enqueue(study)
    study.optimize(_counting_objective, n_trials=9, workers=workers)
    best = study.trial(2)  # x = 0.1
    assert best.status is TrialStatus.COMPLETE
    assert [r.step for r in best.reports] == list(range(1, 10))  # no step ran twice
    assert best.system_attrs["resumes"] == 2 and best.system_attrs["consumed"] == 9
    assert study.budget().consumed == 9 * 1 + 3 * 2 + 1 * 6
    folder = study.trial_dir(2) / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["step-00000009"]  # keep 1
    for trial in study.trials:  # stopped trials' checkpoints (and folders) are deleted
        if trial.status is TrialStatus.STOPPED:
            assert not study.trial_dir(trial.number).exists()
    assert str(study.artifact_dir).startswith(str(tmp_path / "art"))


def test_checkpoint_retention_keeps_the_newest(tmp_path):
    study = _study(None, store="memory", artifacts=tmp_path, keep_checkpoints=2)

    def objective(trial):
        for epoch in range(1, 6):
            trial.report(epoch, loss=1.0 / epoch)
            trial.save_checkpoint({"epoch": epoch})
        return None

    study.optimize(objective, n_trials=1)
    names = sorted(p.name for p in (study.trial_dir(0) / "checkpoints").iterdir())
    assert names == ["step-00000004", "step-00000005"]


def test_restart_without_checkpoint_counts_the_whole_run():
    """An objective that retrains from scratch on resume consumes the whole grant."""

    def objective(trial):
        for epoch in range(1, trial.resource + 1):
            if trial.report(epoch, loss=trial["x"]) is not Decision.CONTINUE:
                break

    study = _study(SuccessiveHalving(1, 9, 3))
    _enqueue(study)
    study.optimize(objective, n_trials=9)
    assert study.trial(2).system_attrs["consumed"] == 1 + 3 + 9
    assert study.budget().consumed == 9 * 1 + 3 * 3 + 1 * 9


# --------------------------------------------------------------------------- fidelity


def test_fidelity_axes_and_returned_values_at_the_grant():
    """A data-subset objective that just returns its value at the granted fidelity."""
    seen = []

    def objective(trial):
        seen.append((trial.resource, trial.fidelity["subset"], trial.fidelity["layers"]))
        return {"loss": trial["x"] / trial.fidelity["subset"]}

    axes = {"subset": Axis(1 / 9, 1.0), "layers": Axis(2, 8, log=True, integer=True)}
    study = _study(SuccessiveHalving(1, 9, 3), fidelity=axes)
    _enqueue(study)
    study.optimize(objective, n_trials=9)
    assert sorted(set(seen)) == [(1, pytest.approx(1 / 9), 2), (3, pytest.approx(1 / 3), 4),
                                 (9, 1.0, 8)]
    assert Counter(r for r, _s, _l in seen) == {1: 9, 3: 3, 9: 1}
    best = study.trial(2)
    assert best.status is TrialStatus.COMPLETE and [r.step for r in best.reports] == [1, 3, 9]


def test_axis_values_and_errors():
    assert Axis(0.1, 1.0).at(1, 1, 9) == 0.1
    assert Axis(0.1, 1.0).at(9, 1, 9) == 1.0
    assert Axis(1, 9, log=True).at(3, 1, 9) == pytest.approx(3.0)
    with pytest.raises(tunelab.InvalidArgumentError, match="low > 0 and high > 0"):
        Axis(0, 1, log=True)
    with pytest.raises(tunelab.InvalidArgumentError, match=r"must be a tunelab\.Axis"):
        _study(None, fidelity={"epochs": (1, 9)})


# --------------------------------------------------------------------------- restore


def _state(scheduler):
    if isinstance(scheduler, ASHA):
        return {s: (b.results, b.paused, b.started) for s, b in scheduler._brackets.items()}
    if isinstance(scheduler, MedianStopping):
        return scheduler._averages
    return [(b.members, b.results, b.entered, b.to_resume) for b in scheduler._brackets]


@pytest.mark.parametrize(
    "make",
    [lambda: ASHA(1, 9, 3), lambda: ASHA(1, 9, 3, mode="stopping"),
     lambda: AsyncHyperband(1, 9, 3), lambda: Hyperband(1, 9, 3),
     lambda: SuccessiveHalving(1, 9, 3), lambda: MedianStopping(grace_period=2)],
)
def test_scheduler_state_is_rebuilt_from_the_store(tmp_path, make):
    db = str(tmp_path / "r.db")
    study = _study(make(), store=db)
    study.optimize(_flat_curve(9), n_trials=20, executor=SimulatedExecutor(3))
    rebuilt = tunelab.load_study("s", store=db)
    assert type(rebuilt.scheduler) is type(study.scheduler)
    assert rebuilt.scheduler.spec() == study.scheduler.spec()
    assert _state(rebuilt.scheduler) == _state(study.scheduler)


def test_resumed_study_promotes_trials_paused_in_an_earlier_session(tmp_path):
    db = str(tmp_path / "a.db")
    first = _study(ASHA(1, 9, 3), store=db)
    _enqueue(first)
    first.optimize(_flat_curve(9), n_trials=5, executor=SimulatedExecutor(1))
    paused_before = {t.number for t in first.trials if t.status is TrialStatus.PAUSED}
    again = tunelab.load_study("s", store=db)
    sim = SimulatedExecutor(1)
    again.optimize(_flat_curve(9), n_trials=4, executor=sim)
    resumed = {n for n, kind, _s in _events(sim, {"resume"})}
    assert resumed & paused_before  # earlier trials were promoted in this session
    assert {t.status for t in again.trials} <= {TrialStatus.PAUSED, TrialStatus.COMPLETE}


def test_ask_and_tell_follow_the_scheduler():
    study = _study(SuccessiveHalving(1, 3, 3))
    handles = [study.ask() for _ in range(3)]
    assert [h.resource for h in handles] == [1, 1, 1]
    for handle in handles:
        assert handle.report(1, loss=handle["x"]) is Decision.PAUSE
        assert study.tell(handle).status is TrialStatus.PAUSED
    best = min(handles, key=lambda h: h["x"])
    promoted = study.ask()  # the rung is settled: the best one resumes to 3
    assert promoted.number == best.number and promoted.resource == 3
    assert promoted.report(3, loss=0.0) is Decision.STOP
    assert study.tell(promoted).status is TrialStatus.COMPLETE
    assert Counter(t.status for t in study.trials) == {
        TrialStatus.COMPLETE: 1, TrialStatus.STOPPED: 2}


def test_command_trials_get_the_resource_fidelity_and_folder(tmp_path):
    import sys

    from tunelab.command import CommandObjective

    program = (
        "import json, os, sys\n"
        "r = int(sys.argv[1]); x = float(sys.argv[2])\n"
        "assert os.path.isdir(sys.argv[4]) and os.environ['TUNELAB_TRIAL_DIR'] == sys.argv[4]\n"
        "assert json.loads(os.environ['TUNELAB_FIDELITY'])['subset'] == float(sys.argv[3])\n"
        "for e in range(1, r + 1):\n"
        "    print(json.dumps({'step': e, 'loss': x / e, 'subset': float(sys.argv[3])}))\n"
    )
    command = [sys.executable, "-c", program, "{trial.resource}", "{x}", "{fidelity.subset}",
               "{trial.dir}"]
    study = _study(SuccessiveHalving(1, 9, 3), fidelity={"subset": Axis(0.1, 1.0)},
                   artifacts=tmp_path)
    _enqueue(study)
    study.optimize(CommandObjective(command, space=study.space), n_trials=9)
    best = study.trial(2)
    assert best.status is TrialStatus.COMPLETE and best.metrics["subset"] == 1.0
    # the program retrains from scratch at each rung: 1 + 3 + 9 steps
    assert best.system_attrs["consumed"] == 13
    assert study.budget().consumed == 9 * 1 + 3 * 3 + 9
    with pytest.raises(tunelab.InvalidArgumentError, match=r"\{trial\.resorce\}"):
        CommandObjective(["prog", "{trial.resorce}"], space=study.space)


def test_asha_ends_with_a_full_fidelity_result_when_trials_run_out():
    """With fewer than eta results at a rung nothing would be promoted; once no new trial
    may start, the best paused trial of each rung goes on, so a best trial exists."""
    sim = SimulatedExecutor(1)
    study = _study(ASHA(1, 9, 3))
    _enqueue(study, XS[:2])  # 0.5, 0.9: rung 1 holds 2 < 3 results
    study.optimize(_flat_curve(9), n_trials=2, executor=sim)
    assert study.best_trial.config["x"] == 0.5 and study.best_trial.system_attrs["step"] == 9
    assert study.trial(1).status is TrialStatus.PAUSED


def test_checkpoint_writes_are_atomic_and_never_prune_the_new_one(tmp_path):
    from tunelab._checkpoint import CheckpointFolder

    folder = CheckpointFolder(tmp_path, keep=1)
    folder.save({"epoch": 5}, step=5)
    folder.save({"epoch": 3, "note": "older step, written last"}, step=3)
    assert folder.steps() == [3] and folder.load()["note"] == "older step, written last"
    folder.save({"epoch": 3, "v": 2}, step=3)  # replacing a step keeps one in place
    assert folder.load() == {"epoch": 3, "v": 2}
    with pytest.raises(RuntimeError), folder.write(7) as scratch:
        (scratch / "half").write_text("x")
        raise RuntimeError("crash mid-write")
    assert folder.steps() == [3]  # the failed write left nothing behind
    dead = folder.root / ".tmp-step-00000009-999999999"
    dead.mkdir()
    folder.save({"epoch": 4}, step=4)
    assert not dead.exists() and folder.steps() == [4]
    with pytest.raises(tunelab.TrialError, match="JSON data or NumPy arrays"):
        folder.save({"model": object()}, step=5)
    with pytest.raises(tunelab.TrialError, match="step` must be an integer >= 0"):
        folder.save({}, step=-1)


@pytest.mark.parametrize("make", [lambda: SuccessiveHalving(1, 27, 3), lambda: Hyperband(1, 27, 3)])
def test_reports_that_jump_past_several_rungs_still_settle(make):
    def objective(trial):  # evaluates every 4 epochs: its first report passes rungs 1 and 3
        for epoch in range(4, trial.resource + 4, 4):
            epoch = min(epoch, trial.resource)
            if trial.report(epoch, loss=trial["x"]) is not Decision.CONTINUE:
                return

    study = _study(make())
    study.optimize(objective, n_trials=27)
    assert all(t.status in (TrialStatus.COMPLETE, TrialStatus.STOPPED) for t in study.trials)
    assert any(t.status is TrialStatus.COMPLETE for t in study.trials)


def test_a_new_study_of_the_same_name_never_loads_old_checkpoints(tmp_path):
    loaded = []

    def objective(trial):
        loaded.append(trial.load_checkpoint())
        trial.report(1, loss=trial["x"])
        trial.save_checkpoint({"x": trial["x"]})

    for _ in range(2):  # e.g. the store file was deleted, the artifacts were not
        db = tmp_path / "t.db"
        db.unlink(missing_ok=True)
        _study(None, store=str(db)).optimize(objective, n_trials=2)
    assert loaded == [None] * 4
    a, b = _study(None, name="same"), _study(None, name="same")  # two memory stores
    assert a.artifact_dir != b.artifact_dir


def test_interrupted_resume_goes_back_to_paused_with_its_checkpoint(tmp_path):
    calls = []
    interrupt = {"on": True}

    def objective(trial):
        state = trial.load_checkpoint() or {"epochs": 0}
        assert state["epochs"] == trial.resumed_from
        calls.append((trial.number, trial.resource, trial.resumed_from))
        for epoch in range(trial.resumed_from + 1, trial.resource + 1):
            if interrupt["on"] and trial.resource == 3 and epoch == 2:
                raise KeyboardInterrupt  # the driver is stopped mid-promotion
            state["epochs"] = epoch
            decision = trial.report(epoch, loss=trial["x"])
            trial.save_checkpoint(state, step=epoch)
            if decision is not Decision.CONTINUE:
                return

    db = str(tmp_path / "i.db")
    study = _study(SuccessiveHalving(1, 9, 3), store=db)
    _enqueue(study)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, n_trials=9)
    best = tunelab.load_study("s", store=db).trial(2)  # x = 0.1, promoted when interrupted
    assert best.status is TrialStatus.PAUSED and [r.step for r in best.reports] == [1]
    assert best.attempt == 2 and best.system_attrs["resource"] == 1
    calls.clear()
    interrupt["on"] = False
    again = tunelab.load_study("s", store=db)
    again.optimize(objective, n_trials=0)
    assert (2, 3, 1) in calls  # promoted again, from its checkpoint at step 1
    final = again.trial(2)
    assert final.status is TrialStatus.COMPLETE
    assert [r.step for r in final.reports] == list(range(1, 10))


def test_target_returned_at_the_end_but_never_reported_is_what_rungs_rank():
    def objective(trial):
        for epoch in range(1, trial.resource + 1):
            trial.report(epoch, train_loss=1.0)  # a side metric only
        return {"loss": trial["x"]}

    study = _study(SuccessiveHalving(1, 9, 3))
    _enqueue(study)
    study.optimize(objective, n_trials=9)
    assert study.best_trial.config["x"] == 0.1
    assert {t.config["x"] for t in study.trials if t.system_attrs["step"] >= 3} == {
        0.1, 0.2, 0.3}


def test_ask_lets_paused_trials_go_on_when_the_searcher_is_exhausted():
    study = Study("g", Space(x=tunelab.Categorical([0.1, 0.2, 0.3])), metric="loss",
                  store="memory", searcher="grid", scheduler=SuccessiveHalving(1, 3, 3))
    for _ in range(3):
        handle = study.ask()
        handle.report(1, loss=handle["x"])
        study.tell(handle)
    promoted = study.ask()  # the grid is exhausted, the rung's best goes on
    assert promoted["x"] == 0.1 and promoted.resource == 3
    promoted.report(3, loss=0.05)
    study.tell(promoted)
    with pytest.raises(tunelab.SearchExhausted):
        study.ask()
    assert Counter(t.status for t in study.trials) == {
        TrialStatus.COMPLETE: 1, TrialStatus.STOPPED: 2}


def test_fidelity_needs_a_resource_range():
    with pytest.raises(tunelab.InvalidArgumentError, match="has no max_resource"):
        _study(None, fidelity={"subset": Axis(0.1, 1.0)})
    study = _study(tunelab.FIFOScheduler(max_resource=9), fidelity={"subset": Axis(0.1, 1.0)})
    study.optimize(lambda t: {"loss": t.fidelity["subset"]}, n_trials=1)
    assert study.trials[0].value == 1.0

"""tunelab.analysis: fidelity agreement (rank correlations between resources)."""

from __future__ import annotations

import math

import pytest

import tunelab
from tunelab.analysis import (
    FidelityAgreement,
    RankAgreement,
    fidelity_agreement,
    resource_ladder,
    values_at,
)
from tunelab.trial import Report, Trial, TrialStatus

SPACE = tunelab.Space(x=tunelab.Float(0, 1))


def crossing(trial):
    """Large x starts slowly and ends best: rankings flip between steps 2 and 4."""
    for epoch in range(1, 10):
        trial.report(epoch, loss=trial["x"] / epoch + 0.3 * (1 - trial["x"]))


def checkpointed(trial):
    """A rung-friendly objective: resumes from its checkpoint, loss shrinks with x."""
    state = trial.load_checkpoint() or {"loss": 1.0}
    for epoch in range(trial.resumed_from + 1, trial.resource + 1):
        state["loss"] *= 0.5 + trial["x"] / 2
        decision = trial.report(epoch, loss=state["loss"])
        if decision == "PAUSE":
            trial.save_checkpoint(state, step=epoch)
        if decision != "CONTINUE":
            return


def fifo_study(objective=crossing, n_trials=8, name="fa", **kwargs):
    study = tunelab.Study(name, SPACE, metric="loss", store=kwargs.pop("store", "memory"),
                          scheduler=tunelab.FIFOScheduler(max_resource=9), seed=0, **kwargs)
    study.optimize(objective, n_trials=n_trials)
    return study


def trial_with(*reports: tuple[int, dict[str, float]]) -> Trial:
    return Trial(0, TrialStatus.COMPLETE, {}, reports=tuple(Report(s, m) for s, m in reports))


# --------------------------------------------------------------------------- values_at


def test_value_at_a_resource_is_the_first_report_at_or_past_it():
    trial = trial_with((1, {"loss": 0.9}), (3, {"loss": 0.5}), (7, {"loss": 0.2}))
    assert values_at(trial, "loss", [1, 2, 3, 5, 7, 9]) == {1: 0.9, 2: 0.5, 3: 0.5, 5: 0.2,
                                                            7: 0.2}


def test_value_at_falls_back_to_the_last_known_target_value():
    trial = trial_with((1, {"acc": 0.1}), (2, {"loss": 0.8}), (4, {"acc": 0.3}))
    # step 1 knows no loss yet; step 4 reports no loss, so the last one (0.8) counts
    assert values_at(trial, "loss", [1, 3]) == {3: 0.8}
    assert values_at(trial, "missing", [1, 2]) == {}


def test_value_at_follows_report_order_when_a_trial_restarted():
    # paused at 3, resumed without a checkpoint: it ran epochs 1..9 again
    trial = trial_with((1, {"loss": 0.9}), (3, {"loss": 0.7}), (1, {"loss": 0.95}),
                       (9, {"loss": 0.1}))
    assert values_at(trial, "loss", [1, 3, 9]) == {1: 0.9, 3: 0.7, 9: 0.1}


def test_resource_ladder():
    assert resource_ladder(27) == [1, 2, 4, 8, 16, 27]
    assert resource_ladder(16) == [1, 2, 4, 8, 16]
    assert resource_ladder(2) == [1, 2]
    assert resource_ladder(0) == []


# --------------------------------------------------------------------------- agreement


def test_agreement_without_rungs_uses_a_doubling_ladder_and_sees_the_flip():
    study = fifo_study()
    result = fidelity_agreement(study)
    assert isinstance(result, FidelityAgreement)
    assert result.resources == (1, 2, 4, 8, 9)
    assert [(p.low, p.high, p.n) for p in result.pairs] == [(1, 2, 8), (2, 4, 8), (4, 8, 8),
                                                            (8, 9, 8)]
    flip = result.pairs[1]
    assert flip.spearman == pytest.approx(-1) and flip.kendall == pytest.approx(-1)
    assert all(p.spearman == pytest.approx(1) for p in result.pairs if p is not flip)
    assert result.configurations == 8 and set(result.values[4]) == set(range(8))
    assert result.metric == "loss" and result.direction == "min"


def test_explicit_resources_are_sorted_and_validated():
    study = fifo_study()
    result = fidelity_agreement(study, resources=[9, 1, 1])
    assert result.resources == (1, 9)
    assert result.pairs[0].kendall == pytest.approx(-1)
    for bad, match in [([3], "at least two distinct"), ([1, 1], "at least two distinct"),
                       ([1, 2.5], "integer steps"), ([-1, 2], "integer steps"),
                       ([True, 3], "integer steps"), ("1,3", "list of integer steps"),
                       (5, "list of integer steps")]:
        with pytest.raises(tunelab.InvalidArgumentError, match=match):
            fidelity_agreement(study, resources=bad)


def test_fewer_than_three_configurations_give_no_correlation():
    study = fifo_study(n_trials=2)
    pair = fidelity_agreement(study, resources=[1, 9]).pairs[0]
    assert pair == RankAgreement(1, 9, 2, None, None,
                                 "fewer than 3 configurations reached both")
    assert "fewer than 3 configurations" in fidelity_agreement(study).table()


def test_constant_values_give_no_correlation_and_no_warning(recwarn):
    def flat_start(trial):
        trial.report(1, loss=1.0)  # every configuration looks the same after one epoch
        trial.report(5, loss=trial["x"])

    study = fifo_study(flat_start, n_trials=5)
    pair = fidelity_agreement(study, resources=[1, 5]).pairs[0]
    assert (pair.n, pair.spearman, pair.kendall) == (5, None, None)
    assert pair.note == "every value at step 1 is the same"
    assert len(recwarn) == 0


def test_no_reports_no_pairs():
    study = tunelab.Study("empty", SPACE, store="memory")
    study.optimize(lambda c: c["x"], n_trials=3)  # no scheduler limit, no reports
    result = fidelity_agreement(study)
    assert result.pairs == () and result.resources == ()
    assert "no pair of resources" in result.table()


def test_rung_schedulers_compare_their_rungs():
    study = tunelab.Study("hb", SPACE, metric="loss", store="memory", seed=1,
                          scheduler=tunelab.Hyperband(min_resource=1, max_resource=9, eta=3))
    study.optimize(checkpointed, n_trials=17)
    result = fidelity_agreement(study)
    assert result.resources == (1, 3, 9)
    low, high = result.pairs
    # every trial that ran from scratch reported step 1; the ranks never change here
    assert low.n > high.n >= 3
    assert low.spearman == pytest.approx(1) and high.kendall == pytest.approx(1)
    table = result.table()
    assert "spearman" in table and "kendall" in table and "'loss' (min)" in table


def test_a_proxy_that_only_returns_a_value_counts_at_its_grant():
    """A data-subset objective returns one value per run; the study records it at the
    granted resource, so rungs still compare."""

    def subset(trial):
        noise = math.sin(1000 * trial["x"]) * 0.3 / trial.resource  # less noise with more data
        return trial["x"] + noise

    study = tunelab.Study("asha", SPACE, store="memory", seed=3,
                          scheduler=tunelab.ASHA(min_resource=1, max_resource=9, eta=3))
    study.optimize(subset, n_trials=27)
    result = fidelity_agreement(study)
    assert result.resources == (1, 3, 9)
    # 27 at rung 1, 9 promoted to 3; at least 3 of those to 9 (asynchronous: a promotion
    # decided early is never revoked, so ASHA may promote one more)
    assert result.pairs[0].n == 9 and result.pairs[1].n in (3, 4)
    assert all(p.spearman is not None and 0 < p.spearman <= 1 for p in result.pairs)


def test_a_study_loaded_from_sqlite_gives_the_same_agreement(tmp_path):
    url = str(tmp_path / "s.db")
    study = tunelab.Study("hb", SPACE, metric="loss", store=url, seed=1,
                          artifacts=tmp_path / "art",
                          scheduler=tunelab.Hyperband(min_resource=1, max_resource=9, eta=3))
    study.optimize(checkpointed, n_trials=9)
    loaded = tunelab.load_study("hb", store=url)
    assert fidelity_agreement(loaded) == fidelity_agreement(study)
    assert fidelity_agreement(loaded).values == fidelity_agreement(study).values

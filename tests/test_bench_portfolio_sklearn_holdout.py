"""The selection-by-validation arithmetic of the honest held-out protocol
(benchmarks/portfolio_sklearn_holdout.py), on hand-made tables."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from benchmarks.portfolio_sklearn_holdout import (
    TEST,
    VALID,
    cells,
    expected_test_of_best_validation,
    first_best_by_validation,
    normalized_regret,
    split_row,
    three_way,
)
from benchmarks.portfolio_sklearn_models import MODELS


def brute_force(valid: list[float], test: list[float], n: int) -> float:
    """Mean over every n-subset of the test score of its best-by-validation member (ties:
    uniformly at random, i.e. the tied members' mean test score)."""
    total, count = 0.0, 0
    for subset in itertools.combinations(range(len(valid)), n):
        best = max(valid[i] for i in subset)
        tied = [test[i] for i in subset if valid[i] == best]
        total += sum(tied) / len(tied)
        count += 1
    return total / count


def test_first_best_by_validation_reads_test_of_validation_pick() -> None:
    valid = [0.6, 0.8, 0.7, 0.9]
    test = [0.9, 0.5, 0.7, 0.4]
    assert first_best_by_validation(valid, test, 1) == 0.9
    # the best validation among the first 3 is config 1, whose test score is poor
    assert first_best_by_validation(valid, test, 3) == 0.5
    assert first_best_by_validation(valid, test, 4) == 0.4
    assert first_best_by_validation(valid, test, 10) == 0.4  # n past the end: all


def test_first_best_by_validation_tie_goes_to_earliest() -> None:
    assert first_best_by_validation([0.7, 0.7, 0.5], [0.1, 0.9, 0.5], 3) == 0.1


def test_first_best_by_validation_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        first_best_by_validation([], [], 1)
    with pytest.raises(ValueError):
        first_best_by_validation([0.5], [0.5, 0.6], 1)


def test_expected_test_matches_hand_computation() -> None:
    # 3 configurations, pairs: validation picks the higher-validation one.
    valid, test = [0.5, 0.7, 0.9], [0.6, 0.8, 0.3]
    # pairs: {0,1} -> 0.8, {0,2} -> 0.3, {1,2} -> 0.3
    assert expected_test_of_best_validation(valid, test, 2) == pytest.approx(1.4 / 3)
    assert expected_test_of_best_validation(valid, test, 1) == pytest.approx(1.7 / 3)
    assert expected_test_of_best_validation(valid, test, 3) == pytest.approx(0.3)
    # the validation-optimistic answer (best test of n) would differ
    assert expected_test_of_best_validation(valid, test, 2) < 0.6


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])
def test_expected_test_matches_brute_force_with_ties(n: int) -> None:
    valid = [0.5, 0.7, 0.7, 0.6, 0.9, 0.5, 0.9]
    test = [0.2, 0.8, 0.4, 0.9, 0.1, 0.6, 0.7]
    assert expected_test_of_best_validation(valid, test, n) == pytest.approx(
        brute_force(valid, test, n))


def test_expected_test_random_table_brute_force() -> None:
    rng = np.random.default_rng(3)
    valid = [float(v) for v in rng.integers(0, 5, size=9) / 4]  # many ties
    test = [float(t) for t in rng.random(9)]
    for n in range(1, 10):
        assert expected_test_of_best_validation(valid, test, n) == pytest.approx(
            brute_force(valid, test, n))


def test_normalized_regret() -> None:
    assert normalized_regret(0.9, 0.5, 0.7) == pytest.approx(0.5)
    assert normalized_regret(0.9, 0.5, 0.95) == 0.0  # clipped
    assert math.isnan(normalized_regret(0.9, 0.5, float("nan")))


def test_three_way_split_is_disjoint_stratified_and_sized() -> None:
    x = np.arange(90, dtype=float).reshape(-1, 1)
    y = np.repeat([0, 1, 2], 30)
    s = three_way(x, y, seed=1)
    assert (len(s.y_train), len(s.y_valid), len(s.y_test)) == (40, 20, 30)
    rows = np.concatenate([s.x_train[:, 0], s.x_valid[:, 0], s.x_test[:, 0]])
    assert sorted(rows.tolist()) == list(range(90))
    assert np.bincount(s.y_test).tolist() == [10, 10, 10]
    assert s.classes == 3
    other = three_way(x, y, seed=2)
    assert not np.array_equal(other.x_test, s.x_test)


def _rec(phase: str, config: dict[str, Any], valid: float, test: float,
         **extra: Any) -> dict[str, Any]:
    return {"phase": phase, "model": "svc", "dataset": "d", "split": 0, "config": config,
            VALID: valid, TEST: test, **extra}


def test_split_row_selects_by_validation_and_scores_on_test() -> None:
    model = MODELS["svc"]  # the default is not in the space: a separate "default" fit
    configs = [{"C": float(i), "gamma": 0.1, "class_weight": None} for i in range(1, 8)]
    # the portfolio's 2nd configuration is best on validation, but worst on test
    pool = [(0.6, 0.7), (0.9, 0.5), (0.7, 0.8), (0.65, 0.6), (0.5, 0.55)]
    recs = [_rec("pool", c, v, t) for c, (v, t) in zip(configs[:5], pool, strict=True)]
    recs.append(_rec("extra", configs[5], 0.55, 0.9))
    recs.append(_rec("default", {}, 0.8, 0.75))
    tpe = [_rec("tpe", configs[6], 0.4 + 0.01 * i, 0.95 - 0.01 * i, n=i) for i in range(50)]
    row = split_row(model, recs + tpe, configs[:5], classes=2)
    assert row is not None
    assert row["pf"] == [0.7, 0.5, 0.5]
    assert row["default"] == 0.75
    rv = [v for v, _ in pool] + [0.55]
    rt = [t for _, t in pool] + [0.9]
    assert row["random"][0] == pytest.approx(brute_force(rv, rt, 5))
    assert row["random"][2] == pytest.approx(0.5)  # all 6: the validation-best one
    # TPE: validation rises every trial, so the pick is the last of the first n
    assert row["tpe"] == pytest.approx([0.91, 0.76, 0.46])
    assert row["best"] == pytest.approx(0.95)  # best test of any evaluated configuration
    reg = cells(row, regret=True)
    assert reg[0] == pytest.approx((0.95 - 0.7) / (0.95 - 0.5))
    assert cells(row, regret=False)[3] == 0.75


def test_split_row_missing_portfolio_config_is_none() -> None:
    model = MODELS["svc"]
    cfg = {"C": 1.0, "gamma": 0.1, "class_weight": None}
    recs = [_rec("pool", cfg, 0.6, 0.7), _rec("extra", cfg, 0.6, 0.7),
            _rec("default", {}, 0.5, 0.5)]
    other = {"C": 2.0, "gamma": 0.1, "class_weight": None}
    assert split_row(model, recs, [other], classes=2) is None


def test_greedy_order_matches_build_portfolio() -> None:
    from benchmarks.portfolio_sklearn_select import greedy_order
    from tunelab.portfolio import build_portfolio, table_from_records

    rng = np.random.default_rng(0)
    values = rng.random((12, 7))
    table = table_from_records(
        [{"dataset": f"d{j}", "config": {"x": i}, "value": float(values[i, j])}
         for i in range(12) for j in range(7)], direction="max")
    built = build_portfolio(table, 3)
    order = greedy_order(table.regrets("range"), 3)
    assert [table.configs[i] for i in order] == built.configs[:len(order)]


def test_swap_refine_escapes_a_greedy_trap() -> None:
    from benchmarks.portfolio_sklearn_select import greedy_order, set_regret, swap_refine

    # Row 0 is decent everywhere, so greedy takes it first; rows 1 and 2 together are
    # perfect, and the pair {1, 2} beats any pair containing row 0.
    regrets = np.array([[0.3, 0.3, 0.3, 0.3],
                        [0.0, 0.0, 1.0, 1.0],
                        [1.0, 1.0, 0.0, 0.0]])
    greedy = greedy_order(regrets, 2)
    assert greedy[0] == 0 and set_regret(regrets, greedy) == pytest.approx(0.15)
    refined = swap_refine(regrets, greedy)
    assert sorted(refined) == [1, 2] and set_regret(regrets, refined) == 0.0


def test_cv_first_n_rejects_unknown_method() -> None:
    from benchmarks.portfolio_sklearn_select import cv_first_n
    from tunelab.portfolio import table_from_records

    table = table_from_records([{"dataset": f"d{j}", "config": {"x": i}, "value": i + j}
                                for i in range(3) for j in range(5)], direction="max")
    with pytest.raises(ValueError):
        cv_first_n(table, range(3), "range", "nope")
    score = cv_first_n(table, range(3), "range", "greedy", k=1, ns=(1,))
    assert score[1] == 0.0  # the same configuration is best on every dataset


def test_paired_difference_mean_and_standard_error() -> None:
    from benchmarks.portfolio_sklearn_report import paired_difference

    mean, se = paired_difference([0.1, 0.2, 0.4], [0.0, 0.1, 0.1])
    # differences 0.1, 0.1, 0.3
    d = np.array([0.1, 0.1, 0.3])
    assert mean == pytest.approx(0.5 / 3)
    assert se == pytest.approx(np.sqrt(((d - d.mean()) ** 2).sum() / 2) / np.sqrt(3))
    assert math.isnan(paired_difference([0.1], [0.0])[1])
    assert paired_difference([0.1, float("nan")], [0.0, 0.0])[0] == pytest.approx(0.1)


def test_load_split_uses_the_same_rows_as_the_validation_only_protocol() -> None:
    from benchmarks.portfolio_sklearn_holdout import load_split
    from benchmarks.portfolio_sklearn_models import load

    old = load("bupa")
    both = np.vstack([old.x_train, old.x_valid])
    for seed in (0, 1):
        s = load_split("bupa", seed)
        new = np.vstack([s.x_train, s.x_valid, s.x_test])
        assert sorted(map(tuple, new.tolist())) == sorted(map(tuple, both.tolist()))
        assert len(s.y_test) == round(len(new) / 3)
    assert not np.array_equal(load_split("bupa", 0).x_test, load_split("bupa", 1).x_test)


def test_complete_splits_needs_every_model_and_dataset() -> None:
    from benchmarks.portfolio_sklearn_holdout import TPE_BUDGET, complete_splits

    def last(model: str, dataset: str, split: int) -> dict[str, Any]:
        return {"phase": "tpe", "model": model, "dataset": dataset, "split": split,
                "n": TPE_BUDGET - 1}

    journal = [last(m, d, 0) for m in ("a", "b") for d in ("x", "y")]
    journal += [last(m, d, 1) for m in ("a", "b") for d in ("x",)]  # split 1 unfinished
    journal.append({**last("a", "y", 1), "n": TPE_BUDGET - 2})
    assert complete_splits(journal, models=("a", "b"), held=("x", "y")) == [0]


def test_latest_records_keep_the_last_duplicate() -> None:
    from benchmarks.portfolio_sklearn_holdout import latest_records

    a = {"phase": "tpe", "model": "svc", "dataset": "d", "split": 0, "n": 10,
         "config": {"C": 1.0}, VALID: 0.5, TEST: 0.5}
    b = {**a, "config": {"C": 2.0}, VALID: 0.7}
    c = {**a, "n": 11}
    recs = latest_records([a, c, b])
    assert len(recs) == 2 and recs[("tpe", "svc", "d", 0, 10)][VALID] == 0.7


def test_tpe_run_replays_a_journaled_run_without_fitting(tmp_path: Any) -> None:
    import json

    from benchmarks.portfolio_sklearn_holdout import TPE_BUDGET, HoldoutJournal, tpe_run

    path = tmp_path / "holdout.jsonl"
    rng = np.random.default_rng(0)
    space = MODELS["svc"].space
    lines = [json.dumps({"phase": "tpe", "model": "svc", "dataset": "bupa", "split": 0,
                         "n": n, "config": space.sample(rng), VALID: 0.6, TEST: 0.6})
             for n in range(TPE_BUDGET)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    journal = HoldoutJournal(path)
    tpe_run(journal, MODELS["svc"], "bupa", 0)
    assert journal.fits == 0
    assert len(path.read_text(encoding="utf-8").splitlines()) == TPE_BUDGET


def test_hindsight_first_chooses_on_the_held_out_test_scores() -> None:
    from benchmarks.portfolio_sklearn_holdout import TPE_BUDGET, hindsight_first, load_split
    from benchmarks.portfolio_sklearn_models import datasets

    held = datasets()[1]
    d1, d2 = held[0], held[1]
    # (valid, test) per pool configuration and dataset: A looks best on validation
    # everywhere; B is best on test on d1, C on d2
    scores = {"A": {d1: (0.9, 0.5), d2: (0.9, 0.9)},
              "B": {d1: (0.8, 0.9), d2: (0.8, 0.3)},
              "C": {d1: (0.1, 0.8), d2: (0.1, 0.95)}}
    journal: list[dict[str, Any]] = [
        {"phase": "pool", "model": "svc", "dataset": d, "split": 0, "config": {"c": c},
         VALID: v, TEST: t} for c, row in scores.items() for d, (v, t) in row.items()]
    # every model has a finished TPE run on every held-out dataset: split 0 is complete
    journal += [{"phase": "tpe", "model": m, "dataset": d, "split": 0, "n": TPE_BUDGET - 1,
                 "config": {"c": "tpe"}, VALID: 0.0, TEST: 0.0} for m in MODELS for d in held]
    best = {d1: 0.9, d2: 0.95}
    chance = {d: 1.0 / load_split(d, 0).classes for d in (d1, d2)}

    def regret(picks: dict[str, str]) -> float:
        return float(np.mean([(best[d] - scores[c][d][1]) / (best[d] - chance[d])
                              for d, c in picks.items()]))

    alone = {c: regret({d1: c, d2: c}) for c in scores}
    assert hindsight_first(MODELS["svc"], 1, journal) == pytest.approx(min(alone.values()))
    # with every member, A (best on validation everywhere) is kept everywhere
    assert hindsight_first(MODELS["svc"], 3, journal) == pytest.approx(alone["A"])
    assert math.isnan(hindsight_first(MODELS["mlp"], 5, journal))  # no pool records

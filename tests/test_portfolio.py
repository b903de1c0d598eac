"""Portfolios: greedy building on hand-made tables whose best portfolio is known, the file
round trip, the portfolio searcher's order and hand-over, and the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import tunelab
from tunelab import Float, InvalidArgumentError, PortfolioSearcher, Space, Study
from tunelab.cli import cli
from tunelab.portfolio import (
    build_portfolio,
    read_portfolio,
    table_from_records,
    table_from_studies,
)


def records(values: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """``{config name: {dataset: value}}`` as records; configs are {"c": name}."""
    return [{"dataset": d, "config": {"c": c}, "value": v}
            for c, row in values.items() for d, v in row.items()]


# Four datasets. "generalist" is second best everywhere; "a" and "b" are each best on two
# datasets and bad on the others. The best single configuration is the generalist; the
# best pair is {a, b} (optimal everywhere), which greedy finds: after the generalist it
# adds a or b, then the other.
TABLE = {
    "generalist": {"d1": 0.2, "d2": 0.2, "d3": 0.2, "d4": 0.2},
    "a": {"d1": 0.0, "d2": 0.0, "d3": 1.0, "d4": 1.0},
    "b": {"d1": 1.0, "d2": 1.0, "d3": 0.0, "d4": 0.0},
    "bad": {"d1": 0.9, "d2": 0.9, "d3": 0.9, "d4": 0.9},
}


def test_greedy_picks_the_known_best_portfolio() -> None:
    table = table_from_records(records(TABLE))
    p = build_portfolio(table, 3)
    assert [c["c"] for c in p.configs] == ["generalist", "a", "b"]
    assert p.regret == pytest.approx([0.2, 0.1, 0.0])
    one = build_portfolio(table, 1)
    assert [c["c"] for c in one.configs] == ["generalist"]


def test_maximised_metric_and_missing_values_count_as_worst() -> None:
    rows = records({"x": {"d1": 0.9, "d2": 0.5}, "y": {"d1": 0.8}, "z": {"d2": 0.95}})
    table = table_from_records(rows, direction="max")
    regrets = table.regrets()
    assert regrets[1, 1] == 1.0  # y was not run on d2
    p = build_portfolio(table, 2)
    assert [c["c"] for c in p.configs] == ["x", "z"]
    assert p.regret[-1] == 0.0


def test_building_is_deterministic_and_stops_when_optimal() -> None:
    rng = np.random.default_rng(0)
    rows = [{"dataset": f"d{j}", "config": {"c": i}, "value": float(rng.random())}
            for i in range(30) for j in range(8)]
    first = build_portfolio(table_from_records(rows), 5)
    again = build_portfolio(table_from_records(list(rows)), 5)
    assert first.configs == again.configs and first.regret == again.regret
    assert first.regret == sorted(first.regret, reverse=True)
    tiny = build_portfolio(table_from_records(records({"a": {"d": 0.0}, "b": {"d": 1.0}})), 5)
    assert [c["c"] for c in tiny.configs] == ["a"]  # already optimal: nothing more to add


def test_bad_input_is_named() -> None:
    with pytest.raises(InvalidArgumentError, match="`k`"):
        build_portfolio(table_from_records(records(TABLE)), 0)
    with pytest.raises(InvalidArgumentError, match="record 0"):
        table_from_records([{"dataset": "d", "value": 1.0}])


def test_save_and_read_round_trip(tmp_path: Path) -> None:
    p = build_portfolio(table_from_records(records(TABLE)), 2)
    for name in ("p.yaml", "p.json"):
        path = p.save(tmp_path / name)
        assert read_portfolio(path) == p.configs
    (tmp_path / "bad.yaml").write_text("!!python/object:os.system ls\n")
    with pytest.raises(InvalidArgumentError, match="not valid YAML"):
        read_portfolio(tmp_path / "bad.yaml")  # safe loading: no object construction


def test_searcher_tries_the_portfolio_in_order_then_hands_over() -> None:
    space = Space(x=Float(0, 1))
    configs = [{"x": 0.25}, {"x": 2.0}, {"x": 0.75}]  # the second does not fit the space
    study = Study("pf", space, searcher=PortfolioSearcher(configs, then="random", seed=0),
                  store="memory")
    study.optimize(lambda c: (c["x"] - 0.7) ** 2, n_trials=5)
    xs = [t.config["x"] for t in study.trials]
    assert xs[:2] == [0.25, 0.75] and len(set(xs)) == 5
    # Resumed from the store, it does not repeat the portfolio.
    assert study.searcher.suggest(space, study.trials, 5) not in ({"x": 0.25}, {"x": 0.75})


def test_a_baseline_already_in_the_study_is_not_repeated() -> None:
    space = Space(x=Float(0, 1))
    study = Study("pf2", space, searcher=PortfolioSearcher([{"x": 0.5}, {"x": 0.1}],
                                                            then="random"), store="memory")
    study.enqueue({"x": 0.5})
    study.optimize(lambda c: c["x"], n_trials=3)
    xs = [t.config["x"] for t in study.trials]
    assert xs[:2] == [0.5, 0.1] and xs.count(0.5) == 1


def test_from_studies_and_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "s.db")
    candidates = [{"x": v} for v in (0.1, 0.3, 0.5, 0.7, 0.9)]
    for name, target in (("ds1", 0.3), ("ds2", 0.7), ("ds3", 0.35)):
        study = Study(name, Space(x=Float(0, 1)), store=db,
                      searcher=PortfolioSearcher(candidates, then="random"))
        study.optimize(lambda c, t=target: abs(c["x"] - t), n_trials=5)
    table = table_from_studies(["ds1", "ds2", "ds3"], db)
    assert table.values.shape == (5, 3)
    result = CliRunner().invoke(cli, ["portfolio", "build", "--studies", "ds1,ds2,ds3",
                                      "-k", "2", "-o", "p.yaml", "--store", db])
    assert result.exit_code == 0, result.output
    chosen = read_portfolio(tmp_path / "p.yaml")
    assert chosen == [{"x": 0.3}, {"x": 0.7}]
    (tmp_path / "obj.py").write_text("def objective(c):\n    return abs(c['x'] - 0.7)\n")
    (tmp_path / "space.yaml").write_text("x: {type: float, low: 0, high: 1}\n")
    run = CliRunner().invoke(cli, ["run", "obj.py:objective", "--space", "space.yaml",
                                   "--trials", "3", "--portfolio", "p.yaml", "--store", db])
    assert run.exit_code == 0, run.output
    new = tunelab.load_study("obj-objective", store=db)
    assert [t.config for t in new.trials[:2]] == chosen
    table_csv = tmp_path / "t.csv"
    with open(table_csv, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dataset", "config", "value"])
        for r in records(TABLE):
            writer.writerow([r["dataset"], json.dumps(r["config"]), r["value"]])
    by_csv = CliRunner().invoke(cli, ["portfolio", "build", "--table", str(table_csv),
                                      "-k", "3", "-o", "q.json"])
    assert by_csv.exit_code == 0, by_csv.output
    assert [c["c"] for c in read_portfolio(tmp_path / "q.json")] == ["generalist", "a", "b"]


def test_the_builtin_xgboost_portfolio_loads_without_network_and_fits_its_space() -> None:
    from benchmarks.problems.yahpo import YahpoProblem, instances
    from tunelab.portfolio import builtin

    configs = builtin("xgboost")
    assert 1 <= len(configs) <= 10
    space = YahpoProblem("rbv2_xgboost", instances("rbv2_xgboost")[0]).space
    assert all(space.validate(c) == c for c in configs)
    searcher = PortfolioSearcher(configs, then="random", seed=0)
    assert searcher.suggest(space, [], 0) == configs[0]
    with pytest.raises(InvalidArgumentError, match="known"):
        builtin("nope")


# Two measurements of the same configurations (e.g. two validation splits). "other" is
# the best single configuration. "lucky" wins d1 and d2 on the first measurement by noise
# (bad there on the second); "steady" is nearly as good there on the first and best on
# the second. Plain greedy on the first adds lucky; judged, it adds steady.
FIRST = {
    "other": {"d1": 0.4, "d2": 0.4, "d3": 0.0, "d4": 0.0},
    "steady": {"d1": 0.1, "d2": 0.1, "d3": 0.6, "d4": 0.6},
    "lucky": {"d1": 0.0, "d2": 0.0, "d3": 0.9, "d4": 0.9},
    "bad": {"d1": 1.0, "d2": 1.0, "d3": 1.0, "d4": 1.0},
}
SECOND = {
    "other": {"d1": 0.4, "d2": 0.4, "d3": 0.0, "d4": 0.0},
    "steady": {"d1": 0.0, "d2": 0.0, "d3": 0.6, "d4": 0.6},
    "lucky": {"d1": 0.8, "d2": 0.8, "d3": 0.9, "d4": 0.9},
    "bad": {"d1": 1.0, "d2": 1.0, "d3": 1.0, "d4": 1.0},
}


def test_a_second_measurement_keeps_wins_that_repeat() -> None:
    from tunelab.portfolio import judged_regret

    first, second = table_from_records(records(FIRST)), table_from_records(records(SECOND))
    plain = build_portfolio(first, 2)
    assert [c["c"] for c in plain.configs] == ["other", "lucky"]  # lucky's wins look real
    judged = build_portfolio(first, 2, judge=second)
    assert [c["c"] for c in judged.configs] == ["other", "steady"]
    assert "judged on another" in judged.criterion
    rows = {c["c"]: i for i, c in enumerate(first.configs)}
    # on d1/d2 lucky is chosen on the first measurement and judged 0.8 on the second;
    # chosen on the second, other stays (0.4 on the first): (0.8 + 0.4) / 2
    lucky = judged_regret(first, second, [rows["other"], rows["lucky"]])
    steady = judged_regret(first, second, [rows["other"], rows["steady"]])
    np.testing.assert_allclose(lucky, [0.6, 0.6, 0.0, 0.0])
    np.testing.assert_allclose(steady, [0.05, 0.05, 0.0, 0.0])
    assert judged.regret == pytest.approx([0.2, steady.mean()])
    # the second measurement is matched by configuration and dataset, not by position
    shuffled = table_from_records(list(reversed(records(SECOND))))
    assert shuffled.configs != second.configs
    assert build_portfolio(first, 2, judge=shuffled).configs == judged.configs


def test_a_measurement_judged_by_itself_is_the_plain_portfolio() -> None:
    from tunelab.portfolio import cross_validate

    table = table_from_records(records(TABLE))
    same = build_portfolio(table, 3, judge=table)
    assert same.configs == build_portfolio(table, 3).configs
    assert same.regret == build_portfolio(table, 3).regret
    for build in ("table", "mean", "judged"):
        assert cross_validate(table, 2, folds=2, judge=table, build=build) == \
            cross_validate(table, 2, folds=2)


def test_a_second_measurement_must_match_the_table() -> None:
    from tunelab.portfolio import cross_validate

    first = table_from_records(records(FIRST))
    fewer = table_from_records(records({k: v for k, v in SECOND.items() if k != "bad"}))
    with pytest.raises(InvalidArgumentError, match=r"`judge` must be a second measurement.*"
                                                   r"3 configurations x 4 datasets"):
        build_portfolio(first, 2, judge=fewer)
    with pytest.raises(InvalidArgumentError, match=r"`build='mean'` needs a second"):
        cross_validate(first, 2, folds=2, build="mean")
    with pytest.raises(InvalidArgumentError, match=r"`build` must be one of"):
        cross_validate(first, 2, folds=2, judge=first, build="both")


def test_portfolio_build_on_the_command_line_takes_a_second_measurement(tmp_path: Path,
                                                                        monkeypatch: Any
                                                                        ) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "first.json").write_text(json.dumps(records(FIRST)))
    (tmp_path / "second.json").write_text(json.dumps(records(SECOND)))
    plain = CliRunner().invoke(cli, ["portfolio", "build", "--table", "first.json", "-k", "2",
                                     "-o", "plain.yaml"])
    assert plain.exit_code == 0, plain.output
    assert [c["c"] for c in read_portfolio(tmp_path / "plain.yaml")] == ["other", "lucky"]
    judged = CliRunner().invoke(cli, ["portfolio", "build", "--table", "first.json",
                                      "--judge", "second.json", "-k", "2", "-o", "j.yaml"])
    assert judged.exit_code == 0, judged.output
    assert [c["c"] for c in read_portfolio(tmp_path / "j.yaml")] == ["other", "steady"]
    median = CliRunner().invoke(cli, ["portfolio", "build", "--table", "first.json",
                                      "--normalize", "median", "-o", "m.yaml"])
    assert median.exit_code == 0, median.output
    assert "median-normalized" in (tmp_path / "m.yaml").read_text()
    fewer = [r for r in records(SECOND) if r["config"]["c"] != "bad"]
    (tmp_path / "fewer.json").write_text(json.dumps(fewer))
    bad = CliRunner().invoke(cli, ["portfolio", "build", "--table", "first.json",
                                   "--judge", "fewer.json", "-o", "x.yaml"])
    assert bad.exit_code != 0 and "`judge` must be a second measurement" in bad.output
    no_table = CliRunner().invoke(cli, ["portfolio", "build", "--studies", "a,b",
                                        "--judge", "second.json"])
    assert no_table.exit_code != 0 and "--judge goes with --table" in no_table.output
    not_json = tmp_path / "broken.json"
    not_json.write_text("{")
    broken = CliRunner().invoke(cli, ["portfolio", "build", "--table", "first.json",
                                      "--judge", "broken.json"])
    assert broken.exit_code != 0 and "--judge" in broken.output and "not JSON" in broken.output

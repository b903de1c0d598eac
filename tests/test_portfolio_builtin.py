"""Built-in portfolios: every shipped file loads with no network and no scikit-learn, its
configurations lie in its stated space, and it says where it came from; the scikit-learn
ones give estimators that fit. Also the robust normalization and the cross-validation used
to choose how portfolios are built."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tunelab import InvalidArgumentError, PortfolioSearcher
from tunelab.portfolio import (
    ALIASES,
    BUILTIN,
    build_portfolio,
    builtin,
    builtin_info,
    builtin_space,
    cross_validate,
    table_from_records,
)

SKLEARN = ["hist_gradient_boosting", "random_forest", "mlp", "svc", "logistic_regression"]


@pytest.mark.parametrize("name", SKLEARN)
def test_each_sklearn_portfolio_loads_and_fits_its_space(name: str) -> None:
    configs = builtin(name)
    info = builtin_info(name)
    space = builtin_space(name)
    # greedy stops early once no candidate lowers the (judged) regret: at most k = 10
    assert space is not None and 1 <= len(configs) <= 10
    assert all(space.validate(c) == c for c in configs)
    assert len({tuple(sorted(map(str, c.items()))) for c in configs}) == len(configs)
    assert info["direction"] == "max" and "balanced accuracy" in info["metric"]
    assert len(info["datasets"]) >= 30
    meta = info["meta"]
    assert meta["built_by"].startswith("python -m benchmarks.portfolio_sklearn")
    from benchmarks.portfolio_sklearn_eval import POOL_SIZES

    # the pool size is chosen by cross-validation among POOL_SIZES random candidates
    assert meta["candidates"] >= min(POOL_SIZES) and meta["estimator"].startswith("sklearn.")
    assert meta["larger_datasets"] in ("not used", "used: in every fold's training, and to build")
    assert len(info["datasets"]) == (55 if meta["larger_datasets"].startswith("used") else 39)
    assert not set(meta["held_out_datasets"]) & set(info["datasets"])  # never learned on
    searcher = PortfolioSearcher(configs, then="tpe", seed=0)
    assert searcher.suggest(space, [], 0) == configs[0]


def test_builtin_names_aliases_and_errors() -> None:
    assert set(SKLEARN) | {"xgboost"} == set(BUILTIN)
    assert builtin("hgb") == builtin("hist_gradient_boosting")
    assert builtin("RandomForestClassifier") == builtin("random_forest")
    assert all(v in BUILTIN for v in ALIASES.values())
    with pytest.raises(InvalidArgumentError, match=r"'nope'.*known: .*logistic_regression"):
        builtin("nope")
    xgb = builtin_space("xgboost")
    assert xgb is not None and all(xgb.validate(c) == c for c in builtin("xgboost"))


def test_loading_needs_neither_sklearn_nor_network() -> None:
    code = textwrap.dedent("""
        import socket, sys
        sys.modules["sklearn"] = None  # any import of scikit-learn now fails
        def no_network(*a, **k):
            raise RuntimeError("network used")
        socket.socket.connect = no_network
        from tunelab.portfolio import BUILTIN, builtin, builtin_space
        for name in BUILTIN:
            assert builtin(name) and builtin_space(name) is not None
        assert "sklearn" not in [m.split(".")[0] for m in sys.modules if sys.modules[m]]
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.filterwarnings("ignore")  # convergence warnings of short fits
def test_the_first_configurations_train_real_estimators() -> None:
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_breast_cancer
    from threadpoolctl import threadpool_limits

    from benchmarks.portfolio_sklearn_models import MODELS

    x, y = load_breast_cancer(return_X_y=True)
    for name in SKLEARN:
        config = builtin(name)[0]
        model = MODELS[name].make(config)  # the parameters are the estimator's own
        with threadpool_limits(limits=1):
            model.fit(x[::4], y[::4])
        assert model.score(x, y) > 0.8


def test_median_normalization_ignores_a_catastrophic_candidate() -> None:
    # On each dataset one candidate is catastrophic (value 100); with the range
    # normalization the small differences among the rest vanish, with the median they
    # remain, and the reported regret is always the range one.
    rows = []
    for d, good in (("d1", "a"), ("d2", "a"), ("d3", "b")):
        for c, v in (("a", 1.0), ("b", 1.5), ("c", 2.0), ("bad", 100.0)):
            rows.append({"dataset": d, "config": {"c": c},
                         "value": 0.0 if c == good else v})
    table = table_from_records(rows)
    assert table.regrets("median").max() == 1.0
    r = table.regrets("median")
    assert r[3].tolist() == [1.0, 1.0, 1.0] and r[0].tolist()[:2] == [0.0, 0.0]
    p = build_portfolio(table, 2, normalize="median")
    assert [c["c"] for c in p.configs] == ["a", "b"] and p.regret[-1] == 0.0
    assert p.regret[0] == pytest.approx(np.mean([0, 0, 1.0 / 100]))
    with pytest.raises(InvalidArgumentError, match=r"`normalize`.*'range'"):
        table.regrets("rank")


def test_cross_validation_scores_unseen_datasets_and_pools() -> None:
    # Two kinds of dataset; a portfolio of 2 built on any fold covers both kinds.
    rows = [{"dataset": f"{kind}{i}", "config": {"x": x}, "value": abs(x - target)}
            for i in range(3) for kind, target in (("p", 1), ("q", 3)) for x in (1, 2, 3)]
    table = table_from_records(rows)
    assert cross_validate(table, 2, folds=3) == 0.0
    # With only x = 2 among the candidates, the regret is 1/2 everywhere.
    middle = [i for i, c in enumerate(table.configs) if c["x"] == 2]
    assert cross_validate(table, 2, folds=3, candidates=middle) == pytest.approx(0.5)
    with pytest.raises(InvalidArgumentError, match="`folds`"):
        cross_validate(table, 2, folds=1)
    with pytest.raises(InvalidArgumentError, match="`candidates`"):
        cross_validate(table, 2, candidates=[99])


def test_expected_best_of_random_draws_is_exact() -> None:
    from benchmarks.portfolio_sklearn_eval import expected_best_of

    values = [0.3, 0.9, 0.1, 0.5, 0.7]
    for n in (1, 2, 3, 5):
        brute = np.mean([max(s) for s in itertools.combinations(values, n)])
        assert expected_best_of(values, n) == pytest.approx(brute)
    assert math.isclose(expected_best_of(values, 9), 0.9)


def test_command_line_lists_and_exports_builtins(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tunelab.cli import cli
    from tunelab.portfolio import read_portfolio
    from tunelab.space import Space

    listed = CliRunner().invoke(cli, ["portfolio", "list"])
    assert listed.exit_code == 0 and all(name in listed.output for name in BUILTIN)
    out, space = tmp_path / "svc.yaml", tmp_path / "space.yaml"
    done = CliRunner().invoke(cli, ["portfolio", "export", "svc", "-o", str(out),
                                    "--space", str(space)])
    assert done.exit_code == 0, done.output
    assert read_portfolio(out) == builtin("svc")
    assert Space.from_file(str(space)) == builtin_space("svc")
    bad = CliRunner().invoke(cli, ["portfolio", "export", "nope", "-o", str(out)])
    assert bad.exit_code != 0 and "known" in bad.output


def test_the_build_step_reads_the_replicate_split_and_chooses_how_to_build() -> None:
    from benchmarks.portfolio_sklearn import pool
    from benchmarks.portfolio_sklearn_eval import (
        BUILDS,
        building_table,
        choose,
        replicate_table,
    )
    from benchmarks.portfolio_sklearn_models import MODELS, datasets
    from tunelab.portfolio import cross_validate

    model = MODELS["svc"]
    names = datasets()[0][:6]
    rng = np.random.default_rng(0)
    configs = pool(model, 40)
    journal = [{"phase": "pool", "model": "svc", "dataset": d, "config": c,
                "balanced_accuracy": float(rng.random()), **({"split": s} if s else {})}
               for s in (0, 1) for d in names for c in configs]
    table = building_table("svc", journal)
    assert table.datasets == names and len(table.configs) == 40
    judge = replicate_table(table, journal, "svc")
    assert judge is not None and judge.configs == table.configs
    split1 = [r["balanced_accuracy"] for r in journal if r.get("split") == 1]
    np.testing.assert_array_equal(judge.values, np.array(split1).reshape(6, 40).T)
    n, norm, how, use_larger, cv = choose(table, model, judge=judge)
    assert how in BUILDS and {key[2] for key in cv} == set(BUILDS) and not use_larger
    assert cv[(n, norm, how)] <= min(cv.values()) + 1e-6  # ties are rounded to 1e-6
    # a replicate that misses one fit is not used
    assert replicate_table(table, journal[:-1], "svc") is None
    assert {key[2] for key in choose(table, model)[4]} == {"table"}
    # larger datasets: scored only on the others, in every fold's training when used
    n, norm, how, use_larger, cv = choose(table, model, judge=judge, larger=[0])
    assert {key[3] for key in cv} == {"rule", "larger"}
    assert cv[(n, norm, how, "larger" if use_larger else "rule")] <= min(cv.values()) + 1e-6
    rule = [1, 2, 3, 4, 5]  # without the larger dataset: the plain cross-validation
    for build in BUILDS:
        assert cv[(20, "median", build, "rule")] == pytest.approx(cross_validate(
            table.subset(rule), 5, folds=5, normalize="median", candidates=range(20),
            judge=judge.subset(rule), build=build))
    assert cv[(20, "range", "table", "larger")] != cv[(20, "range", "table", "rule")]


def test_the_build_step_prefers_the_size_matched_split_of_the_building_datasets() -> None:
    from benchmarks.portfolio_sklearn import pool
    from benchmarks.portfolio_sklearn_eval import building_measurements, building_table
    from benchmarks.portfolio_sklearn_holdout import TEST, VALID
    from benchmarks.portfolio_sklearn_models import MODELS, datasets

    names = datasets()[0][:3]
    configs = pool(MODELS["svc"], 40)
    rng = np.random.default_rng(1)
    journal = [{"phase": "pool", "model": "svc", "dataset": d, "config": c,
                "balanced_accuracy": float(rng.random()), **({"split": s} if s else {})}
               for s in (0, 1) for d in names for c in configs]
    table = building_table("svc", journal)
    # the held-out protocol's split of the building datasets, in another order
    three = [{"phase": "pool", "model": "svc", "dataset": d, "split": 0, "config": c,
              VALID: float(rng.random()), TEST: float(rng.random())}
             for d in reversed(names) for c in reversed(configs)]
    valid, test, source = building_measurements("svc", table, journal, three)
    assert source == "one_fit" and valid.configs == table.configs and valid.datasets == names
    assert test is not None and test.configs == table.configs
    want = {(r["dataset"], json.dumps(r["config"], sort_keys=True)): (r[VALID], r[TEST])
            for r in three}
    for i, c in enumerate(table.configs):
        for j, d in enumerate(names):
            assert (valid.values[i, j], test.values[i, j]) == \
                want[(d, json.dumps(c, sort_keys=True))]
    # a missing fit: back to split 0 and its replicate
    first, second, source = building_measurements("svc", table, journal, three[1:])
    assert source == "splits" and first is table and second is not None
    assert second.values[0, 0] == journal[len(names) * len(configs)]["balanced_accuracy"]
    # a second size-matched fit (seed 1): each fit's mean of its two parts, seed 0 first
    other = [{**r, "split": 1, VALID: r[VALID] / 2, TEST: r[TEST] / 4} for r in three]
    first, second, source = building_measurements("svc", table, journal, three + other)
    assert source == "two_fits" and second is not None
    np.testing.assert_allclose(first.values, (valid.values + test.values) / 2)
    np.testing.assert_allclose(second.values, (valid.values / 2 + test.values / 4) / 2)

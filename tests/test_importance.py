"""tunelab.analysis._importance: fANOVA importance on a random forest, and good ranges."""

from __future__ import annotations

import itertools
import json
import math
import sys

import numpy as np
import pytest

from tunelab import (
    Categorical,
    Float,
    Int,
    InvalidArgumentError,
    MissingExtraError,
    PowerOfTwo,
    Space,
    Study,
)
from tunelab.analysis._importance import (
    GoodRange,
    Importance,
    _Domain,
    _encode,
    _tree_main_effects,
    good_ranges,
    good_ranges_table,
    importance,
)
from tunelab.trial import Trial, TrialStatus

XYZ = Space(x=Float(0, 1), y=Float(0, 1), z=Float(0, 1))


def random_study(space, objective, n_trials=200, name="t", **kwargs):
    study = Study(name, space, store="memory", seed=0, searcher="random", **kwargs)
    study.optimize(objective, n_trials=n_trials)
    return study


def trials_of(configs, values, metric="loss"):
    return [Trial(i, TrialStatus.COMPLETE, dict(c), metrics={metric: float(v)}, value=float(v))
            for i, (c, v) in enumerate(zip(configs, values, strict=True))]


@pytest.fixture(scope="module")
def xyz_study():
    return random_study(XYZ, lambda c: (c["x"] - 0.3) ** 2 * 10 + 0.1 * c["y"])


# --------------------------------------------------------------------------- importance


def test_ignored_parameter_scores_about_zero_and_order_follows_the_effects(xyz_study):
    result = importance(xyz_study)
    assert isinstance(result, Importance)
    assert (result.study, result.metric, result.n_trials) == ("t", "value", 200)
    assert list(result.scores) == ["x", "y", "z"]  # sorted, most important first
    assert result.scores["x"] > 0.8
    assert result.scores["z"] < 0.05
    assert result.scores["x"] > result.scores["y"] >= result.scores["z"]
    assert set(result.std) == {"x", "y", "z"}
    assert all(0.0 <= s <= 1.0 for s in [*result.scores.values(), *result.std.values()])
    assert sum(result.scores.values()) <= 1.0 + 1e-9


def test_shares_match_the_known_variance_decomposition():
    # Var(10 (x - 0.3)^2) = 100 E[(x-.3)^4] - (10 E[(x-.3)^2])^2, Var(2 y) = 4 / 12
    var_x = 100 * (0.7**5 + 0.3**5) / 5 - (10 * (0.7**3 + 0.3**3) / 3) ** 2
    var_y = 4 / 12
    study = random_study(XYZ, lambda c: (c["x"] - 0.3) ** 2 * 10 + 2 * c["y"], n_trials=300)
    scores = importance(study).scores
    assert scores["x"] == pytest.approx(var_x / (var_x + var_y), abs=0.05)
    assert scores["y"] == pytest.approx(var_y / (var_x + var_y), abs=0.05)
    assert scores["z"] < 0.01


def test_an_ignored_categorical_scores_about_zero_on_a_log_space():
    space = Space(
        lr=Float(1e-5, 1e-1, log=True),
        opt=Categorical(["sgd", "adam", "rmsprop"]),
        noise=Categorical(["a", "b", "c", "d"]),
        batch=PowerOfTwo(16, 256),
    )

    def objective(c):
        return (math.log10(c["lr"]) + 3) ** 2 + {"sgd": 2.0, "adam": 0.0, "rmsprop": 1.0}[
            c["opt"]
        ]

    scores = importance(random_study(space, objective)).scores
    assert scores["noise"] < 0.02
    assert scores["batch"] < 0.02
    assert scores["lr"] > 0.3 and scores["opt"] > 0.1
    assert scores["lr"] + scores["opt"] > 0.9


def test_step_function_is_learnt_exactly_and_owned_by_its_parameter():
    space = Space(x=Float(0, 1), z=Float(0, 1))
    rng = np.random.default_rng(3)
    configs = [{"x": float(x), "z": float(z)} for x, z in rng.random((40, 2))]
    values = [1.0 if c["x"] > 0.5 else 0.0 for c in configs]
    result = importance(trials_of(configs, values), space=space, metric="loss", n_trees=8)
    assert result.scores["x"] == pytest.approx(1.0, abs=1e-12)
    assert result.scores["z"] == 0.0
    assert result.std["x"] == pytest.approx(0.0, abs=1e-12)
    assert result.study == "" and result.n_trials == 40


def test_discrete_parameters_give_the_exact_shares_of_an_additive_function():
    # f = [a >= 2] + 0.5 [b >= 2]: Var = 1/4 + 1/16, so a explains 0.8 and b 0.2 exactly
    space = Space(a=Int(0, 3), b=Categorical(["p", "q", "r", "s"]), c=Int(0, 3))
    configs = [{"a": a, "b": b, "c": c} for a, b, c in
               itertools.product(range(4), ["p", "q", "r", "s"], range(4))]
    values = [(c["a"] >= 2) + 0.5 * (c["b"] in ("r", "s")) for c in configs]
    result = importance(trials_of(configs, values), space=space, metric="loss", n_trees=16)
    assert result.scores["a"] == pytest.approx(0.8, abs=1e-9)
    assert result.scores["b"] == pytest.approx(0.2, abs=1e-9)
    assert result.scores["c"] == pytest.approx(0.0, abs=1e-9)
    assert result.interactions == pytest.approx(0.0, abs=1e-9)


def brute_force_main_effects(tree, to_input, grids):
    """Main-effect and total variance of ``tree`` over the prior, by evaluating it at one
    point of every cell of the product of ``grids`` (per coordinate: points of [0, 1]
    and their masses); ``to_input`` maps a point of the prior's cube to the tree's input
    as a sampled configuration would be (inactive parameters at -1)."""
    cells = list(itertools.product(*(range(len(g[0])) for g in grids)))
    points = np.array([[grids[j][0][i] for j, i in enumerate(cell)] for cell in cells])
    mass = np.array([np.prod([grids[j][1][i] for j, i in enumerate(cell)]) for cell in cells])
    f = tree.predict(np.array([to_input(p) for p in points]))
    mean = mass @ f
    effects = []
    for j, (pts, _) in enumerate(grids):
        var = 0.0
        for p in pts:
            at = points[:, j] == p
            var += mass[at].sum() * ((mass[at] @ f[at]) / mass[at].sum() - mean) ** 2
        effects.append(var)
    return np.array(effects), mass @ (f - mean) ** 2


def continuous_grid(tree, j):
    t = tree.tree_
    cuts = np.unique(np.r_[0.0, np.clip(t.threshold[t.feature == j], 0, 1), 1.0])
    return (cuts[1:] + cuts[:-1]) / 2, np.diff(cuts)


@pytest.mark.parametrize("reorder", [False, True], ids=["declared-order", "by-mean"])
def test_tree_decomposition_equals_brute_force_with_discrete_and_conditional_parameters(
    reorder,
):
    import sklearn.tree as tree_module
    space = Space(
        x=Float(0, 1),
        cat=Categorical(["a", "b", "c"]),
        n=Int(1, 3, when={"cat": ["a", "c"]}),
        deep=Float(0, 1, when={"n": [2, 3]}),
    )
    rng = np.random.default_rng(7)
    configs = [space.sample(rng) for _ in range(300)]
    y = np.array([np.sin(6 * c["x"]) + 4 * (c["cat"] == "b") * c["x"] - 2 * (c["cat"] == "a")
                  + c.get("n", 0.5) + c.get("deep", 0.3) ** 2 + 0.1 * rng.normal()
                  for c in configs])
    if reorder:  # as importance() does: the choices of cat sorted by mean metric
        x, ranks = _encode(space, trials_of(configs, y), y)
        assert list(ranks["cat"]) == [0, 2, 1]  # a worst, then c, then b
    else:
        x, ranks = np.nan_to_num([space.encode(c) for c in configs], nan=-1.0), {}
    rank = ranks.get("cat", np.arange(3))
    original = np.argsort(rank)  # position -> choice index

    def to_input(point):
        point = point.copy()
        point[1] = (original[int(point[1] * 3)] + 0.5) / 3
        seen = space.encode(space.decode(point))
        seen[1] = (rank[int(seen[1] * 3)] + 0.5) / 3
        return np.nan_to_num(seen, nan=-1.0)

    tree = tree_module.DecisionTreeRegressor(max_depth=5, random_state=0).fit(x, y)
    effects, total = _tree_main_effects(tree.tree_, _Domain.of(space, ranks))

    thirds = (np.array([1, 3, 5]) / 6, np.full(3, 1 / 3))  # the bins of cat and of n
    grids = [continuous_grid(tree, 0), thirds, thirds, continuous_grid(tree, 3)]
    want_effects, want_total = brute_force_main_effects(tree, to_input, grids)
    assert want_total > 0.1
    assert total == pytest.approx(want_total, rel=1e-9)
    np.testing.assert_allclose(effects, want_effects, rtol=1e-9, atol=1e-12)
    assert all(e > 1e-3 for e in effects)  # every coordinate matters here


def test_a_good_middle_choice_is_found_among_many_parameters():
    # "b" sits between "a" and "c": in declared order a tree needs two splits to isolate
    # it; sorted by mean it takes one
    space = Space({f"p{i}": Float(0, 1) for i in range(6)},
                  opt=Categorical(["a", "b", "c"]))

    def objective(c):
        return sum((c[f"p{i}"] - 0.5) ** 2 for i in range(6)) + 0.3 * (c["opt"] == "b")

    # Var(0.3 [opt = b]) = 0.02, Var((p - .5)^2) = 1/80 - 1/144 for each of 6 p's
    share = 0.02 / (0.02 + 6 * (1 / 80 - 1 / 144))
    scores = importance(random_study(space, objective, n_trials=150)).scores
    assert next(iter(scores)) == "opt"
    assert scores["opt"] == pytest.approx(share, abs=0.1)  # declared order: about 0.16


def test_conditional_parameters_matter_only_where_active():
    space = Space(
        opt=Categorical(["sgd", "adam"]),
        momentum=Float(0, 1, when={"opt": "sgd"}),
        beta=Float(0, 1, when={"opt": "adam"}),
    )

    def objective(c):
        return 4 * (c["momentum"] - 0.8) ** 2 if c["opt"] == "sgd" else 0.5

    # g = 4 (m - .8)^2 on sgd, .5 on adam, each half the prior: Var(g) = .2938; opt alone
    # explains .25 (.6933 - .5)^2, momentum .25 Var(4 (m - .8)^2) = .25 * .5689
    scores = importance(random_study(space, objective, n_trials=200)).scores
    assert scores["beta"] < 0.01
    assert scores["momentum"] == pytest.approx(0.1422 / 0.2938, abs=0.08)
    assert scores["opt"] == pytest.approx(0.0093 / 0.2938, abs=0.03)


def test_multi_objective_study_uses_the_named_metric():
    study = Study("mo", XYZ, metric=["loss", "time"], direction=["min", "min"],
                  store="memory", seed=0, searcher="random")
    study.optimize(lambda c: {"loss": c["x"], "time": c["z"] ** 2}, n_trials=60)
    assert next(iter(importance(study).scores)) == "x"
    by_time = importance(study, metric="time")
    assert by_time.metric == "time"
    assert next(iter(by_time.scores)) == "z" and by_time.scores["z"] > 0.9


def test_seed_makes_it_deterministic_and_table_and_json_render(xyz_study):
    a = importance(xyz_study, n_trees=16, seed=1)
    b = importance(xyz_study, n_trees=16, seed=1)
    assert a == b
    table = a.table()
    assert "'value'" in table and "200 trials" in table
    assert table.splitlines()[2].split()[0] == "x"
    data = json.loads(json.dumps(a.to_dict()))
    assert data["scores"] == a.scores and data["n_trials"] == 200


def test_constant_metric_gives_zero_scores():
    space = Space(x=Float(0, 1), y=Float(0, 1))
    configs = [space.sample(seed=i) for i in range(10)]
    result = importance(trials_of(configs, [1.0] * 10), space=space, metric="loss")
    assert result.scores == {"x": 0.0, "y": 0.0}


def test_statuses_select_the_trials():
    space = Space(x=Float(0, 1))
    configs = [{"x": i / 9} for i in range(10)]
    trials = trials_of(configs, [c["x"] for c in configs])
    stopped = [Trial(t.number, TrialStatus.STOPPED, t.config, metrics=t.metrics)
               for t in trials[:6]]
    mixed = stopped + trials[6:]
    with pytest.raises(InvalidArgumentError, match="hold 3 COMPLETE trial"):
        importance(trials[6:9], space=space, metric="loss")
    assert importance(mixed, space=space, metric="loss").n_trials == 4
    assert importance(mixed, space=space, metric="loss",
                      statuses=("COMPLETE", TrialStatus.STOPPED)).n_trials == 10
    with pytest.raises(InvalidArgumentError, match="'DONE'"):
        importance(mixed, space=space, metric="loss", statuses=("DONE",))


def test_too_few_trials_and_bad_arguments_are_refused(xyz_study):
    small = random_study(XYZ, lambda c: c["x"], n_trials=3, name="small")
    with pytest.raises(InvalidArgumentError, match=r"has 3 COMPLETE trial.*at least 4"):
        importance(small)
    with pytest.raises(InvalidArgumentError,
                       match=r"has 0 .*'acc' \(metrics reported: \['value'\]\)"):
        importance(xyz_study, metric="acc")
    trials = xyz_study.trials
    with pytest.raises(InvalidArgumentError, match="`space`"):
        importance(trials, metric="value")
    with pytest.raises(InvalidArgumentError, match="`metric`"):
        importance(trials, space=XYZ)
    with pytest.raises(InvalidArgumentError, match=r"`n_trees`.*0"):
        importance(xyz_study, n_trees=0)
    with pytest.raises(InvalidArgumentError, match="Study or a list of Trial"):
        importance("t")
    with pytest.raises(InvalidArgumentError, match="direction"):
        importance(xyz_study, direction="up")


def test_missing_scikit_learn_names_the_pip_line(xyz_study, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'tunelab\[demo\]'"):
        importance(xyz_study)


# --------------------------------------------------------------------------- good ranges


QUAD = Space(
    x=Float(-5, 5),
    noise=Float(0, 1),
    lr=Float(1e-5, 1.0, log=True),
    layers=Int(1, 8),
    opt=Categorical(["sgd", "adam", "rmsprop"]),
)


def quadratic(c):  # optimum x = 1.5, lr = 1e-3, layers = 4, opt = adam; noise ignored
    return (((c["x"] - 1.5) / 5) ** 2 + ((math.log10(c["lr"]) + 3) / 5) ** 2
            + ((c["layers"] - 4) / 7) ** 2 + (0.0 if c["opt"] == "adam" else 0.2))


@pytest.fixture(scope="module")
def quad_study():
    return random_study(QUAD, quadratic, n_trials=300, name="quad")


def test_good_ranges_contain_the_optimum_and_are_narrow(quad_study):
    ranges = good_ranges(quad_study, top=0.1)
    assert list(ranges) == ["x", "noise", "lr", "layers", "opt"]
    x, noise, lr, layers, opt = ranges.values()
    assert all(isinstance(r, GoodRange) for r in ranges.values())
    assert x.kind == "numeric" and x.n_top == 30
    assert x.low <= 1.5 <= x.high and x.share_of_range < 0.5
    assert x.share_of_range == pytest.approx((x.high - x.low) / 10)
    assert x.low <= x.q10 <= x.q90 <= x.high
    assert x.observed_low < x.low and x.high < x.observed_high
    assert noise.share_of_range > 0.8  # what the metric ignores stays spread out
    assert lr.low <= 1e-3 <= lr.high and lr.share_of_range < noise.share_of_range
    assert lr.share_of_range == pytest.approx(math.log10(lr.high / lr.low) / 5)
    assert isinstance(layers.low, int) and layers.low <= 4 <= layers.high
    assert opt.kind == "categorical" and next(iter(opt.values)) == "adam"
    assert opt.values["adam"] > 0.8 * opt.n_top
    assert opt.low is None and opt.share_of_range == len(opt.values) / 3
    best = quad_study.best_trial
    assert x.best == best.config["x"] and opt.best == best.config["opt"]


def test_good_ranges_respect_direction_and_count(quad_study):
    flipped = random_study(QUAD, lambda c: -quadratic(c), n_trials=300, name="flip",
                           direction="max")
    assert good_ranges(flipped, top=0.1) == good_ranges(quad_study, top=0.1)
    worst = good_ranges(quad_study, top=5, direction="max")
    assert worst["opt"].n_top == 5 and "adam" not in worst["opt"].values
    one = good_ranges(quad_study, top=1)
    assert one["x"].low == one["x"].high == quad_study.best_config["x"]
    assert one["x"].share_of_range == 0.0
    assert one["layers"].share_of_range == pytest.approx(1 / 8)  # one of 8 values
    everything = good_ranges(quad_study, top=1.0)
    assert everything["x"].n_top == 300
    assert (everything["x"].low, everything["x"].high) == (
        everything["x"].observed_low, everything["x"].observed_high)


def test_good_ranges_of_an_inactive_conditional_parameter():
    space = Space(opt=Categorical(["sgd", "adam"]), momentum=Float(0, 1, when={"opt": "sgd"}))
    study = random_study(space, lambda c: 0.0 if c["opt"] == "adam" else 1.0, n_trials=40)
    ranges = good_ranges(study, top=5)
    assert ranges["opt"].values == {"adam": 5}
    momentum = ranges["momentum"]
    assert momentum.n_top == 0 and momentum.low is None and momentum.share_of_range is None
    assert momentum.observed_low is not None
    table = good_ranges_table(ranges)
    assert table.splitlines()[0].split()[:2] == ["parameter", "top"]
    assert "adam 5" in table and "momentum" in table


def test_good_ranges_table_lists_every_parameter(quad_study):
    ranges = good_ranges(quad_study)
    lines = good_ranges_table(ranges).splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["x", "noise", "lr", "layers", "opt"]
    assert lines[1].split()[1] == "60"  # the best 20% of 300
    assert json.loads(json.dumps({k: r.to_dict() for k, r in ranges.items()}))["x"]["n_top"] \
        == 60


@pytest.mark.parametrize("top", [0, 0.0, -1, 1.5, math.nan, True, "0.2", None])
def test_bad_top_is_refused_naming_it(quad_study, top):
    with pytest.raises(InvalidArgumentError, match="`top`") as info:
        good_ranges(quad_study, top=top)
    assert repr(top) in str(info.value)


def test_good_ranges_need_a_trial_and_a_known_direction():
    space = Space(x=Float(0, 1))
    with pytest.raises(InvalidArgumentError, match="hold 0 COMPLETE trial"):
        good_ranges([], space=space, metric="loss")
    study = random_study(space, lambda c: {"loss": c["x"], "acc": 1 - c["x"]}, n_trials=5,
                         metric="loss")
    with pytest.raises(InvalidArgumentError, match="direction"):
        good_ranges(study, metric="acc")
    ranges = good_ranges(study, metric="acc", direction="max", top=1)
    assert ranges["x"].low == min(t.config["x"] for t in study.trials)

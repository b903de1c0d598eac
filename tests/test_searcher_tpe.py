"""TPE and its BOHB form: proposals, pending trials, per-budget models."""

from __future__ import annotations

import numpy as np
import pytest

import tunelab
from tunelab import (
    Categorical,
    Float,
    Hyperband,
    Int,
    Space,
    TPESearcher,
    Trial,
    TrialStatus,
    bohb,
)
from tunelab.searchers import RandomSearcher, SobolSearcher
from tunelab.trial import Report

QUAD = Space(x=Float(-5, 5), y=Float(-5, 5))


def _quad(config):
    return (config["x"] - 1.5) ** 2 + (config["y"] + 2.0) ** 2


def _drive(searcher, space, f, n, history=None):
    history = list(history or [])
    for _ in range(n):
        number = len(history)
        config = searcher.suggest(space, tuple(history), number)
        history.append(Trial(number, TrialStatus.COMPLETE, config, value=f(config)))
    return history


def test_startup_points_are_the_sobol_sequence():
    tpe = TPESearcher(seed=4, n_startup=6)
    sobol = SobolSearcher(seed=4)
    history = _drive(tpe, QUAD, _quad, 6)
    assert [t.config for t in history] == [sobol.suggest(QUAD, (), n) for n in range(6)]


def test_tpe_beats_random_search_on_a_quadratic():
    tpe_best = min(t.value for t in _drive(TPESearcher(seed=0), QUAD, _quad, 60))
    random_best = min(t.value for t in _drive(RandomSearcher(seed=0), QUAD, _quad, 60))
    assert tpe_best < 0.05
    assert tpe_best < random_best / 3


def test_maximisation_follows_the_direction():
    tpe = TPESearcher(seed=1)
    tpe.setup("value", "max")
    history = _drive(tpe, QUAD, lambda c: -_quad(c), 60)
    assert max(t.value for t in history) > -0.05
    late = [t.value for t in history[40:]]
    early = [t.value for t in history[:10]]
    assert np.median(late) > np.median(early)


def test_proposals_never_repeat_an_observed_or_pending_configuration():
    space = Space(a=Int(0, 3), b=Categorical(["p", "q"]))  # 8 configurations
    every = space.grid()
    history = [Trial(i, TrialStatus.COMPLETE, c, value=float(i)) for i, c in enumerate(every[:6])]
    history.append(Trial(6, TrialStatus.RUNNING, every[6]))
    proposal = TPESearcher(seed=0, n_startup=2).suggest(space, history, 7)
    assert proposal == every[7]


def test_pending_trials_steer_parallel_proposals_apart():
    # Two workers ask at once: the second sees the first's trial as RUNNING.
    history = _drive(TPESearcher(seed=2), QUAD, _quad, 30)
    tpe = TPESearcher(seed=2)
    first = tpe.suggest(QUAD, tuple(history), 30)
    running = Trial(30, TrialStatus.RUNNING, first)
    second = tpe.suggest(QUAD, (*history, running), 31)
    assert second != first
    # the running trial joins the bad model: the score of points near it drops
    from tunelab.searchers._kde import ParzenEstimator
    from tunelab.searchers._observations import observe
    with_pending = observe(QUAD, (*history, running))
    assert len(with_pending.pending) == 1
    layout = tpe.layout(QUAD)
    point = with_pending.pending
    bad = ParzenEstimator(with_pending.x, layout)
    bad_with = ParzenEstimator(np.vstack([with_pending.x, point]), layout)
    assert bad_with.log_pdf(point)[0] > bad.log_pdf(point)[0]


def test_conditional_and_log_parameters_stay_valid():
    space = Space(
        opt=Categorical(["sgd", "adam"]),
        lr=Float(1e-5, 1e-1, log=True),
        momentum=Float(0.0, 0.9, step=0.1, when={"opt": "sgd"}),
        width=Int(8, 512, log=True),
    )

    def f(c):
        return abs(np.log10(c["lr"]) + 3) + (0.5 if c["opt"] == "adam" else c["momentum"])

    history = _drive(TPESearcher(seed=3), space, f, 40)
    for t in history:
        assert space.validate(t.config) == t.config
    assert min(t.value for t in history[20:]) < min(t.value for t in history[:10])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gamma": 0.0}, "`gamma` must be a number in (0, 1]"),
        ({"n_startup": 0}, "`n_startup` must be an integer >= 1"),
        ({"startup": "lhs"}, "`startup` must be one of"),
        ({"random_fraction": 1.0}, "`random_fraction` must be a number in [0, 1)"),
        ({"multivariate": "yes"}, "`multivariate` must be true or false"),
        ({"marginals": 1}, "`marginals` must be true or false"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(tunelab.InvalidArgumentError) as err:
        TPESearcher(**kwargs)
    assert message in str(err.value)


# ------------------------------------------------------------------ marginal models


def _truncated_mixture_log_pdf(points, h, x, prior_weight):
    """Per coordinate: a mixture of Gaussians truncated to [0, 1] (one per point, width
    ``h``) plus a uniform prior of weight ``prior_weight``; summed over coordinates."""
    from scipy.stats import norm

    m, d = points.shape
    total = np.zeros(len(x))
    for j in range(d):
        mass = norm.cdf((1 - points[:, j]) / h[:, j]) - norm.cdf(-points[:, j] / h[:, j])
        dens = norm.pdf((x[:, j, None] - points[None, :, j]) / h[None, :, j]) / (
            h[None, :, j] * mass[None, :])
        total += np.log((dens.sum(axis=1) + prior_weight) / (m + prior_weight))
    return total


def test_independent_twin_is_the_per_parameter_mixture():
    from tunelab.searchers._kde import ParzenEstimator
    from tunelab.searchers.tpe import cube_layout

    space = Space(a=Float(0, 1), b=Float(0, 1), c=Float(0, 1))
    rng = np.random.default_rng(4)
    points = rng.random((40, 3))
    points[0] = [0.001, 0.999, 0.5]  # kernels cut by both edges
    joint = ParzenEstimator(points, cube_layout(space), min_bandwidth=0.02,
                            bandwidth_cap=0.05)
    twin = joint.independent()
    assert not twin.multivariate
    assert np.all(twin.bandwidth >= joint.bandwidth)  # no cap on the twin
    assert np.any(twin.bandwidth > joint.bandwidth)
    x = rng.random((25, 3))
    expected = _truncated_mixture_log_pdf(points, twin.bandwidth, x, 1.0)
    np.testing.assert_allclose(twin.log_pdf(x), expected, rtol=1e-9, atol=1e-9)
    fresh = ParzenEstimator(points, cube_layout(space), min_bandwidth=0.02,
                            multivariate=False)
    np.testing.assert_allclose(fresh.log_pdf(x), expected, rtol=1e-9, atol=1e-9)
    # the twin is built from the joint estimator's parts: bit for bit the fresh one
    np.testing.assert_array_equal(twin.log_pdf(x), fresh.log_pdf(x))
    np.testing.assert_array_equal(twin.sample(np.random.default_rng(5), 9),
                                  fresh.sample(np.random.default_rng(5), 9))
    assert joint.multivariate and np.array_equal(joint.log_pdf(x), ParzenEstimator(
        points, cube_layout(space), min_bandwidth=0.02, bandwidth_cap=0.05).log_pdf(x))


def test_marginal_opinion_changes_proposals_and_is_in_the_spec():
    space = Space(x=Float(-5, 5), y=Float(-5, 5))
    rng = np.random.default_rng(0)
    history = []
    for i in range(30):
        config = space.sample(rng)
        history.append(Trial(i, TrialStatus.COMPLETE, config,
                             value=(config["x"] - 1) ** 2 + (config["y"] + 2) ** 2))
    both = TPESearcher(seed=1).suggest(space, history, 30)
    joint_only = TPESearcher(seed=1, marginals=False).suggest(space, history, 30)
    assert both != joint_only
    assert TPESearcher(seed=1).suggest(space, history, 30) == both  # deterministic
    assert TPESearcher().spec()["marginals"] is True
    assert tunelab.searchers.make_searcher({"name": "tpe", "marginals": False}).marginals is False


def test_many_bad_trials_keep_proposals_valid_and_cheap(monkeypatch):
    from tunelab.searchers import tpe as tpe_module

    space = Space(x=Float(0, 1), y=Float(0, 1), z=Int(1, 50))
    rng = np.random.default_rng(2)
    history = []
    for i in range(600):  # 540 bad trials: the bad set's models take a sample of them
        config = space.sample(rng)
        history.append(Trial(i, TrialStatus.COMPLETE, config,
                             value=config["x"] + abs(config["y"] - 0.3) + config["z"] / 50))
    for i in range(600, 603):  # pending trials all stay in the bad set
        history.append(Trial(i, TrialStatus.RUNNING, space.sample(rng)))
    sizes = []
    real = tpe_module.ParzenEstimator

    def counting(points, *args, **kwargs):
        sizes.append(len(points))
        return real(points, *args, **kwargs)

    monkeypatch.setattr(tpe_module, "ParzenEstimator", counting)
    searcher = TPESearcher(seed=0)
    first = searcher.suggest(space, history, 603)
    assert sizes == [25, tpe_module._BAD_POINTS + 3]  # max_good good ones, the bad sample
    assert space.validate(first) == first
    assert searcher.suggest(space, history, 603) == first
    assert first["x"] < 0.5  # follows the good region


def test_bad_sample_is_evenly_spaced_by_rank(monkeypatch):
    from tunelab.searchers import tpe as tpe_module

    space = Space(x=Float(0, 1))
    n = 2 * tpe_module._BAD_POINTS + 50
    history = [Trial(i, TrialStatus.COMPLETE, {"x": i / n}, value=float(i)) for i in range(n)]
    seen = []
    real = tpe_module.ParzenEstimator

    def recording(points, *args, **kwargs):
        seen.append(np.array(points))
        return real(points, *args, **kwargs)

    monkeypatch.setattr(tpe_module, "ParzenEstimator", recording)
    TPESearcher(seed=0).suggest(space, history, n)
    good, bad = seen
    assert len(good) == 25 and len(bad) == tpe_module._BAD_POINTS
    ranks = np.round(bad[:, 0] * n).astype(int)  # value i sits at x = i / n
    assert ranks[0] == 25 and ranks[-1] == n - 1  # the best and the worst bad trial
    assert np.all(np.diff(ranks) >= 1) and np.ptp(np.diff(ranks)) <= 1  # even steps


# ------------------------------------------------------------------ BOHB


def _rung_trial(number, x, values):
    """A trial that reported ``values`` ({step: loss}) under a rung scheduler."""
    top = max(values)
    return Trial(
        number, TrialStatus.STOPPED, {"x": x}, value=values[top],
        metrics={"loss": values[top]},
        system_attrs={"resource": top, "step": top},
        reports=tuple(Report(s, {"loss": v}) for s, v in sorted(values.items())),
    )


def _curves(n_low, n_high):
    """Hand-made curves where the ranking flips between resource 1 and 9: at resource 1
    small x look best, at resource 9 only x near 0.8 do."""
    rng = np.random.default_rng(0)
    trials = []
    for i in range(n_low):
        x = float(rng.random())
        values = {1: x}
        if i < n_high:
            values[3] = abs(x - 0.5)
            values[9] = abs(x - 0.8)
        trials.append(_rung_trial(i, x, values))
    return trials


def test_bohb_fits_the_largest_resource_with_enough_results():
    space = Space(x=Float(0, 1))
    tpe = TPESearcher(seed=0, multi_fidelity=True, min_points=4)
    tpe.setup("loss", "min")
    assert tpe.needs_reports
    assert tpe.model_resource(space, _curves(20, 3)) == 1  # 3 results at 3 and 9: too few
    assert tpe.model_resource(space, _curves(20, 5)) == 9
    assert tpe.model_resource(space, _curves(3, 0)) is None  # too few anywhere: start-up
    assert tpe.model_resource(space, _curves(20, 0)) == 1
    assert tpe.model_resource(space, _curves(20, 8)) == 9


def test_bohb_proposals_follow_the_top_resource_ranking():
    space = Space(x=Float(0, 1))
    tpe = TPESearcher(seed=0, multi_fidelity=True, min_points=4)
    tpe.setup("loss", "min")
    history = _curves(40, 20)
    proposals = [tpe.suggest(space, history, 100 + n)["x"] for n in range(20)]
    # fitted at resource 9 the model prefers x near 0.8, not the small x of resource 1
    assert np.median(np.abs(np.array(proposals) - 0.8)) < 0.15


def test_bohb_pair_runs_in_a_study_and_loads_reports(tmp_path):
    def objective(trial):
        for epoch in range(1, trial.resource + 1):
            trial.report(epoch, loss=(trial["x"] - 0.3) ** 2 + (trial["y"] - 0.6) ** 2 + 1 / epoch)

    space = Space(x=Float(0, 1), y=Float(0, 1))
    parts = bohb(1, 9, seed=0)
    assert isinstance(parts["scheduler"], Hyperband)
    study = tunelab.Study("bohb", space, metric="loss", store=str(tmp_path / "b.db"), **parts)
    study.optimize(objective, n_trials=30)
    searcher = study.searcher
    assert isinstance(searcher, TPESearcher)
    history = study.trials
    assert all(t.reports for t in study._history.values() if t.status is TrialStatus.COMPLETE)
    assert searcher.model_resource(space, study._history.values()) in (3, 9)
    assert study.best_trial.value < 0.25
    assert not [t for t in history if t.status is TrialStatus.RUNNING]


@pytest.mark.parametrize("multivariate", [True, False])
def test_sampling_all_coordinates_at_once_matches_the_coordinate_loop(multivariate):
    import copy

    from tunelab.searchers._kde import ParzenEstimator
    from tunelab.searchers.tpe import cube_layout

    space = Space(a=Float(0, 1), b=Float(0, 1), c=Float(0, 1), d=Float(0, 1))
    points = np.random.default_rng(8).random((30, 4))
    points[0] = [0.0005, 0.9995, 0.5, 0.02]
    fast = ParzenEstimator(points, cube_layout(space), min_bandwidth=0.01,
                           multivariate=multivariate, bandwidth_cap=0.1)
    loop = copy.copy(fast)
    loop._plain = False  # take the general, one-coordinate-at-a-time path
    for seed in range(5):
        a = fast.sample(np.random.default_rng(seed), 24)
        b = loop.sample(np.random.default_rng(seed), 24)
        assert np.array_equal(a, b)  # the same draws, bit for bit
        assert a.min() >= 0.0 and a.max() <= 1.0


# ------------------------------------------------------------------ fast paths


def test_row_sort_matches_the_stable_sort_with_and_without_ties():
    from tunelab.searchers._kde import _stable_argsort_rows

    rng = np.random.default_rng(0)
    a = rng.random((4, 300))
    a[1] = np.round(a[1] * 10) / 10  # many ties
    a[2, ::7] = np.inf  # inactive points sort last, tied
    order, srt = _stable_argsort_rows(a)
    np.testing.assert_array_equal(order, np.argsort(a, axis=1, kind="stable"))
    np.testing.assert_array_equal(srt, np.sort(a, axis=1))


@pytest.mark.parametrize("case", ["one step", "ties", "numbers out of order", "steps"])
def test_ranked_order_matches_the_three_key_sort(case):
    from tunelab.searchers._observations import Observations

    rng = np.random.default_rng(1)
    n = 200
    loss = rng.random(n)
    step = np.full(n, np.inf)
    numbers = np.arange(n)
    if case == "ties":
        loss = np.round(loss * 5)
    elif case == "numbers out of order":
        loss = np.round(loss * 5)
        numbers = rng.permutation(n)
    elif case == "steps":
        step = rng.integers(1, 4, size=n).astype(float)
    obs = Observations(np.zeros((n, 1)), loss, step, numbers, np.zeros((0, 1)))
    np.testing.assert_array_equal(obs.ranked(), np.lexsort((numbers, loss, -step)))


def test_row_logsumexp_is_exact_and_keeps_empty_rows():
    from scipy.special import logsumexp

    from tunelab.searchers._kde import _logsumexp_rows

    a = np.array([[0.0, -1.0, -2000.0], [5.0, 5.0, -np.inf], [-800.0, -3000.0, -801.0]])
    np.testing.assert_allclose(_logsumexp_rows(a), logsumexp(a, axis=1), rtol=1e-15)
    empty = np.array([[-np.inf, -np.inf], [1.0, 2.0]])
    out = _logsumexp_rows(empty)
    assert out[0] == -np.inf and out[1] == pytest.approx(logsumexp([1.0, 2.0]), rel=1e-15)


def test_encoding_cache_follows_appended_replaced_and_dropped_trials():
    from tunelab.searchers._observations import EncodingCache, observe

    space = Space(x=Float(0, 1), c=Categorical(["a", "b"]))
    rng = np.random.default_rng(3)
    history = [Trial(i, TrialStatus.COMPLETE, space.sample(rng), value=float(i))
               for i in range(6)]
    history.append(Trial(6, TrialStatus.RUNNING, space.sample(rng)))
    cache = EncodingCache()

    def same_as_fresh(trials):
        cached, fresh = observe(space, trials, cache=cache), observe(space, trials)
        for field in ("x", "loss", "step", "numbers", "pending"):
            np.testing.assert_array_equal(getattr(cached, field), getattr(fresh, field))

    same_as_fresh(history)
    history.append(Trial(7, TrialStatus.COMPLETE, space.sample(rng), value=-1.0))  # appended
    same_as_fresh(history)
    history[6] = Trial(6, TrialStatus.COMPLETE, history[6].config, value=0.5)  # finished
    same_as_fresh(history)
    history[2] = Trial(2, TrialStatus.FAILED, history[2].config)  # replaced in the middle
    same_as_fresh(history)
    same_as_fresh(history[:4])  # fewer trials
    same_as_fresh(list(reversed(history)))


def test_kernel_normalisers_are_per_kernel_whichever_path_computes_them():
    from scipy.special import ndtr

    from tunelab.searchers._kde import _log_normalisers

    rng = np.random.default_rng(7)
    mu, h = rng.random(300), rng.uniform(0.005, 0.3, 300)
    full = _log_normalisers(mu, h)  # some kernels far from both edges, some near
    mass = ndtr((1 - mu) / h) - ndtr(-mu / h)
    np.testing.assert_allclose(full, -np.log(mass * h * np.sqrt(2 * np.pi)), rtol=1e-12)
    near = (mu / h < 8) | ((1 - mu) / h < 8)
    assert near.any() and not near.all()
    # a subset whose kernels are all near an edge takes the other path: same bits
    np.testing.assert_array_equal(_log_normalisers(mu[near], h[near]), full[near])

"""Tests of GPSearcher: proposals, determinism, startup, pending trials, the model's maths."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.stats import norm

from tunelab import (
    Categorical,
    Float,
    GPSearcher,
    Int,
    InvalidArgumentError,
    PowerOfTwo,
    RandomSearcher,
    Space,
    Trial,
    TrialStatus,
)
from tunelab.searchers import Searcher, make_searcher
from tunelab.searchers import _gp_model as gpm
from tunelab.space import config_key

MIXED = Space(
    opt=Categorical(["sgd", "adam", "rmsprop"]),
    lr=Float(1e-4, 1e-1, log=True),
    momentum=Float(0.0, 0.9, when={"opt": "sgd"}),
    decay=Float(0.0, 0.5, step=0.1, when={"opt": ["adam", "rmsprop"]}),
    layers=Int(1, 6),
    units=Int(8, 512, log=True),
    batch=PowerOfTwo(16, 256),
)
PLANE = Space(x=Float(-1.0, 1.0), y=Float(-1.0, 1.0))


def mixed_objective(c: dict[str, Any]) -> float:
    return (
        (math.log10(c["lr"]) + 2.5) ** 2
        + {"sgd": 0.5, "adam": 0.0, "rmsprop": 0.3}[c["opt"]]
        + abs(c["layers"] - 3) * 0.1
        + c.get("momentum", 0.0) * 0.2
        + abs(math.log2(c["batch"]) - 6) * 0.05
    )


def quadratic(c: dict[str, Any]) -> float:
    return (c["x"] - 0.3) ** 2 + 2 * (c["y"] + 0.2) ** 2


def drive(searcher: Searcher, space: Space, f: Any, n: int) -> list[Trial]:
    trials: list[Trial] = []
    for number in range(n):
        config = searcher.suggest(space, tuple(trials), number)
        value = float(f(config))
        trials.append(Trial(number=number, status=TrialStatus.COMPLETE, config=config,
                            metrics={"value": value}, value=value))
    return trials


def test_proposals_are_valid_on_a_mixed_conditional_space():
    trials = drive(GPSearcher(seed=0, n_startup=5), MIXED, mixed_objective, 14)
    for t in trials:
        assert MIXED.validate(t.config) == t.config
    keys = [config_key(t.config) for t in trials]
    assert len(set(keys)) == len(keys)  # nothing proposed twice
    assert min(t.value for t in trials[5:]) <= min(t.value for t in trials[:5])


def test_same_seed_same_trials_and_other_seed_other_trials():
    a = [t.config for t in drive(GPSearcher(seed=4, n_startup=3), PLANE, quadratic, 7)]
    b = [t.config for t in drive(GPSearcher(seed=4, n_startup=3), PLANE, quadratic, 7)]
    c = [t.config for t in drive(GPSearcher(seed=5, n_startup=3), PLANE, quadratic, 7)]
    assert a == b
    assert a[3:] != c[3:]


def test_startup_trials_are_uniform_draws_of_their_own_generator():
    gp = [t.config for t in drive(GPSearcher(seed=11, n_startup=6), MIXED, mixed_objective, 6)]
    # trial n takes space.sample with the generator of (seed, n), whatever the history
    assert gp == [MIXED.sample(np.random.default_rng([11, n])) for n in range(6)]
    assert len({config_key(c) for c in gp}) == 6


def test_a_pending_trial_is_not_proposed_again():
    searcher = GPSearcher(seed=2, n_startup=4)
    history = drive(searcher, PLANE, quadratic, 8)
    first = searcher.suggest(PLANE, tuple(history), 8)
    pending = Trial(number=8, status=TrialStatus.RUNNING, config=first)
    second = searcher.suggest(PLANE, (*history, pending), 9)
    assert second != first
    assert config_key(second) not in {config_key(t.config) for t in history}
    # the fantasy spreads the batch: the second point is not next to the first
    assert math.dist(second.values(), first.values()) > 1e-3


def test_gp_beats_random_search_on_a_quadratic():
    gp = drive(GPSearcher(seed=0, n_startup=8), PLANE, quadratic, 25)
    rnd = drive(RandomSearcher(seed=0), PLANE, quadratic, 25)
    best_gp = min(t.value for t in gp)
    assert best_gp < min(t.value for t in rnd)
    assert best_gp < 1e-3


def test_direction_max_is_maximised():
    searcher = GPSearcher(seed=1, n_startup=6)
    searcher.setup("value", "max")
    trials = drive(searcher, PLANE, lambda c: -quadratic(c), 20)
    best = max(trials, key=lambda t: t.value or -math.inf)
    assert best.value is not None and best.value > -1e-2
    assert max(t.value for t in trials[6:]) > max(t.value for t in trials[:6])


def test_fit_uses_the_highest_step_when_enough_trials_reached_it():
    """Trials stopped early (low step) with misleading values are ignored once enough trials
    were measured at the top step."""
    rng = np.random.default_rng(0)
    trials = []
    for n in range(12):
        config = PLANE.sample(rng)
        top = n % 2 == 0
        value = quadratic(config) if top else -10.0 - n  # low-step values that lie
        trials.append(Trial(number=n, status=TrialStatus.STOPPED if not top else
                            TrialStatus.COMPLETE, config=config, value=value,
                            system_attrs={"step": 9 if top else 1}))
    searcher = GPSearcher(seed=0, n_startup=4)
    config = searcher.suggest(PLANE, trials, 12)
    assert quadratic(config) < 0.5


def test_spec_and_argument_validation():
    searcher = GPSearcher(seed=3, n_startup=7)
    assert searcher.spec() == {"name": "gp", "seed": 3, "n_startup": 7}
    assert make_searcher(searcher.spec()).spec() == searcher.spec()
    for bad in (0, -1, 2.5, True, "10"):
        with pytest.raises(InvalidArgumentError, match="n_startup"):
            GPSearcher(seed=0, n_startup=bad)  # type: ignore[arg-type]


def test_log_marginal_likelihood_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    n = 25
    z = rng.random((n, 3))
    z[:, 2] = rng.integers(-1, 3, n)  # a categorical column (-1: inactive)
    cat = np.array([False, False, True])
    y = rng.normal(size=n)
    pairs = gpm.Pairs(z, cat)
    theta = np.array([math.log(0.3), math.log(0.8), math.log(1.2), 0.2, math.log(0.05)])
    _, grad = gpm.neg_log_posterior(theta, pairs, y)
    numeric = approx_fprime(theta, lambda t: gpm.neg_log_posterior(t, pairs, y)[0], 1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-4)


def test_posterior_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    z = rng.random((15, 2))
    theta = np.array([math.log(0.4), math.log(0.6), 0.0, math.log(1e-4)])
    gp = gpm.GP(z, rng.normal(size=15), theta, np.zeros(2, bool), np.zeros(2, int))
    at = rng.random((3, 2))
    _, _, dmean, dvar = gp.predict_grad(at)
    eps = 1e-6
    for j in range(2):
        step = np.zeros(2)
        step[j] = eps
        (m1, v1), (m0, v0) = gp.predict(at + step), gp.predict(at - step)
        np.testing.assert_allclose((m1 - m0) / (2 * eps), dmean[:, j], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose((v1 - v0) / (2 * eps), dvar[:, j], rtol=1e-5, atol=1e-6)


def test_log_ei_matches_naive_ei_and_stays_finite_where_it_underflows():
    z = np.linspace(-25.0, 6.0, 200)
    naive = norm.pdf(z) + z * norm.cdf(z)
    ok = naive > 1e-300
    np.testing.assert_allclose(gpm.log_h(z[ok]), np.log(naive[ok]), rtol=1e-9, atol=1e-12)
    far = np.array([-40.0, -1e3, -1e6, -1e9])
    assert (norm.pdf(far) + far * norm.cdf(far) == 0).all()  # naive EI underflows
    values = gpm.log_h(far)
    assert np.isfinite(values).all() and (np.diff(values) < 0).all()
    # log EI = log sigma + log h((best - mean) / sigma), with its mean/variance derivatives
    mean, var = np.array([0.3, 5.0]), np.array([0.04, 0.01])
    value, d_mean, d_var = gpm.log_ei(mean, var, 0.0)
    np.testing.assert_allclose(value, np.log(np.sqrt(var)) + gpm.log_h(-mean / np.sqrt(var)))
    e = 1e-7
    np.testing.assert_allclose(
        (gpm.log_ei(mean + e, var, 0.0)[0] - gpm.log_ei(mean - e, var, 0.0)[0]) / (2 * e),
        d_mean, rtol=1e-5)
    np.testing.assert_allclose(
        (gpm.log_ei(mean, var + e * 1e-2, 0.0)[0] - gpm.log_ei(mean, var - e * 1e-2, 0.0)[0])
        / (2 * e * 1e-2), d_var, rtol=1e-5)


def test_the_minimum_is_resolved_when_the_losses_span_a_wide_range():
    """Outputs are standardised over the whole history, so a wide loss range must not hide the
    last digits of the minimum behind the noise floor (Branin: range ~300, minimum ~0.4)."""
    line = Space(x=Float(-5.0, 5.0))

    def bowl(c: dict[str, Any]) -> float:
        return 300.0 * (c["x"] - 0.37) ** 2

    trials = drive(GPSearcher(seed=0, n_startup=5), line, bowl, 30)
    assert min(t.value for t in trials) < 3e-5  # 6e-6; 7e-5 with the former floor of 1e-6


def test_hyperparameters_are_refitted_on_a_prefix_and_reused_in_between(monkeypatch):
    from tunelab.searchers import gp as gp_module

    space = Space(x=Float(-2, 2), y=Float(-2, 2))
    rng = np.random.default_rng(5)
    history = []
    for i in range(47):
        c = space.sample(rng)
        history.append(Trial(i, TrialStatus.COMPLETE, c, value=c["x"] ** 2 + abs(c["y"])))
    fits: list[int] = []
    real_fit = gp_module.fit_theta

    def counting_fit(z, *args, **kwargs):
        fits.append(len(z))
        return real_fit(z, *args, **kwargs)

    monkeypatch.setattr(gp_module, "fit_theta", counting_fit)
    along = GPSearcher(seed=2)
    proposals = [along.suggest(space, history[:n], n) for n in (44, 45, 46, 47)]
    # 44 and 45 trials share the fit on the first 44; 46 and 47 the one on the first 46
    assert fits == [44, 46]
    assert [gp_module.refit_size(n) for n in (44, 45, 46, 47)] == [44, 44, 46, 46]
    # a fresh searcher (a resumed study) proposes exactly what the running one did
    fresh = GPSearcher(seed=2)
    assert fresh.suggest(space, history[:45], 45) == proposals[1]
    assert fits[-1] == 44

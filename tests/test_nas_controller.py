"""The REINFORCE controller: a searcher whose policy gradient learns a toy reward."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch  # noqa: F401 - no importorskip: without the [torch] extra this must fail, not skip

from tunelab import (
    ASHA,
    Categorical,
    Float,
    InvalidArgumentError,
    Space,
    Study,
    Trial,
    TrialStatus,
)
from tunelab.nas import ReinforceController, nasbench201_space
from tunelab.nas._controller import _Policy, _softmax
from tunelab.searchers import make_searcher


def _run(space: Space, reward, n: int, ctl: ReinforceController) -> list[Trial]:
    history: list[Trial] = []
    for number in range(n):
        config = ctl.suggest(space, history, number)
        history.append(Trial(number, TrialStatus.COMPLETE, config, value=reward(config)))
    return history


def test_policy_gradient_step_matches_the_log_likelihood_gradient() -> None:
    """One update equals lr * A * d log p(a) / d logits (checked numerically)."""
    space = Space(a=Categorical(["x", "y", "z"]), b=Categorical(["u", "v"]))
    ctl = ReinforceController(lr=0.5, entropy_weight=0.0, normalize=False, seed=0)
    policy = _Policy.uniform([3, 2])
    policy.bias[0] = np.array([0.1, -0.2, 0.3])
    policy.bias[1] = np.array([0.0, 0.4])
    policy.table[1] = np.array([[0.2, -0.1], [0.0, 0.0], [0.5, 0.5]])
    policy.baseline = 1.0

    def logp(bias0: np.ndarray, bias1: np.ndarray, row: np.ndarray) -> float:
        return math.log(_softmax(bias0)[2]) + math.log(_softmax(bias1 + row)[1])

    eps = 1e-6
    grad0 = np.array([(logp(policy.bias[0] + eps * e, policy.bias[1], policy.table[1][2])
                       - logp(policy.bias[0] - eps * e, policy.bias[1], policy.table[1][2]))
                      / (2 * eps) for e in np.eye(3)])
    before = policy.bias[0].copy()
    ctl._update(policy, [2, 1], reward=3.0)  # advantage 3 - 1 = 2
    assert np.allclose(policy.bias[0] - before, 0.5 * 2.0 * grad0, atol=1e-6)
    assert policy.baseline == pytest.approx(0.9 * 1.0 + 0.1 * 3.0)
    del space


def test_controller_learns_a_toy_reward_better_than_uniform() -> None:
    space = Space({f"t{i}": Categorical(["a", "b", "c", "d"]) for i in range(5)})

    def reward(config: dict) -> float:  # +1 per token equal to the target sequence
        return float(sum(config[f"t{i}"] == "abcda"[i] for i in range(5)))

    ctl = ReinforceController(lr=0.2, seed=1)
    ctl.setup("value", "max")
    history = _run(space, reward, 200, ctl)
    probs = ctl.probabilities(space, history)
    target = [probs[i]["abcd".index("abcda"[i])] for i in range(5)]
    assert min(target) > 0.5  # uniform is 0.25
    late = np.mean([t.value for t in history[-50:]])
    early = np.mean([t.value for t in history[:50]])
    assert late > early + 1.0


def test_minimisation_and_entropy_bonus() -> None:
    space = Space(x=Categorical(["a", "b", "c"]))
    loss = {"a": 0.0, "b": 1.0, "c": 1.0}
    ctl = ReinforceController(lr=0.3, seed=0)  # direction min by default
    history = _run(space, lambda c: loss[c["x"]], 60, ctl)
    assert ctl.probabilities(space, history)[0][0] > 0.5
    strong = ReinforceController(lr=0.3, entropy_weight=5.0, seed=0)
    p = strong.probabilities(space, history)[0]
    assert p.max() < ctl.probabilities(space, history)[0].max()  # entropy keeps it flatter


def test_state_is_a_function_of_history_and_seed() -> None:
    space = nasbench201_space()
    a, b = ReinforceController(seed=4), ReinforceController(seed=4)
    history = _run(space, lambda c: float(sum(v == "nor_conv_3x3" for v in c.values())), 30,
                   a)
    shuffled = list(reversed(history))  # order of the history does not matter
    assert b.suggest(space, shuffled, 30) == a.suggest(space, history, 30)
    # a fresh instance after the incremental one gives the same probabilities
    assert all(np.allclose(p, q) for p, q in zip(ReinforceController(seed=4).probabilities(
        space, history), a.probabilities(space, history), strict=True))


def test_runs_in_a_study_under_asha_and_resumes_by_name(tmp_path) -> None:
    space = nasbench201_space()
    store = f"sqlite:///{tmp_path / 'rl.db'}"

    def objective(trial) -> None:
        score = sum(v == "nor_conv_3x3" for v in trial.values())
        for epoch in range(1, trial.resource + 1):
            trial.report(epoch, acc=score * (1 - 0.5 / epoch))
            if trial.should_stop:
                return

    study = Study("rl", space, metric="acc", direction="max", store=store,
                  searcher=ReinforceController(seed=0), scheduler=ASHA(1, 9, 3),
                  capture_environment=False)
    study.optimize(objective, n_trials=20)
    assert {t.status for t in study.trials} >= {TrialStatus.COMPLETE}
    resumed = Study("rl", store=store, capture_environment=False)
    assert isinstance(resumed.searcher, ReinforceController)
    assert make_searcher({"name": "reinforce", "lr": 0.2}).spec()["lr"] == 0.2


def test_numeric_parameters_are_binned_and_bad_arguments_rejected() -> None:
    space = Space(lr=Float(1e-4, 1e-1, log=True), kind=Categorical(["a", "b"]))
    config = ReinforceController(bins=4, seed=0).suggest(space, [], 0)
    assert space.validate(config) == config
    with pytest.raises(InvalidArgumentError, match="`lr` must be a number > 0; got 0"):
        ReinforceController(lr=0)
    with pytest.raises(InvalidArgumentError, match="`baseline_decay`"):
        ReinforceController(baseline_decay=1.0)


def test_passes_the_searcher_conformance_suite(tmp_path) -> None:
    """Registered as "reinforce", the controller meets the contract every searcher does
    (a conditional space, determinism, resuming from history, spec, a resumed study)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("test_conformance.py")
    spec = importlib.util.spec_from_file_location("conformance_suite", path)
    assert spec is not None and spec.loader is not None
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    called = []
    for name in dir(suite):
        if name.startswith("test_searcher_"):
            called.append(name)
            test = getattr(suite, name)
            args = ("reinforce", tmp_path / name) if "tmp_path" in test.__code__.co_varnames \
                else ("reinforce",)
            (tmp_path / name).mkdir()
            test(*args)
    assert len(called) >= 5, called

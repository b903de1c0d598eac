"""DARTS: the finite-difference Hessian-vector product, a CI-sized search on digits, the
derived cell, the skip-connection guard and reporting to a study."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tunelab import Categorical, InvalidArgumentError, Space, Study
from tunelab.nas import (
    DARTS,
    CellNetwork,
    CellSpace,
    Genotype,
    SuperNet,
    derive,
    hvp_autograd,
    hvp_finite_difference,
    train_network,
)

torch.set_num_threads(1)
OPS = ("none", "skip_connect", "conv_3x3", "sep_conv_3x3", "max_pool_3x3", "avg_pool_3x3")


@pytest.fixture(scope="module")
def digits() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(data.target)
    order = np.random.default_rng(0).permutation(len(y))
    tr, va = order[:800], order[800:1200]
    return (x[tr], y[tr]), (x[va], y[va])


def check_valid(space: CellSpace, genotype: Genotype, per_node: int = 2) -> None:
    assert space.config_of(genotype) == space.validate(space.config_of(genotype))
    for node in range(1, space.nodes + 1):
        inputs = genotype.inputs(node)
        assert 1 <= len(inputs) <= min(per_node, node)
        assert all(src < node and op in space.ops and op != "none" for src, op in inputs)


def test_finite_difference_hvp_matches_autograd() -> None:
    torch.manual_seed(0)
    space = CellSpace(2, ("none", "skip_connect", "conv_3x3", "avg_pool_3x3"))
    net = SuperNet(space, in_channels=1, num_classes=3, channels=3, stages=1).double()
    with torch.no_grad():
        net.alpha.normal_()
    x = torch.randn(8, 1, 5, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (8,))

    def loss() -> torch.Tensor:
        return torch.nn.functional.cross_entropy(net(x), y)

    weights, alphas = net.weights(), net.arch_parameters()
    v = [torch.randn_like(p) for p in weights]
    exact = hvp_autograd(loss, weights, alphas, v)[0]
    before = [p.detach().clone() for p in weights]
    approx = hvp_finite_difference(loss, weights, alphas, v, r=1e-4)[0]
    assert float(exact.abs().max()) > 1e-3  # a real signal, not two zeros
    assert torch.allclose(approx, exact, rtol=1e-5, atol=1e-7)
    smaller = hvp_finite_difference(loss, weights, alphas, v, r=1e-5)[0]
    assert float((smaller - exact).norm() / exact.norm()) < 1e-6
    assert all(torch.equal(p, b) for p, b in zip(weights, before, strict=True))  # restored


def test_darts_search_on_digits_yields_a_valid_cell_that_trains(digits) -> None:
    train, val = digits
    space = CellSpace(3, OPS)
    darts = DARTS(epochs=4, channels=8, stages=1, batch_size=32, w_lr=0.1, alpha_lr=0.01,
                  seed=0)
    result = darts.search(space, train, val)
    check_valid(space, result.genotype)
    assert result.config == space.config_of(result.genotype)
    assert len(result.history) == result.epochs == 4 and not result.stopped_early
    # the supernet learns, and the architecture weights moved away from uniform
    assert result.history[-1]["val_accuracy"] > 0.5
    probs = torch.softmax(torch.tensor(result.alpha), dim=-1)
    assert float(probs.max()) > 2 / len(OPS)
    net = CellNetwork(result.genotype, in_channels=1, num_classes=10, channels=8, stages=1)
    assert train_network(net, train, val, epochs=3, lr=0.1, seed=0).val_accuracy > 0.3


def test_second_order_search_runs(digits) -> None:
    train, val = digits
    space = CellSpace(2, OPS)
    small = (train[0][:128], train[1][:128]), (val[0][:128], val[1][:128])
    result = DARTS(epochs=1, order=2, channels=4, stages=1, seed=0).search(space, *small)
    check_valid(space, result.genotype)
    first = DARTS(epochs=1, order=1, channels=4, stages=1, seed=0).search(space, *small)
    assert result.alpha != first.alpha  # the unrolled gradient differs


class SkipHappyDARTS(DARTS):
    """Starts with architecture logits that favour skip connections everywhere."""

    def supernet(self, space: CellSpace, in_channels: int, num_classes: int) -> SuperNet:
        net = super().supernet(space, in_channels, num_classes)
        with torch.no_grad():
            net.alpha[:, space.ops.index("skip_connect")] = 5.0
        return net


def test_skip_guard_stops_or_caps(digits) -> None:
    train, val = digits
    data = (train[0][:128], train[1][:128]), (val[0][:64], val[1][:64])
    space = CellSpace(3, OPS)
    kwargs = dict(epochs=4, channels=4, stages=1, alpha_lr=1e-4, seed=0, max_skips=1)
    stopped = SkipHappyDARTS(guard="stop", **kwargs).search(space, *data)
    assert stopped.stopped_early and stopped.epochs == 1
    assert stopped.genotype.count("skip_connect") <= 1
    check_valid(space, stopped.genotype)
    capped = SkipHappyDARTS(guard="cap", **kwargs).search(space, *data)
    assert not capped.stopped_early and capped.epochs == 4
    assert capped.genotype.count("skip_connect") == 1
    free = SkipHappyDARTS(max_skips=None, **{k: v for k, v in kwargs.items()
                                             if k != "max_skips"}).search(space, *data)
    assert free.genotype.count("skip_connect") == 5  # what the guard prevents
    with pytest.raises(InvalidArgumentError, match="`guard` must be one of"):
        DARTS(guard="never")
    with pytest.raises(InvalidArgumentError, match="`order` must be 1 or 2; got 3"):
        DARTS(order=3)


def test_each_search_epoch_is_reported_to_a_study_trial(digits, tmp_path) -> None:
    train, val = digits
    data = (train[0][:128], train[1][:128]), (val[0][:64], val[1][:64])
    space = CellSpace(2, OPS)
    study = Study("darts", Space(order=Categorical([1, 2])), metric="val_accuracy",
                  direction="max", store=f"sqlite:///{tmp_path / 's.db'}",
                  capture_environment=False)
    trial = study.ask({"order": 1})
    result = DARTS(epochs=3, order=trial["order"], channels=4, stages=1, seed=0).search(
        space, *data, trial=trial)
    done = study.tell(trial)
    assert [r.step for r in study.trial(done.number).reports] == [1, 2, 3]
    assert {"val_accuracy", "skip_count", "alpha_entropy"} <= set(done.metrics)
    saved = json.loads((study.trial_dir(done.number) / "derived_cell.json").read_text())
    assert saved["config"] == result.config


def test_derive_keeps_all_edges_for_nasbench201_style_cells() -> None:
    from tunelab.nas import nasbench201_space

    space = nasbench201_space()
    alpha = torch.zeros(6, 5)
    alpha[:, 0] = 9.0  # "none" strongest everywhere: still a real op per edge
    alpha[:, 3] = 1.0
    g = derive(space, alpha, inputs_per_node=None)
    assert len(g.edges) == 6 and g.count("nor_conv_3x3") == 6

"""Compound scaling: the coefficients meet alpha * beta^2 * gamma^2 = 2, FLOPs follow."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from tunelab import InvalidArgumentError
from tunelab.nas import (
    Coefficients,
    CompoundScaling,
    count_flops,
    count_params,
    search_coefficients,
    train_network,
)

torch.set_num_threads(1)


def test_every_point_of_the_space_meets_the_constraint() -> None:
    space = CompoundScaling.space()
    for config in [*space.grid(5), *(space.sample(seed=s) for s in range(50))]:
        c = CompoundScaling.coefficients(config)
        assert c.alpha * c.beta**2 * c.gamma**2 == pytest.approx(2.0, rel=1e-12)
        assert min(c.alpha, c.beta, c.gamma) >= 1.0
    with pytest.raises(InvalidArgumentError, match="`depth_share` must be a number in"):
        Coefficients.from_shares(1.5, 0.0)


def test_flops_grow_about_two_fold_per_step() -> None:
    scaling = CompoundScaling(base_depths=(2, 2, 2), base_width=16, base_resolution=32)
    for shares in itertools.product((0.0, 0.5, 1.0), (0.0, 0.5, 1.0)):
        c = Coefficients.from_shares(*shares)
        flops = [count_flops(scaling.build(c, phi), (1, 32, 32)) for phi in (0, 1, 2, 3)]
        ratios = np.array(flops[1:]) / np.array(flops[:-1])
        # rounding depth up, width and resolution to integers: near 2, never wild
        assert np.all((ratios > 1.4) & (ratios < 3.2)), (shares, ratios)
        assert abs(np.log2(flops[3] / flops[0]) - 3) < 0.8, (shares, flops)
    wide = scaling.build(Coefficients.from_shares(0.0, 1.0), 2)
    deep = scaling.build(Coefficients.from_shares(1.0, 0.0), 2)
    assert wide.dims.width > deep.dims.width and deep.dims.depths > wide.dims.depths
    assert count_params(wide) > count_params(scaling.build(Coefficients(1, 1, 1), 2))


def test_search_at_phi_one_then_scale_up() -> None:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(data.target)
    train, val = (x[:400], y[:400]), (x[400:700], y[400:700])
    scaling = CompoundScaling(base_depths=(1, 1), base_width=4, base_resolution=8)

    def objective(net: torch.nn.Module) -> float:
        torch.manual_seed(0)
        return train_network(net, train, val, epochs=1, lr=0.1, seed=0).val_accuracy

    best, study = search_coefficients(scaling, objective, n_trials=3, seed=0)
    assert best.flops_factor == pytest.approx(2.0)
    trial = study.best_trial
    assert {"alpha", "beta", "gamma", "flops", "params"} <= set(trial.metrics)
    base = count_flops(scaling.build(best, 0), (1, 8, 8))
    assert trial.metrics["flops"] == count_flops(scaling.build(best, 1), (1, 8, 8)) > base
    dims = [scaling.dims(best, phi) for phi in (1, 2, 3)]
    assert all(a.width <= b.width and a.resolution <= b.resolution
               for a, b in itertools.pairwise(dims))
